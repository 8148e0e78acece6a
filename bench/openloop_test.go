package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLatency runs the fixed-rate generator against real loopback servers.
// It asserts counts, never timings: the machine may be busy.
func TestLatency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		wantOK  bool
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Gravitee-Api-Key") != "k" {
				http.Error(w, "no key", http.StatusUnauthorized)
				return
			}
			io.WriteString(w, Body)
		}, true},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			io.WriteString(w, Body)
		}, true},
		{"closes every connection", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, Body)
		}, true},
		{"errors", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusBadGateway)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				tc.handler(w, r)
			}))
			t.Cleanup(srv.Close)
			o := LatencyOptions{Addr: strings.TrimPrefix(srv.URL, "http://"), Path: "/x", Header: "X-Gravitee-Api-Key: k",
				Rate: 1000, Duration: 200 * time.Millisecond, Connections: 2}
			res, err := Latency(context.Background(), o)
			if tc.wantOK != (err == nil) {
				t.Fatalf("Latency error = %v, want ok %v", err, tc.wantOK)
			}
			if res.Sent+res.Missed != 200 {
				t.Errorf("sent %d + missed %d, want 200 scheduled", res.Sent, res.Missed)
			}
			if tc.wantOK && (res.Errors != 0 || res.P50 <= 0 || res.P99 < res.P50) {
				t.Errorf("result %+v, want no errors and 0 < p50 <= p99", res)
			}
			if !tc.wantOK && res.Errors != res.Sent {
				t.Errorf("%d errors of %d sent, want all", res.Errors, res.Sent)
			}
			if served.Load() != res.Sent {
				t.Errorf("server saw %d requests, generator sent %d", served.Load(), res.Sent)
			}
		})
	}
}

func TestLatencyRefusesBadOptions(t *testing.T) {
	for _, o := range []LatencyOptions{{Rate: 0, Duration: time.Second}, {Rate: 10}} {
		if _, err := Latency(context.Background(), o); err == nil {
			t.Errorf("Latency(%+v) accepted", o)
		}
	}
}
