package controlplane

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalDirectory(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// A later mtime even on coarse clocks, so the poller sees the change.
		future := time.Now().Add(time.Duration(len(content)) * time.Millisecond)
		if err := os.Chtimes(p, future, future); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	write("a.json", string(apiJSON("a", "/a", backend.URL)))
	write("broken.json", `{"id": "broken",`)
	write("notes.txt", "not a definition")

	n := startRun(t, Options{DataDir: data, APIsDir: dir})
	n.waitStatus(t, "/a/x", http.StatusOK)
	s := n.sync(t)
	if s.Source != SourceLocal || !strings.Contains(s.LastError, "broken.json") {
		t.Fatalf("the refused file is not named: %+v", s)
	}

	t.Run("a new file is served", func(t *testing.T) {
		write("b.json", string(apiJSON("b", "/b", backend.URL)))
		n.waitStatus(t, "/b/x", http.StatusOK)
	})
	t.Run("a file turned bad keeps its last good version", func(t *testing.T) {
		write("b.json", `{"id":"b","name":"b","definitionVersion":"V4","type":"proxy","listeners":[]}`)
		eventually(t, 10*time.Second, func() string {
			if s := n.sync(t); !strings.Contains(s.LastError, "b.json") || !strings.Contains(s.LastError, "last good version") {
				return "not reported yet: " + s.LastError
			}
			return ""
		})
		n.waitStatus(t, "/b/x", http.StatusOK)
	})
	t.Run("a removed file is no longer served", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "a.json")); err != nil {
			t.Fatal(err)
		}
		n.waitStatus(t, "/a/x", http.StatusNotFound)
		n.waitStatus(t, "/b/x", http.StatusOK)
	})
	t.Run("api-key plans take their keys from subscriptions.json", func(t *testing.T) {
		keyed := strings.Replace(string(apiJSON("k", "/k", backend.URL)),
			`"plans":[{"id":"free","name":"Free","status":"PUBLISHED","security":{"type":"key-less"}}]`,
			`"plans":[{"id":"gold","name":"Gold","status":"PUBLISHED","security":{"type":"api-key"}}]`, 1)
		write("k.json", keyed)
		n.waitStatus(t, "/k/x", http.StatusUnauthorized)
		write(SubscriptionsFile, `[{"id":"s1","api":"k","plan":"gold","application":"shop","key":"key-123","status":"ACCEPTED"}]`)
		eventually(t, 10*time.Second, func() string {
			req, _ := http.NewRequest(http.MethodGet, "http://"+n.listen+"/k/x", nil)
			req.Header.Set("X-Gravitee-Api-Key", "key-123")
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				return err.Error()
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return resp.Status
			}
			return ""
		})
		write(SubscriptionsFile, `[{"id":"s1","api":"k"}]`)
		eventually(t, 10*time.Second, func() string {
			if s := n.sync(t); !strings.Contains(s.LastError, SubscriptionsFile) {
				return "not reported yet: " + s.LastError
			}
			return ""
		})
	})
	t.Run("an unreadable directory at start serves its last good snapshot", func(t *testing.T) {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		n := startRun(t, Options{DataDir: data, APIsDir: filepath.Join(dir, "not-mounted")})
		n.waitStatus(t, "/b/x", http.StatusOK)
		if s := n.sync(t); s.Source != SourceSnapshot || !strings.Contains(s.LastError, "not-mounted") {
			t.Fatalf("%+v", s)
		}
	})
}
