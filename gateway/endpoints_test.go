package gateway

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func groupWith(lb string, endpoints []any, extra map[string]any) []any {
	g := map[string]any{"name": "default", "type": "http-proxy", "loadBalancer": map[string]any{"type": lb}, "endpoints": endpoints}
	for k, v := range extra {
		g[k] = v
	}
	return []any{g}
}

func ep(name, target string, weight int, secondary bool) map[string]any {
	return map[string]any{"name": name, "type": "http-proxy", "weight": weight, "secondary": secondary, "configuration": map[string]any{"target": target}}
}

func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func TestLoadBalancers(t *testing.T) {
	cases := []struct {
		lb         string
		weights    [2]int
		wantA      int // of 40 requests; -1: only check both got some
		exactCount bool
	}{
		{"round-robin", [2]int{1, 1}, 20, true},
		{"weighted-round-robin", [2]int{3, 1}, 30, true},
		{"random", [2]int{1, 1}, -1, false},
		{"weighted-random", [2]int{3, 1}, -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.lb, func(t *testing.T) {
			a, b := newBackend(t, "a"), newBackend(t, "b")
			def := apiJSON("lb", "/lb", nil, map[string]any{"endpointGroups": groupWith(tc.lb,
				[]any{ep("a", a.URL, tc.weights[0], false), ep("b", b.URL, tc.weights[1], false)}, nil)})
			h := newHarness(t, nil, def)
			for range 40 {
				if status, _, _ := h.do(t, "GET", "/lb", nil); status != 200 {
					t.Fatalf("status %d", status)
				}
			}
			if tc.exactCount && a.count() != tc.wantA {
				t.Fatalf("a got %d of 40, want %d", a.count(), tc.wantA)
			}
			if a.count()+b.count() != 40 || a.count() == 0 || b.count() == 0 {
				t.Fatalf("a=%d b=%d", a.count(), b.count())
			}
		})
	}
}

func TestFailoverAndSecondary(t *testing.T) {
	live, backup := newBackend(t, "live"), newBackend(t, "backup")
	dead := deadURL(t)
	t.Run("retry idempotent on another endpoint", func(t *testing.T) {
		def := apiJSON("f", "/f", nil, map[string]any{
			"endpointGroups": groupWith("round-robin", []any{ep("dead", dead, 1, false), ep("live", live.URL, 1, false)}, nil),
			"failover":       map[string]any{"enabled": true, "maxRetries": 2, "maxFailures": 100},
		})
		h := newHarness(t, nil, def)
		for range 4 {
			if status, _, body := h.do(t, "GET", "/f", nil); status != 200 {
				t.Fatalf("GET: %d %s", status, body)
			}
		}
		failed := 0
		for range 4 {
			if status, _, _ := doReq(t, h.srv.Client(), "POST", h.srv.URL+"/f", nil, "x"); status == 502 {
				failed++
			}
		}
		if failed != 2 {
			t.Fatalf("POST with a body must not be retried: %d of 4 failed, want 2", failed)
		}
	})
	t.Run("secondary only when primaries are down", func(t *testing.T) {
		hc := map[string]any{"services": map[string]any{"healthCheck": map[string]any{"enabled": true, "type": "http-health-check",
			"configuration": map[string]any{"schedule": "100ms", "method": "GET", "target": "/", "failureThreshold": 1, "successThreshold": 1}}}}
		def := apiJSON("s", "/s", nil, map[string]any{
			"endpointGroups": groupWith("round-robin", []any{ep("dead", dead, 1, false), ep("backup", backup.URL, 1, true)}, hc)})
		h := newHarness(t, nil, def)
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, rh, _ := h.do(t, "GET", "/s", nil)
			if status == 200 && rh.Get("X-Backend") == "backup" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("never failed over to the secondary: last %d", status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestHealthCheckThresholds(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var probes atomic.Int64
	flaky := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			probes.Add(1)
			if !healthy.Load() {
				w.WriteHeader(500)
				return
			}
		}
		w.Header().Set("X-Backend", "flaky")
	})
	other := newBackend(t, "other")
	hc := map[string]any{"services": map[string]any{"healthCheck": map[string]any{"enabled": true,
		"configuration": map[string]any{"schedule": "*/1 * * * * *", "target": "/health", "assertion": "{#response.status == 200}",
			"failureThreshold": 2, "successThreshold": 2}}}}
	def := apiJSON("h", "/h", nil, map[string]any{"endpointGroups": groupWith("round-robin",
		[]any{ep("flaky", flaky, 1, false), ep("other", other.URL, 1, false)}, hc)})
	h := newHarness(t, nil, def)
	grp := h.g.Current().apis[0].defaultGroup
	flakyEP := grp.primary[0]
	healthy.Store(false)
	waitFor(t, 6*time.Second, "flaky marked down", func() bool { return flakyEP.down.Load() })
	if p := probes.Load(); p < 2 {
		t.Fatalf("marked down after %d probes, threshold is 2", p)
	}
	for range 4 {
		if _, rh, _ := h.do(t, "GET", "/h", nil); rh.Get("X-Backend") != "other" {
			t.Fatal("a down endpoint got traffic")
		}
	}
	healthy.Store(true)
	waitFor(t, 6*time.Second, "flaky back up", func() bool { return !flakyEP.down.Load() })
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBuildWeights(t *testing.T) {
	es := []*endpoint{{weight: 5}, {weight: 1}, {weight: 1}}
	w := buildWeights(es)
	if len(w) != 7 {
		t.Fatalf("schedule %v", w)
	}
	counts := map[int]int{}
	for _, i := range w {
		counts[i]++
	}
	if counts[0] != 5 || counts[1] != 1 || counts[2] != 1 {
		t.Fatalf("schedule %v", w)
	}
	if w[0] == w[1] && w[1] == w[2] && w[2] == w[3] && w[3] == w[4] {
		t.Fatalf("schedule not interleaved: %v", w)
	}
}

func TestFailoverSlowCallAndCircuitBreaker(t *testing.T) {
	fast := newBackend(t, "fast")
	slow := newSlowBackend(t, 3*time.Second)
	def := apiJSON("cb", "/cb", nil, map[string]any{
		"endpointGroups": groupWith("round-robin", []any{ep("slow", slow, 1, false), ep("fast", fast.URL, 1, false)}, nil),
		"failover":       map[string]any{"enabled": true, "maxRetries": 1, "slowCallDuration": 200, "maxFailures": 2, "openStateDuration": 60000},
	})
	h := newHarness(t, nil, def)
	for i := range 6 {
		start := time.Now()
		status, rh, _ := h.do(t, "GET", "/cb", nil)
		if status != 200 || rh.Get("X-Backend") != "fast" {
			t.Fatalf("request %d: %d from %q", i, status, rh.Get("X-Backend"))
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("request %d waited for the slow endpoint", i)
		}
	}
	slowEP := h.g.Current().apis[0].defaultGroup.primary[0]
	if slowEP.openUntil.Load() == 0 {
		t.Fatal("the circuit of the slow endpoint never opened")
	}
	// A POST is not retried: with the circuit open it goes to the fast one.
	if status, _, _ := doReq(t, h.srv.Client(), "POST", h.srv.URL+"/cb", nil, "x"); status != 200 {
		t.Fatalf("POST: %d", status)
	}
}
