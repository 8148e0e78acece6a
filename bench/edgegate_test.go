package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// TestGeneratedDefinitions writes each edgegate target's definitions and
// reads them back with the gateway's own strict parser.
func TestGeneratedDefinitions(t *testing.T) {
	for _, tc := range []struct {
		target   string
		apis     []*apidef.API
		path     string
		security string
		policy   string
	}{
		{Edgegate, keylessAPIs(&Target{Name: Edgegate}, "127.0.0.1:9"), "/bench", apidef.SecurityKeyless, ""},
		{Edgegate1000APIs, keylessAPIs(&Target{Name: Edgegate1000APIs}, "127.0.0.1:9"), "/api-0", apidef.SecurityKeyless, ""},
		{EdgegateAPIKey, []*apidef.API{APIKeyAPI("bench-apikey", "/bench", "127.0.0.1:9")}, "/bench", apidef.SecurityAPIKey, "rate-limit"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteAPIsDir(dir, tc.apis); err != nil {
				t.Fatal(err)
			}
			files, err := filepath.Glob(filepath.Join(dir, "*.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(tc.apis) {
				t.Fatalf("%d files, want %d", len(files), len(tc.apis))
			}
			b, err := os.ReadFile(filepath.Join(dir, tc.apis[0].ID+".json"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := apidef.Parse(b)
			if err != nil {
				t.Fatalf("the gateway's parser refuses a generated definition: %v", err)
			}
			if got := a.Listeners[0].Paths[0].Path; got != tc.path {
				t.Errorf("context path %q, want %q", got, tc.path)
			}
			if got := a.Plans[0].Security.Type; got != tc.security {
				t.Errorf("plan security %q, want %q", got, tc.security)
			}
			if tc.policy != "" && (len(a.Plans[0].Flows) != 1 || a.Plans[0].Flows[0].Request[0].Policy != tc.policy) {
				t.Errorf("plan flows %+v, want one %s step", a.Plans[0].Flows, tc.policy)
			}
		})
	}
}

func TestWriteAPIsDirRefusesInvalid(t *testing.T) {
	bad := KeylessAPI("bad", "/x", "127.0.0.1:9", false)
	bad.EndpointGroups = nil
	dir := t.TempDir()
	if err := WriteAPIsDir(dir, []*apidef.API{bad}); err == nil {
		t.Fatal("an invalid definition was written")
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("directory holds %d entries (%v) after a refused write", len(entries), err)
	}
}

func TestManyAPIs(t *testing.T) {
	tg := &Target{Name: Edgegate1000APIs}
	apis := keylessAPIs(tg, "127.0.0.1:9")
	if len(apis) != ManyAPIs {
		t.Fatalf("%d APIs, want %d", len(apis), ManyAPIs)
	}
	seen := map[string]bool{}
	for _, a := range apis {
		p := a.Listeners[0].Paths[0].Path
		if seen[p] {
			t.Fatalf("path %s used twice", p)
		}
		seen[p] = true
	}
	if want := "/api-" + strconv.Itoa(ManyAPIs/2) + "/"; tg.Path != want || !seen[want[:len(want)-1]] {
		t.Errorf("measured path %q, want %q and deployed", tg.Path, want)
	}
}
