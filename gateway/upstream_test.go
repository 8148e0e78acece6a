package gateway

import (
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTLSAndHTTP2Upstream(t *testing.T) {
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Proto)
	}))
	be.EnableHTTP2 = true
	be.StartTLS()
	t.Cleanup(be.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: be.Certificate().Raw}))
	cases := []struct {
		name   string
		shared map[string]any
		status int
		body   string
	}{
		{"trusted, HTTP/2", map[string]any{"http": map[string]any{"version": "HTTP_2"}, "ssl": map[string]any{"trustStore": map[string]any{"type": "PEM", "content": caPEM}}}, 200, "proto=HTTP/2.0"},
		{"trusted, HTTP/1.1", map[string]any{"ssl": map[string]any{"trustStore": map[string]any{"type": "PEM", "content": caPEM}}}, 200, "proto=HTTP/1.1"},
		{"trust all", map[string]any{"ssl": map[string]any{"trustAll": true}}, 200, "proto=HTTP/1.1"},
		{"untrusted certificate", nil, 502, "Bad Gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := apiJSON("tls", "/tls", []string{be.URL}, nil)
			if tc.shared != nil {
				def["endpointGroups"].([]any)[0].(map[string]any)["sharedConfiguration"] = tc.shared
			}
			h := newHarness(t, nil, def)
			status, _, body := h.do(t, "GET", "/tls", nil)
			if status != tc.status || body != tc.body {
				t.Fatalf("got %d %q", status, body)
			}
		})
	}
}

func TestBodyLimits(t *testing.T) {
	be := newBackend(t, "a")
	g, err := New(Options{Limits: Limits{MaxBodyBytes: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, apiJSON("api", "/api", []string{be.URL}, nil))}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	cases := []struct {
		name    string
		body    string
		chunked bool
		status  int
	}{
		{"at the limit", "12345678", false, 200},
		{"declared over the limit", "123456789", false, 413},
		{"chunked at the limit", "12345678", true, 200},
		{"chunked over the limit", strings.Repeat("x", 100), true, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			req, err := http.NewRequest("POST", srv.URL+"/api", rd)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body) // shown on failure
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
		})
	}
}

// panicPolicy is a deliberately broken policy.
type panicPolicy struct{}

func (panicPolicy) onRequest(*exchange) *failure { panic("broken policy") }

func TestPolicyPanicIsContained(t *testing.T) {
	be := newBackend(t, "a")
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil), apiJSON("ok", "/ok", []string{be.URL}, nil))
	rt := h.g.Current()
	rt.apis[0].flows = []*flow{{req: []requestPolicy{panicPolicy{}}}}
	req, err := http.NewRequest("GET", h.srv.URL+"/api", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := h.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a panicking request was answered %d; the connection should be reset", resp.StatusCode)
	}
	if status, _, _ := h.do(t, "GET", "/ok", nil); status != 200 {
		t.Fatalf("gateway stopped serving after a panic: %d", status)
	}
	recs := h.rec.waitN(t, 2)
	if recs[0].Status != 500 || recs[0].ErrorKey != "GATEWAY_INTERNAL_ERROR" {
		t.Fatalf("record of the panic: %+v", recs[0])
	}
}

func TestH1ClientSurvivesUpstreamIdleClose(t *testing.T) {
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	}))
	be.Config.IdleTimeout = 100 * time.Millisecond // closes idle keep-alive connections quickly
	be.Start()
	t.Cleanup(be.Close)
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	for i := range 3 {
		status, _, body := doReq(t, h.srv.Client(), "POST", h.srv.URL+"/api", nil, "payload")
		if status != 200 || body != "got payload" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
		time.Sleep(250 * time.Millisecond) // longer than the upstream's idle timeout: the setup, not an assertion
	}
}

func TestH1ClientKeepsConnections(t *testing.T) {
	var conns atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // read the body to keep the connection usable
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, "ok") // the client reads it
	}))
	be.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	for _, p := range []string{"/a", "/chunked", "/b", "/chunked"} {
		for _, m := range []string{"GET", "HEAD", "POST", "DELETE"} {
			status, _, _ := doReq(t, h.srv.Client(), m, h.srv.URL+"/api"+p, nil, "x")
			if status != 200 {
				t.Fatalf("%s %s: %d", m, p, status)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for sequential requests, want 1", n)
	}
}

func TestH2CUpstream(t *testing.T) {
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Proto)
	}))
	be.Config.Protocols = new(http.Protocols)
	be.Config.Protocols.SetHTTP1(true)
	be.Config.Protocols.SetUnencryptedHTTP2(true)
	be.Start()
	t.Cleanup(be.Close)
	def := apiJSON("h2c", "/h2c", []string{be.URL}, nil)
	def["endpointGroups"].([]any)[0].(map[string]any)["sharedConfiguration"] = map[string]any{"http": map[string]any{"version": "HTTP_2", "clearTextUpgrade": true}}
	h := newHarness(t, nil, def)
	if status, _, body := h.do(t, "GET", "/h2c", nil); status != 200 || body != "proto=HTTP/2.0" {
		t.Fatalf("got %d %q", status, body)
	}
}

func TestUpstreamHeaderLimit(t *testing.T) {
	huge := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("v", 30<<10))
		}
	})
	h := newHarness(t, nil, apiJSON("big", "/big", []string{huge}, nil), apiJSON("ok", "/ok", []string{newBackend(t, "a").URL}, nil))
	if status, _, _ := h.do(t, "GET", "/big", nil); status != 502 {
		t.Fatalf("a 1.2 MiB upstream header block: %d, want 502", status)
	}
	if status, _, _ := h.do(t, "GET", "/ok", nil); status != 200 {
		t.Fatalf("gateway after an oversized upstream answer: %d", status)
	}
}
