package server

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
)

func TestSyncFullThenDelta(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	id := g.deploy("acme", "prod", "", "/demo")

	status, full, _ := g.sync(token, "")
	if status != http.StatusOK || !full.Full || full.Revision != 2 || len(full.APIs) != 1 || full.Organization != "acme" || full.Environment != "prod" || full.ServerTime == 0 {
		t.Fatalf("first sync = %d %+v", status, full)
	}
	if a, err := apidef.Parse(full.APIs[0]); err != nil || a.ID != id {
		t.Fatalf("synced definition %v, %v", a, err)
	}

	var sub struct{ ID, Key string }
	g.mgmt("POST", "/orgs/acme/envs/prod/apis/"+id+"/subscriptions", map[string]string{"plan": "apikey", "application": "app"}, http.StatusCreated, &sub)
	g.mgmt("POST", "/orgs/acme/envs/prod/apis/"+id+"/undeploy", nil, http.StatusOK, nil)

	for _, tc := range []struct {
		name, query                     string
		wantStatus                      int
		wantFull                        bool
		wantAPIs, wantRemoved, wantSubs int
		wantRevision                    int64
	}{
		{"delta from 2", "?since=2", 200, false, 0, 1, 1, 4},
		{"delta from 3", "?since=3&wait=0", 200, false, 0, 1, 0, 4},
		{"nothing new, no wait", "?since=4", 204, false, 0, 0, 0, 0},
		{"full again", "?since=0", 200, true, 0, 0, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, r, body := g.sync(token, tc.query)
			if status != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", status, body, tc.wantStatus)
			}
			if r == nil {
				return
			}
			if r.Full != tc.wantFull || len(r.APIs) != tc.wantAPIs || len(r.RemovedAPIs) != tc.wantRemoved || len(r.Subscriptions) != tc.wantSubs || r.Revision != tc.wantRevision {
				t.Fatalf("sync%s = %s", tc.query, body)
			}
			if tc.wantSubs > 0 && r.Subscriptions[0].Key != sub.Key {
				t.Fatalf("subscription key %q, want %q", r.Subscriptions[0].Key, sub.Key)
			}
		})
	}
}

func TestSyncBadParams(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	for _, q := range []string{"?since=x", "?since=-1", "?wait=soon", "?wait=-3"} {
		t.Run(q, func(t *testing.T) {
			status, _, body := g.sync(token, q)
			var e wire.Error
			if status != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Message == "" {
				t.Fatalf("sync%s = %d %s, want 400 with a message", q, status, body)
			}
		})
	}
}

func TestSyncLongPollTimesOutWith204(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	g.deploy("acme", "prod", "", "/demo")
	start := time.Now()
	status, _, body := g.sync(token, "?since=2&wait=1")
	if status != http.StatusNoContent {
		t.Fatalf("status %d %s, want 204", status, body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("answered after %v; the poll was not held", d)
	}
}

// TestSyncLongPollWakesOnDeploy holds a long poll, deploys, and checks the
// poll answers with the deploy well before its wait ends.
func TestSyncLongPollWakesOnDeploy(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	g.deploy("acme", "prod", "first", "/first")
	latency := waitForDeploy(t, g, token, 2, "second", "/second")
	t.Logf("deploy → held /sync answered in %v", latency)
	if latency > time.Second {
		t.Fatalf("deploy reached the waiting gateway in %v, want < 1s", latency)
	}
}

// waitForDeploy starts a long poll at since, waits until the gate holds it,
// deploys api id at path and returns how long after the deploy call the poll
// answered.
func waitForDeploy(t testing.TB, g *gate, token string, since int64, id, path string) time.Duration {
	type result struct {
		status int
		r      *wire.SyncResponse
		at     time.Time
	}
	done := make(chan result, 1)
	go func() {
		status, r, _ := g.sync(token, "?since="+strconv.FormatInt(since, 10)+"&wait=20")
		done <- result{status, r, time.Now()}
	}()
	waitHeld(t, g, "acme", "prod")
	var imp struct{ ID string }
	g.mgmt("POST", "/orgs/acme/envs/prod/apis", apiJSON(id, path), http.StatusCreated, &imp)
	start := time.Now()
	g.mgmt("POST", "/orgs/acme/envs/prod/apis/"+imp.ID+"/deploy", nil, http.StatusOK, nil)
	select {
	case res := <-done:
		if res.status != http.StatusOK || res.r.Full || len(res.r.APIs) != 1 {
			t.Fatalf("woken poll = %d %+v", res.status, res.r)
		}
		return res.at.Sub(start)
	case <-time.After(15 * time.Second):
		t.Fatal("the held /sync never answered the deploy")
		return 0
	}
}

// waitHeld polls until a /sync long poll is held (n counts them).
func waitHeld(t testing.TB, g *gate, org, env string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.srv.waiting.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no /sync long poll is held on %s/%s", org, env)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkDeployToSync measures deploy → held /sync answered (the
// ns/op is that latency plus the deploy call itself).
func BenchmarkDeployToSync(b *testing.B) {
	g := startGate(b)
	token := g.provision("acme", "prod")
	g.deploy("acme", "prod", "first", "/first")
	var worst time.Duration
	for i := 0; b.Loop(); i++ {
		d := waitForDeploy(b, g, token, int64(i+2), "api-"+strconv.Itoa(i), "/p"+strconv.Itoa(i))
		worst = max(worst, d)
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}

func TestSyncWaitersBounded(t *testing.T) {
	g := startGate(t, func(o *Options) { o.MaxWaiters = 1 })
	token := g.provision("acme", "prod")
	done := make(chan int, 1)
	go func() {
		status, _, _ := g.sync(token, "?since=1&wait=20")
		done <- status
	}()
	waitHeld(t, g, "acme", "prod")
	if status, _, body := g.sync(token, "?since=1&wait=20"); status != http.StatusServiceUnavailable {
		t.Fatalf("second held poll = %d %s, want 503", status, body)
	}
	if status, _, body := g.sync(token, "?since=0&wait=20"); status != http.StatusOK {
		t.Fatalf("a poll with an answer = %d %s, want 200 (it never waits)", status, body)
	}
	g.deploy("acme", "prod", "a", "/a")
	if status := <-done; status != http.StatusOK {
		t.Fatalf("held poll = %d after a deploy", status)
	}
}

// TestShutdownEndsHeldPolls checks that stopping the gate answers a held
// long poll at once (204) instead of waiting for its end.
func TestShutdownEndsHeldPolls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Open(Options{DataDir: t.TempDir(), PublicURL: "https://" + ln.Addr().String(), ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	g := &gate{t: t, srv: srv, url: "https://" + ln.Addr().String(), admin: srv.PKI().AdminToken}
	pool := x509.NewCertPool()
	pool.AddCert(srv.PKI().CA)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	g.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	token := g.provision("acme", "prod")
	polled := make(chan int, 1)
	go func() {
		status, _, _ := g.sync(token, "?since=1&wait=50")
		polled <- status
	}()
	waitHeld(t, g, "acme", "prod")
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(ShutdownTimeout):
		t.Fatal("Serve did not return")
	}
	if status := <-polled; status != http.StatusNoContent {
		t.Fatalf("held poll = %d on shutdown, want 204", status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v with a held poll", d)
	}
}

func TestSyncGzipWhenLarge(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	for i := range 20 {
		g.deploy("acme", "prod", "api-"+strconv.Itoa(i), "/p"+strconv.Itoa(i))
	}
	for _, tc := range []struct {
		name, accept string
		wantGzip     bool
	}{{"gzip accepted", "gzip, br", true}, {"identity only", "", false}, {"gzip refused", "gzip;q=0", false}} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", g.url+"/sync", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept) // set by hand: the transport then does not decompress
			}
			resp, err := g.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var rd io.Reader = resp.Body
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.wantGzip {
				t.Fatalf("Content-Encoding %q, want gzip %v", resp.Header.Get("Content-Encoding"), tc.wantGzip)
			}
			if tc.wantGzip {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				rd = zr
			}
			var r wire.SyncResponse
			if err := json.NewDecoder(rd).Decode(&r); err != nil || len(r.APIs) != 20 {
				t.Fatalf("decoded %d APIs, %v", len(r.APIs), err)
			}
		})
	}
}

// TestNoGoroutineLeak runs a gate through syncs, a held poll, a report and
// shutdown, and checks every goroutine it started has ended.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("gate", func(t *testing.T) {
		g := startGate(t, func(o *Options) { o.AnalyticsRetention = time.Hour })
		token := g.provision("acme", "prod")
		g.deploy("acme", "prod", "a", "/a")
		g.sync(token, "")
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.sync(token, "?since=2&wait=30")
		}()
		waitHeld(t, g, "acme", "prod")
		g.report(token, map[string]string{"Content-Encoding": "gzip"}, gz(t, batchJSON(t, "b", 0, "r")))
		g.deploy("acme", "prod", "b", "/b")
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the gate stopped, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
