package console_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/cloudgate/console"
)

func serve(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func TestHandlerServesAssets(t *testing.T) {
	h := console.Handler()
	cases := []struct {
		path, status, contentType, contains string
	}{
		{"/console/", "200", "text/html", `<script type="module" src="js/app.js">`},
		{"/console/js/app.js", "200", "text/javascript", "hashchange"},
		{"/console/js/pages/wizard.js", "200", "text/javascript", "Generate Installation Details"},
		{"/console/style.css", "200", "text/css", "--brand"},
		{"/console/favicon.svg", "200", "image/svg+xml", "<svg"},
		{"/console/nope.js", "404", "", ""},
		{"/console/downloads/index.json", "200", "application/json", "[]"},
		{"/console/downloads/edgegate-amd64.img", "404", "", ""},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp := serve(t, h, c.path)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Status[:3]; got != c.status {
				t.Fatalf("status %s, want %s", resp.Status, c.status)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), c.contentType) {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), c.contentType)
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body does not contain %q", c.contains)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestRevalidationAnswers304(t *testing.T) {
	h := console.Handler()
	for _, path := range []string{"/console/", "/console/js/app.js", "/console/style.css"} {
		t.Run(path, func(t *testing.T) {
			first := serve(t, h, path)
			tag := first.Header.Get("ETag")
			if tag == "" {
				t.Fatal("no ETag")
			}
			mux := http.NewServeMux()
			mux.Handle(console.Prefix, h)
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("If-None-Match", tag)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotModified {
				t.Fatalf("revalidation with the ETag: %d, want 304", rec.Code)
			}
		})
	}
}

func TestDownloads(t *testing.T) {
	dir := t.TempDir()
	img := []byte("not really a disk image")
	if err := os.WriteFile(filepath.Join(dir, "edgegate-amd64.img"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(filepath.Dir(dir), "secret-next-to-downloads")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := console.New(&console.Options{DownloadsDir: dir})

	resp := serve(t, h, "/console/downloads/index.json")
	var list []console.Download
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "edgegate-amd64.img" || list[0].Size != int64(len(img)) {
		t.Fatalf("index.json = %+v, want only edgegate-amd64.img of %d bytes", list, len(img))
	}

	cases := []struct {
		path   string
		status int
	}{
		{"/console/downloads/edgegate-amd64.img", http.StatusOK},
		{"/console/downloads/.hidden", http.StatusNotFound},
		{"/console/downloads/sub", http.StatusNotFound},
		{"/console/downloads/..%2fsecret-next-to-downloads", http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp := serve(t, h, c.path)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if strings.Contains(string(body), "secret") {
				t.Fatal("served a file outside the downloads directory")
			}
			if c.status == http.StatusOK {
				if string(body) != string(img) {
					t.Errorf("body %q", body)
				}
				if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
					t.Errorf("Content-Disposition %q", cd)
				}
			}
		})
	}
}

// TestModuleImportsResolve checks that every relative import of every
// JavaScript module names an embedded file, so a renamed module cannot ship
// a console that fails to load.
func TestModuleImportsResolve(t *testing.T) {
	importRE := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"](\.[^'"]+)['"]`)
	root := "assets"
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range importRE.FindAllStringSubmatch(string(src), -1) {
			n++
			target := filepath.Join(filepath.Dir(path), m[1])
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s imports %s, which does not exist", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d imports; is the pattern still right?", n)
	}
}
