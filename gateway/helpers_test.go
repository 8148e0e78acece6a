package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/gateway/apidef"
)

// backend is a real loopback HTTP server that echoes what it got.
type backend struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	last *http.Request
	hits int
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.last, b.hits = r.Clone(r.Context()), b.hits+1
		b.mu.Unlock()
		w.Header().Set("X-Backend", name)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s body=%s", name, r.Method, r.URL.RequestURI(), body)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// apiJSON builds a v4 definition; extra is merged over the defaults.
func apiJSON(id, path string, targets []string, extra map[string]any) map[string]any {
	var eps []any
	for i, t := range targets {
		eps = append(eps, map[string]any{"name": fmt.Sprintf("e%d", i), "type": "http-proxy", "configuration": map[string]any{"target": t}})
	}
	def := map[string]any{
		"id": id, "name": "API " + id, "definitionVersion": "V4", "type": "proxy",
		"listeners": []any{map[string]any{"type": "http", "paths": []any{map[string]any{"path": path}},
			"entrypoints": []any{map[string]any{"type": "http-proxy"}}}},
		"endpointGroups": []any{map[string]any{"name": "default", "type": "http-proxy", "endpoints": eps}},
		"plans":          []any{map[string]any{"id": id + "-keyless", "name": "free", "status": "PUBLISHED", "security": map[string]any{"type": "key-less"}}},
	}
	for k, v := range extra {
		def[k] = v
	}
	return def
}

func parseAPI(t testing.TB, def map[string]any) *apidef.API {
	t.Helper()
	data, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	a, err := apidef.Parse(data)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return a
}

// memRecorder keeps records (a test double for the report queue).
type memRecorder struct {
	mu   sync.Mutex
	recs []*analytics.Record
}

func (m *memRecorder) Record(r *analytics.Record) {
	c := *r // Record must not keep r
	m.mu.Lock()
	m.recs = append(m.recs, &c)
	m.mu.Unlock()
}

func (m *memRecorder) all() []*analytics.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*analytics.Record(nil), m.recs...)
}

// lastN waits until at least n records arrived and returns them.
func (m *memRecorder) waitN(t *testing.T, n int) []*analytics.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r := m.all(); len(r) >= n {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("got %d records, want %d", len(m.all()), n)
	return nil
}

// harness is a gateway served on a real loopback listener.
type harness struct {
	g   *Gateway
	srv *httptest.Server
	rec *memRecorder
}

func newHarness(t *testing.T, subs []wire.Subscription, defs ...map[string]any) *harness {
	t.Helper()
	rec := &memRecorder{}
	g, err := New(Options{GatewayID: "gw-test", Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Revision: 1, Source: "local", Organization: "org", Environment: "env", Subscriptions: subs}
	for _, d := range defs {
		cfg.APIs = append(cfg.APIs, parseAPI(t, d))
	}
	if err := g.Apply(cfg); err != nil {
		t.Fatalf("apply: %v", err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	return &harness{g: g, srv: srv, rec: rec}
}

// do sends a request through the gateway and returns status, headers and body.
func (h *harness) do(t *testing.T, method, path string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	return doReq(t, h.srv.Client(), method, h.srv.URL+path, hdr, "")
}

func doReq(t *testing.T, c *http.Client, method, url string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// newBackendFunc serves f on a real loopback listener and returns its URL.
func newBackendFunc(t *testing.T, f http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func mustAPIs(t testing.TB, defs ...map[string]any) []*apidef.API {
	t.Helper()
	var out []*apidef.API
	for _, d := range defs {
		out = append(out, parseAPI(t, d))
	}
	return out
}
