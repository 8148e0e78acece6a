package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
)

// discardRecorder drops records as a bounded queue that is full would; it
// measures the cost of building them.
type discardRecorder struct{}

func (discardRecorder) Record(*analytics.Record) {}

// benchBackend answers 100 bytes, like the side-by-side benchmark.
func benchBackend(b *testing.B) string {
	body := make([]byte, 100)
	for i := range body {
		body[i] = 'x'
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body) // the client is the benchmark itself
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

func benchProxy(b *testing.B, subs []wire.Subscription, hdr http.Header, def map[string]any) {
	g, err := New(Options{Recorder: discardRecorder{}})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(b, def), Subscriptions: subs}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	url := srv.URL + "/bench/x"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest("GET", url, nil)
			if err != nil {
				b.Error(err)
				return
			}
			for k, v := range hdr {
				req.Header[k] = v
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body) // drained to reuse the connection
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkProxyKeyless(b *testing.B) {
	benchProxy(b, nil, nil, apiJSON("bench", "/bench", []string{benchBackend(b)}, nil))
}

func BenchmarkProxyAPIKeyRateLimit(b *testing.B) {
	def := apiKeyAPI("bench", "/bench", benchBackend(b))
	def["flows"] = []any{map[string]any{"request": []any{map[string]any{"policy": "rate-limit",
		"configuration": map[string]any{"rate": map[string]any{"limit": 1 << 40, "periodTime": 1, "periodTimeUnit": "SECONDS"}}}}}}
	subs := []wire.Subscription{{ID: "s", API: "bench", Plan: "bench-key", Application: "app", Key: "bench-key-1", Status: wire.SubAccepted}}
	benchProxy(b, subs, http.Header{apiKeyHeader: {"bench-key-1"}}, def)
}

// BenchmarkHandlerKeyless measures the pipeline alone (no client, no
// listener), with the upstream on loopback.
func BenchmarkHandlerKeyless(b *testing.B) {
	g, err := New(Options{Recorder: discardRecorder{}})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(b, apiJSON("bench", "/bench", []string{benchBackend(b)}, nil))}); err != nil {
		b.Fatal(err)
	}
	h := g.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/bench/x", nil)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}

// BenchmarkDirect is the baseline: the same client straight to the backend.
func BenchmarkDirect(b *testing.B) {
	url := benchBackend(b) + "/bench/x"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body) // drained to reuse the connection
			resp.Body.Close()
		}
	})
}
