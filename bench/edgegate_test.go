package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
	"github.com/edgegate/edgegate/gateway/controlplane"
)

// TestGeneratedConfig writes each edgegate target's apis directory and
// reads it back with the gateway's own strict parser.
func TestGeneratedConfig(t *testing.T) {
	for _, tc := range []struct {
		target   string
		apis     int
		subs     int
		path     string
		header   bool
		security string
		policy   string
	}{
		{Edgegate, 1, 0, "/bench/", false, apidef.SecurityKeyless, ""},
		{EdgegateAPIKey, 1, 1, "/bench/", true, apidef.SecurityAPIKey, "rate-limit"},
		{Edgegate1000APIs, ManyAPIs, 0, "/api-500/", false, apidef.SecurityKeyless, ""},
	} {
		t.Run(tc.target, func(t *testing.T) {
			tg := &Target{Name: tc.target, Path: "/bench/"}
			apis, subs := edgegateConfig(tg, "127.0.0.1:9")
			dir := t.TempDir()
			if err := WriteAPIsDir(dir, apis, subs); err != nil {
				t.Fatal(err)
			}
			if tg.Path != tc.path || (tg.Header != "") != tc.header {
				t.Errorf("path %q header %q; want %q, header %v", tg.Path, tg.Header, tc.path, tc.header)
			}
			files, err := filepath.Glob(filepath.Join(dir, "*.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != tc.apis+tc.subs {
				t.Fatalf("%d files, want %d", len(files), tc.apis+tc.subs)
			}
			b, err := os.ReadFile(filepath.Join(dir, apis[0].ID+".json"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := apidef.Parse(b)
			if err != nil {
				t.Fatalf("the gateway's parser refuses a generated definition: %v", err)
			}
			if got := a.Plans[0].Security.Type; got != tc.security {
				t.Errorf("plan security %q, want %q", got, tc.security)
			}
			if tc.policy != "" && (len(a.Plans[0].Flows) != 1 || a.Plans[0].Flows[0].Request[0].Policy != tc.policy) {
				t.Errorf("plan flows %+v, want one %s step", a.Plans[0].Flows, tc.policy)
			}
			if tc.subs > 0 {
				checkSubscriptions(t, dir, a, tg.Header)
			}
		})
	}
}

func checkSubscriptions(t *testing.T, dir string, a *apidef.API, header string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, controlplane.SubscriptionsFile))
	if err != nil {
		t.Fatal(err)
	}
	var subs []wire.Subscription
	if err := json.Unmarshal(b, &subs); err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].API != a.ID || subs[0].Plan != a.Plans[0].ID || subs[0].Status != wire.SubAccepted {
		t.Fatalf("subscriptions = %+v", subs)
	}
	if k, v, _ := cutHeader(header); k != "X-Gravitee-Api-Key" || v != subs[0].Key {
		t.Errorf("request header %q does not carry the subscription's key %q", header, subs[0].Key)
	}
}

func TestWriteAPIsDirRefusesInvalid(t *testing.T) {
	bad := KeylessAPI("bad", "/x", "127.0.0.1:9", false)
	bad.EndpointGroups = nil
	dir := t.TempDir()
	if err := WriteAPIsDir(dir, []*apidef.API{bad}, nil); err == nil {
		t.Fatal("an invalid definition was written")
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("directory holds %d entries (%v) after a refused write", len(entries), err)
	}
}

func TestManyAPIsDistinctPaths(t *testing.T) {
	apis, _ := edgegateConfig(&Target{Name: Edgegate1000APIs}, "127.0.0.1:9")
	seen := map[string]bool{}
	for _, a := range apis {
		p := a.Listeners[0].Paths[0].Path
		if seen[p] {
			t.Fatalf("path %s used twice", p)
		}
		seen[p] = true
	}
	if !seen["/api-"+strconv.Itoa(ManyAPIs/2)] {
		t.Error("the measured path is not deployed")
	}
}
