package controlplane

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/provisioning"
	"github.com/golang-jwt/jwt/v5"
)

// syncGate is an in-process gate for Run: /sync serves a full answer, then
// the deltas the test pushes; /reports acknowledges everything.
type syncGate struct {
	mu     sync.Mutex
	full   wire.SyncResponse
	deltas map[int64]wire.SyncResponse // by the revision they lead to
	rev    int64
}

func (g *syncGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/reports" {
		io.Copy(io.Discard, r.Body)
		json.NewEncoder(w).Encode(wire.ReportAck{})
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64) // absent means 0
	deadline := time.Now().Add(200 * time.Millisecond)
	for {
		g.mu.Lock()
		var sr *wire.SyncResponse
		if since == 0 {
			sr = &g.full
		} else if d, ok := g.deltas[since+1]; ok {
			sr = &d
		}
		g.mu.Unlock()
		if sr != nil {
			json.NewEncoder(w).Encode(sr)
			return
		}
		if time.Now().After(deadline) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// push adds a delta; the full answer is not updated (tests only need deltas
// to flow once the gateway is connected).
func (g *syncGate) push(d wire.SyncResponse) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deltas[d.Revision] = d
}

func apiJSON(id, path, target string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"name":%q,"apiVersion":"1","definitionVersion":"V4","type":"proxy",
		"listeners":[{"type":"http","paths":[{"path":%q}],"entrypoints":[{"type":"http-proxy"}]}],
		"endpointGroups":[{"name":"default","type":"http-proxy","endpoints":[{"name":"b","type":"http-proxy","configuration":{"target":%q}}]}],
		"plans":[{"id":"free","name":"Free","status":"PUBLISHED","security":{"type":"key-less"}}]}`, id, id, path, target))
}

// creds mints a token for gateURL pinned to ca and a license valid until exp.
func creds(t testing.TB, gateURL string, ca *testCA, licExp time.Time) (token, license string) {
	t.Helper()
	_, tokKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	licPub, licKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	token, err = provisioning.SignToken(provisioning.Claims{
		Issuer: "test", Audience: jwt.ClaimStrings{provisioning.Audience}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		ID: "jti", Org: "acme", Envs: []string{"prod"}, CPG: "local", TTK: "ttk",
		Gate: gateURL, GateCA: ca.pin(), GatewayID: "gw-test", LicenseKey: provisioning.EncodePublicKey(licPub),
	}, tokKey, "k1")
	if err != nil {
		t.Fatal(err)
	}
	license, err = provisioning.SignLicense(provisioning.License{ID: "lic", Org: "acme", Tier: "t", IssuedAt: now.Add(-time.Hour), ExpiresAt: licExp}, licKey, "l1")
	if err != nil {
		t.Fatal(err)
	}
	return token, license
}

// runNode runs Run in a goroutine; stop cancels it and returns its error.
type runNode struct {
	admin, listen string
	stop          func() error
}

func startRun(t *testing.T, opts Options) *runNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &runNode{listen: l.Addr().String()}
	adminc := make(chan string, 1)
	opts.HTTPListener, opts.AdminListen, opts.Listen = l, "127.0.0.1:0", ""
	opts.Ready = func(a string) { adminc <- a }
	opts.Logger = testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, opts) }()
	select {
	case n.admin = <-adminc:
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("Run did not start within 10 s")
	}
	var once sync.Once
	var runErr error
	n.stop = func() error {
		once.Do(func() { cancel(); runErr = <-errc })
		return runErr
	}
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return n
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (n *runNode) sync(t testing.TB) SyncStatus {
	t.Helper()
	_, body := get(t, "http://"+n.admin+"/_node/sync")
	var s SyncStatus
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/_node/sync: %v: %s", err, body)
	}
	return s
}

func (n *runNode) waitStatus(t testing.TB, path string, want int) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		if code, body := get(t, "http://"+n.listen+path); code != want {
			return fmt.Sprintf("GET %s: %d %q, want %d", path, code, body, want)
		}
		return ""
	})
}

func TestRunNotConfigured(t *testing.T) {
	ca := newTestCA(t, "ca")
	token, _ := creds(t, "https://127.0.0.1:1", ca, time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name          string
		opts          Options
		notConfigured bool
		msg           string
	}{
		{"nothing", Options{}, true, "--cloud-token-file"},
		{"token without license", Options{TokenText: token}, true, "no license"},
		{"malformed token", Options{TokenText: "abc", LicenseText: "x"}, false, "not a JWT"},
		{"environment not in token", Options{TokenText: token, LicenseText: "x", Environment: "dev"}, false, `environment "dev" is not in this token`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.DataDir = t.TempDir()
			tc.opts.AdminListen = "127.0.0.1:0"
			err := Run(context.Background(), tc.opts)
			if err == nil || errors.Is(err, ErrNotConfigured) != tc.notConfigured || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Run: %v; want an error containing %q (not configured: %v)", err, tc.msg, tc.notConfigured)
			}
		})
	}
}

func TestRunSyncsAndRestartsFromSnapshotWithKeptCredentials(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	ca := newTestCA(t, "gate CA")
	g := &syncGate{deltas: map[int64]wire.SyncResponse{}, rev: 1}
	g.full = wire.SyncResponse{Revision: 1, Full: true, Organization: "acme", Environment: "prod", APIs: []json.RawMessage{apiJSON("one", "/one", backend.URL)}}
	srv := tlsServer(t, ca, g)
	token, license := creds(t, srv.URL, ca, time.Now().Add(365*24*time.Hour))
	data := t.TempDir()

	baseline := runtime.NumGoroutine()
	n := startRun(t, Options{DataDir: data, TokenText: token, LicenseText: license})
	n.waitStatus(t, "/one/x", http.StatusOK)
	if s := n.sync(t); s.Source != SourceGate || s.Revision != 1 || !s.License.Valid {
		t.Fatalf("after the first sync: %+v", s)
	}

	g.push(wire.SyncResponse{Revision: 2, APIs: []json.RawMessage{apiJSON("two", "/two", backend.URL)}})
	n.waitStatus(t, "/two/x", http.StatusOK)
	n.waitStatus(t, "/one/x", http.StatusOK)

	g.push(wire.SyncResponse{Revision: 3, APIs: []json.RawMessage{apiJSON("bad", "/bad", "ftp://nope")}, RemovedAPIs: []string{"one"}})
	eventually(t, 10*time.Second, func() string {
		if s := n.sync(t); !strings.Contains(s.LastError, "configuration rejected") {
			return "no rejection recorded: " + s.LastError
		}
		return ""
	})
	if s := n.sync(t); s.Revision != 2 {
		t.Fatalf("serving revision %d after a bad payload, want 2", s.Revision)
	}
	n.waitStatus(t, "/one/x", http.StatusOK) // the bad delta's removal did not happen
	if err := n.stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
	// The data plane keeps idle upstream connections after Serve returns
	// (its own concern); close them from the backend's side so only the
	// control plane's goroutines are counted.
	backend.CloseClientConnections()
	eventually(t, 5*time.Second, func() string { // every goroutine Run started has ended
		if g := runtime.NumGoroutine(); g > baseline {
			buf := make([]byte, 1<<16)
			return fmt.Sprintf("%d goroutines after Run returned, %d before it started\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
		}
		return ""
	})

	srv.Close() // the gate is gone; start with no token or license given
	n2 := startRun(t, Options{DataDir: data})
	n2.waitStatus(t, "/two/x", http.StatusOK)
	s := n2.sync(t)
	if s.Source != SourceSnapshot || s.Revision != 2 || !s.License.Valid {
		t.Fatalf("restart offline: %+v", s)
	}
	if code, _ := get(t, "http://"+n2.admin+"/_node/ready"); code != http.StatusOK {
		t.Fatalf("/_node/ready: %d", code)
	}
}

func TestRunExpiredLicenseBlocksAPIsButNotTheNode(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	ca := newTestCA(t, "gate CA")
	g := &syncGate{deltas: map[int64]wire.SyncResponse{}}
	g.full = wire.SyncResponse{Revision: 1, Full: true, APIs: []json.RawMessage{apiJSON("one", "/one", backend.URL)}}
	srv := tlsServer(t, ca, g)
	token, license := creds(t, srv.URL, ca, time.Now().Add(-time.Minute))
	n := startRun(t, Options{DataDir: t.TempDir(), TokenText: token, LicenseText: license})
	eventually(t, 10*time.Second, func() string {
		if s := n.sync(t); s.Revision != 1 {
			return "not synced"
		}
		return ""
	})
	code, body := get(t, "http://"+n.listen+"/one/x")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "expired") {
		t.Fatalf("expired license: %d %q, want 503 saying it expired", code, body)
	}
	s := n.sync(t)
	if s.License.Valid || !strings.Contains(s.License.Error, "expired") {
		t.Fatalf("license status %+v", s.License)
	}
	for _, p := range []string{"/_node/health", "/_node/reports", "/_node/metrics"} {
		if code, _ := get(t, "http://"+n.admin+p); code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
	}
	_, metrics := get(t, "http://"+n.admin+"/_node/metrics")
	for _, m := range []string{"edgegate_license_valid 0", "edgegate_config_revision 1", `edgegate_sync_source{source="gate"} 1`, "edgegate_spool_records"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}
