//go:build linux

package e2e

// Offline-first tests (issue 3): the gateway keeps serving and keeps every
// committed analytics record whatever happens to the gate, the disk or the
// process. The faulty-gate, corrupt-state and benchmark cases use an
// in-process gate (fakeGate) because they need a gate that misbehaves on
// command; it speaks cloudgate/wire over real TLS on loopback. The others
// run the real cloudgate binary.

import (
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/persist"
	"github.com/edgegate/edgegate/provisioning"
	"github.com/golang-jwt/jwt/v5"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// nodeGet fetches a /_node endpoint of gw and decodes its JSON into v.
func (gw *gatewayProc) node(path string, v any) error {
	resp, err := gw.client.Get("http://" + gw.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// syncStatus is the part of /_node/sync the tests read.
type syncStatus struct {
	Source            string   `json:"source"`
	Revision          int64    `json:"revision"`
	LastError         string   `json:"lastError"`
	SnapshotRecovered string   `json:"snapshotRecovered"`
	Flags             []string `json:"flags"`
	SyncErrors        int64    `json:"syncErrors"`
}

// reportsStatus is the part of /_node/reports the tests read.
type reportsStatus struct {
	Records     int64 `json:"records"`
	Dropped     int64 `json:"dropped"`
	SpoolFailed int64 `json:"spoolFailed"`
	Requests    int64 `json:"requests"`
}

func (gw *gatewayProc) syncStatus(t testing.TB) syncStatus {
	t.Helper()
	var s syncStatus
	if err := gw.node("/_node/sync", &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// apiKeyDefinition writes a v4 definition at path with one API-key plan,
// "gold".
func apiKeyDefinition(t testing.TB, dir, id, path, target string) string {
	t.Helper()
	return planDefinition(t, dir, id, path, target, "gold", "api-key")
}

// TestRestartWhileOfflineServesSnapshot: synced gateway, gate stopped,
// gateway restarted without its provisioning files: it serves the deployed
// APIs, API-key plan included, from the snapshot.
func TestRestartWhileOfflineServesSnapshot(t *testing.T) {
	h := newHybrid(t)
	backend, _ := countingBackend(t)
	dir := t.TempDir()
	h.cli(t, "api", "import", apiDefinition(t, dir, "open", "/open", backend.URL))
	h.cli(t, "api", "deploy", "open")
	h.cli(t, "api", "import", apiKeyDefinition(t, dir, "keyed", "/keyed", backend.URL))
	h.cli(t, "api", "deploy", "keyed")
	key := h.cli(t, "key", "create", "--api", "keyed", "--plan", "gold")
	withKey := map[string]string{"X-Gravitee-Api-Key": key}
	eventually(t, 5*time.Second, "key accepted", func() error {
		if code, body := h.gw.do(t, http.MethodGet, "/keyed/x", withKey); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	h.waitStatus(t, "/open/x", http.StatusOK, 5*time.Second)

	if err := h.gate.stop(t); err != nil {
		t.Logf("gate stop: %v", err)
	}
	if err := h.gw.stop(t); err != nil {
		t.Fatalf("gateway did not exit 0 on SIGTERM: %v", err)
	}
	// No token or license given: the copies kept in the state are used, as
	// on an appliance whose provisioning stick was removed.
	started := time.Now()
	gw := startGateway(t, filepath.Join(filepath.Dir(h.creds), "gw"), "")
	gw.waitReady(t)
	t.Logf("restart → ready from the snapshot in %v (gate down)", time.Since(started))

	for _, tc := range []struct {
		name, path string
		hdr        map[string]string
		want       int
	}{
		{"keyless", "/open/x", nil, http.StatusOK},
		{"api key", "/keyed/x", withKey, http.StatusOK},
		{"missing key", "/keyed/x", nil, http.StatusUnauthorized},
		{"wrong key", "/keyed/x", map[string]string{"X-Gravitee-Api-Key": "nope"}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := gw.do(t, http.MethodGet, tc.path, tc.hdr); code != tc.want {
				t.Fatalf("%s: %d %q, want %d", tc.path, code, body, tc.want)
			}
		})
	}
	if s := gw.syncStatus(t); s.Source != "snapshot" {
		t.Fatalf("source %q, want snapshot", s.Source)
	}
}

// TestOutageWithTrafficCountsExactly: requests flow while the gate is down;
// when it returns, its count equals the requests served within 30 s.
func TestOutageWithTrafficCountsExactly(t *testing.T) {
	h := newHybrid(t)
	backend, _ := countingBackend(t)
	h.cli(t, "api", "import", apiDefinition(t, t.TempDir(), "shop", "/shop", backend.URL))
	h.cli(t, "api", "deploy", "shop")
	h.waitStatus(t, "/shop/x", http.StatusOK, 5*time.Second)
	for range 100 {
		if code, _ := h.do(t, "/shop/before"); code != http.StatusOK {
			t.Fatalf("before the outage: %d", code)
		}
	}
	if err := h.gate.stop(t); err != nil {
		t.Logf("gate stop: %v", err)
	}
	// Several seconds of traffic, so the uploader's backoff grows.
	during := 0
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); during++ {
		if code, _ := h.do(t, "/shop/during/"+strconv.Itoa(during)); code != http.StatusOK {
			t.Fatalf("during the outage, request %d: %d", during, code)
		}
		time.Sleep(2 * time.Millisecond)
	}
	var rs reportsStatus
	eventually(t, 5*time.Second, "records spooled during the outage", func() error {
		if err := h.gw.node("/_node/reports", &rs); err != nil {
			return err
		}
		if rs.Records == 0 {
			return errors.New("spool empty")
		}
		return nil
	})
	t.Logf("spooled during the outage: %d records", rs.Records)
	back := time.Now()
	h.gate = startGate(t, h.gate.dir, h.gate.addr)
	want := strconv.Itoa(h.sent)
	eventually(t, 30*time.Second, "gate count "+want, func() error {
		got, err := runErr("cloudgate", append([]string{"analytics", "count", "--org", h.org}, h.gate.cliFlags()...)...)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("count %s, want %s", got, want)
		}
		return nil
	})
	t.Logf("outage: %d requests served while the gate was down; gate count exact (%s) %v after it returned", during, want, time.Since(back).Round(time.Millisecond))
}

// Fake gate modes.
const (
	modeHealthy   = "healthy"
	modeBlackHole = "black hole" // holds every request until the mode changes
	modeSlow      = "slow"       // answers 500 after 3 s
	modeReset     = "reset"      // drops the connection mid-request
	mode500       = "500"
	modeGarbage   = "garbage" // 200 with random bytes
	modeInvalid   = "invalid" // 200 with a full configuration that does not validate
	modeRevoked   = "revoked" // 401 with a message
)

// fakeGate is an in-process Cloud Gate speaking cloudgate/wire over TLS on
// loopback, whose behaviour the test switches. It serves one keyless API at
// /fake, revision 1, and acknowledges every report, counting unique
// request ids.
type fakeGate struct {
	srv     *httptest.Server
	ca      *x509.Certificate
	backend string

	apis     int // extra APIs served at /fake-N (benchmarks)
	mode     atomic.Pointer[string]
	released chan struct{} // closed when leaving black-hole mode
	mu       sync.Mutex
	hits     map[string]int
	records  map[string]bool
}

func newFakeGate(t testing.TB, backend string) *fakeGate {
	t.Helper()
	g := &fakeGate{backend: backend, hits: map[string]int{}, records: map[string]bool{}, released: make(chan struct{})}
	g.setMode(modeHealthy)
	caCert, leaf := testPKI(t)
	g.ca = caCert
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	g.srv.StartTLS()
	t.Cleanup(func() {
		g.setMode(modeHealthy) // release held requests
		g.srv.CloseClientConnections()
		g.srv.Close()
	})
	return g
}

func (g *fakeGate) setMode(m string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old := g.mode.Load(); old != nil && *old == modeBlackHole && m != modeBlackHole {
		close(g.released)
		g.released = make(chan struct{})
	}
	g.mode.Store(&m)
}

func (g *fakeGate) hit(mode string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[mode]
}

func (g *fakeGate) recordCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.records)
}

func (g *fakeGate) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	m := *g.mode.Load()
	if r.URL.Path == "/sync" {
		g.hits[m]++
	}
	released := g.released
	g.mu.Unlock()
	switch m {
	case modeBlackHole:
		select {
		case <-released:
		case <-r.Context().Done():
		}
		panic(http.ErrAbortHandler)
	case modeSlow:
		time.Sleep(3 * time.Second)
		http.Error(w, "slow and failing", http.StatusInternalServerError)
	case modeReset:
		panic(http.ErrAbortHandler)
	case mode500:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"message":"internal error"}`)
	case modeGarbage:
		b := make([]byte, 512)
		rand.Read(b)
		w.Write(b)
	case modeRevoked:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"cloud token revoked by an operator"}`)
	default:
		g.serveHealthy(w, r, m == modeInvalid)
	}
}

func (g *fakeGate) serveHealthy(w http.ResponseWriter, r *http.Request, invalid bool) {
	switch r.URL.Path {
	case "/sync":
		if r.URL.Query().Get("since") != "" && !invalid {
			time.Sleep(100 * time.Millisecond) // a short long poll
			w.WriteHeader(http.StatusNoContent)
			return
		}
		target := g.backend
		rev := int64(1)
		if invalid {
			target, rev = "not a url", 2
		}
		api := json.RawMessage(fmt.Sprintf(`{"id":"fake","name":"Fake","apiVersion":"1","definitionVersion":"V4","type":"proxy",
			"listeners":[{"type":"http","paths":[{"path":"/fake"}],"entrypoints":[{"type":"http-proxy"}]}],
			"endpointGroups":[{"name":"default","type":"http-proxy","endpoints":[{"name":"b","type":"http-proxy","configuration":{"target":%q}}]}],
			"plans":[{"id":"free","name":"Free","status":"PUBLISHED","security":{"type":"key-less"}}]}`, target))
		apis := []json.RawMessage{api}
		for i := range g.apis {
			apis = append(apis, json.RawMessage(strings.ReplaceAll(strings.ReplaceAll(string(api), `"fake"`, fmt.Sprintf(`"fake-%d"`, i)), `"/fake"`, fmt.Sprintf(`"/fake-%d"`, i))))
		}
		json.NewEncoder(w).Encode(wire.SyncResponse{Revision: rev, Full: true, Organization: "acme", Environment: "prod", APIs: apis, Subscriptions: []wire.Subscription{}})
	case "/reports":
		g.storeReports(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (g *fakeGate) storeReports(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var batch wire.ReportBatch
	if err := json.NewDecoder(zr).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	for _, rec := range batch.Records {
		g.records[rec.RequestID] = true
	}
	g.mu.Unlock()
	json.NewEncoder(w).Encode(wire.ReportAck{Accepted: len(batch.Records)})
}

// credentials writes a cloud-token naming this gate (URL and CA pin) and a
// license signed with the key the token names, into a new directory.
func (g *fakeGate) credentials(t testing.TB) string {
	t.Helper()
	return fakeCredentials(t, g.srv.URL, g.ca)
}

func fakeCredentials(t testing.TB, gateURL string, ca *x509.Certificate) string {
	t.Helper()
	_, tokKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	licPub, licKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ca.Raw)
	now := time.Now()
	tok, err := provisioning.SignToken(provisioning.Claims{
		Issuer: "fake-gate", Audience: []string{provisioning.Audience}, IssuedAt: jwtTime(now), ExpiresAt: jwtTime(now.Add(24 * time.Hour)),
		ID: "jti-1", Org: "acme", Envs: []string{"prod"}, CPG: "local", TTK: "ttk",
		Gate: gateURL, GateCA: "sha256:" + hex.EncodeToString(sum[:]), GatewayID: "gw-fake",
		LicenseKey: provisioning.EncodePublicKey(licPub),
	}, tokKey, "k1")
	if err != nil {
		t.Fatal(err)
	}
	lic, err := provisioning.SignLicense(provisioning.License{ID: "lic-1", Org: "acme", Tier: "universe", Features: []string{}, IssuedAt: now, ExpiresAt: now.Add(365 * 24 * time.Hour)}, licKey, "l1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"cloud-token": tok, "license.key": lic} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testPKI makes a CA and a 127.0.0.1 server certificate whose chain carries
// the CA (as the gate's does, so the token's pin can be checked).
func testPKI(t testing.TB) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake gate CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "fake gate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}

func jwtTime(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

// load sends requests to path from workers goroutines until stop is closed;
// it returns the count of answers by status and of transport errors.
func load(gw *gatewayProc, path string, workers int, stop <-chan struct{}) (wait func() (map[int]int, loadErrors)) {
	return loadPaced(gw, path, workers, 0, stop)
}

// loadPaced is load with a pause after each request.
func loadPaced(gw *gatewayProc, path string, workers int, pause time.Duration, stop <-chan struct{}) (wait func() (map[int]int, loadErrors)) {
	var mu sync.Mutex
	codes, errs := map[int]int{}, loadErrors{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://" + gw.listen + path)
				mu.Lock()
				if err != nil {
					errs.add(err)
				} else {
					codes[resp.StatusCode]++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	return func() (map[int]int, loadErrors) {
		wg.Wait()
		return codes, errs
	}
}

// loadErrors counts client errors and keeps the first few, so a failure
// says what the clients saw.
type loadErrors struct {
	n     int
	first []string
}

func (e *loadErrors) add(err error) {
	e.n++
	if len(e.first) < 3 {
		e.first = append(e.first, err.Error())
	}
}

func (e loadErrors) String() string {
	if e.n == 0 {
		return "no errors"
	}
	return fmt.Sprintf("%d errors, first: %s", e.n, strings.Join(e.first, "; "))
}

// TestFaultyGateKeepsServing: whatever the gate does, the gateway keeps
// serving revision 1 and its clients see only 200s.
func TestFaultyGateKeepsServing(t *testing.T) {
	backend, _ := countingBackend(t)
	g := newFakeGate(t, backend.URL)
	gw := startGateway(t, t.TempDir(), g.credentials(t))
	gw.waitReady(t)
	served := 0
	for _, mode := range []string{modeBlackHole, modeSlow, modeReset, mode500, modeGarbage, modeInvalid, modeRevoked} {
		if mode == modeRevoked {
			// Before the token is refused (which slows uploads to once a
			// minute): every request answered during the chaos has reached
			// the gate exactly once (it counts unique request ids).
			g.setMode(modeHealthy)
			eventually(t, 30*time.Second, "gate has every record", func() error {
				if got := g.recordCount(); got != served {
					return fmt.Errorf("gate has %d records, the gateway served %d", got, served)
				}
				return nil
			})
		}
		t.Run(mode, func(t *testing.T) {
			// Start from a healthy gate so the sync loop's backoff is reset
			// and the next attempt comes within about a second.
			g.setMode(modeHealthy)
			before := g.hit(modeHealthy)
			eventually(t, 40*time.Second, "a healthy sync", func() error {
				if g.hit(modeHealthy) < before+2 {
					return errors.New("no sync yet")
				}
				return nil
			})
			errsBefore := gw.syncStatus(t).SyncErrors
			g.setMode(mode)
			stop := make(chan struct{})
			wait := load(gw, "/fake/x", 4, stop)
			eventually(t, 40*time.Second, "the gateway met the faulty gate", func() error {
				if g.hit(mode) == 0 {
					return errors.New("not yet")
				}
				if mode == modeBlackHole {
					return nil // the request hangs: nothing to see yet
				}
				if gw.syncStatus(t).SyncErrors == errsBefore {
					return errors.New("no sync error recorded yet")
				}
				return nil
			})
			time.Sleep(300 * time.Millisecond) // keep traffic going while the gate misbehaves
			close(stop)
			codes, errs := wait()
			served += codes[http.StatusOK]
			if errs.n > 0 || len(codes) != 1 || codes[http.StatusOK] == 0 {
				t.Fatalf("clients saw %v and %v, want only 200s", codes, errs)
			}
			s := gw.syncStatus(t)
			if s.Revision != 1 {
				t.Fatalf("serving revision %d, want the last good (1)", s.Revision)
			}
			if mode != modeBlackHole && s.LastError == "" {
				t.Fatalf("no lastError in /_node/sync after %s", mode)
			}
			t.Logf("%s: %v served, last error: %s", mode, codes, s.LastError)
		})
	}
	g.setMode(modeHealthy)
	out := gw.out.String()
	if !strings.Contains(out, "cloud token revoked by an operator") {
		t.Errorf("the gate's 401 message is not in the log")
	}
}

// TestCorruptStateFileStartsAndServesFromGate: a truncated or random state
// file is set aside; the gateway says so and serves what the gate sends.
func TestCorruptStateFileStartsAndServesFromGate(t *testing.T) {
	backend, _ := countingBackend(t)
	g := newFakeGate(t, backend.URL)
	creds := g.credentials(t)

	// A real state file to truncate.
	good := t.TempDir()
	gw := startGateway(t, good, creds)
	gw.waitReady(t)
	if err := gw.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	valid, err := os.ReadFile(filepath.Join(good, "edgegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 64<<10)
	rand.Read(random)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", valid[:len(valid)/3]},
		{"random bytes", random},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "edgegate.db"), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			gw := startGateway(t, dir, creds)
			gw.waitReady(t)
			if code, body := gw.do(t, http.MethodGet, "/fake/x", nil); code != http.StatusOK {
				t.Fatalf("%d %q", code, body)
			}
			s := gw.syncStatus(t)
			if s.Source != "gate" {
				t.Fatalf("source %q, want gate", s.Source)
			}
			if tc.data != nil && s.SnapshotRecovered == "" {
				t.Fatalf("/_node/sync does not say the state was recovered: %+v", s)
			}
			t.Logf("flagged: %q", s.SnapshotRecovered)
		})
	}
}

// checkState opens a state file the way a restarted gateway does, checks it
// with bbolt's consistency check, and returns how many records it spools and,
// when withIDs, their request ids.
func checkState(t testing.TB, path string, withIDs bool) (int64, map[string]bool) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bbolt open after SIGKILL: %v", err)
	}
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if cerr := bdb.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("bbolt consistency check after SIGKILL: %v", err)
	}
	db, err := persist.Open(path, &persist.Options{MaxBatchBytes: 1 << 30})
	if err != nil {
		t.Fatalf("persist open after SIGKILL: %v", err)
	}
	defer db.Close()
	if r := db.Recovered(); strings.Contains(r, "moved to") {
		t.Fatalf("state file set aside after SIGKILL: %s", r)
	}
	n := db.SpoolStats().Records
	if !withIDs {
		return n, nil
	}
	batch, err := db.PeekReports(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(batch.Records)) != n {
		t.Fatalf("peeked %d records of %d", len(batch.Records), n)
	}
	ids := make(map[string]bool, len(batch.Records))
	for _, r := range batch.Records {
		var rec struct {
			RequestID string `json:"requestId"`
		}
		if err := json.Unmarshal(r, &rec); err != nil || rec.RequestID == "" {
			t.Fatalf("spooled record %q: %v", r, err)
		}
		ids[rec.RequestID] = true
	}
	return n, ids
}

// TestKillLoop SIGKILLs a gateway under traffic at random moments, 200
// times. After each kill the state file opens and passes bbolt's check, the
// restarted gateway serves, and every record the spool had committed is
// still there. The gateway runs in local mode (no gate), so nothing leaves
// the spool and "committed" is exactly what the previous check saw.
func TestKillLoop(t *testing.T) {
	const kills = 200
	backend, _ := countingBackend(t)
	apis, data := t.TempDir(), t.TempDir()
	apiDefinition(t, apis, "k", "/k", backend.URL)
	state := filepath.Join(data, "edgegate.db")
	committed := map[string]bool{}
	started := time.Now()
	var served int
	var count int64
	for i := range kills {
		gw := startGateway(t, data, "", "--apis-dir", apis)
		waitReadyFast(t, gw)
		stop := make(chan struct{})
		wait := loadPaced(gw, "/k/x", 1, 2*time.Millisecond, stop)
		// Kill anywhere from inside the first 100 ms commit window to a few
		// commits later.
		time.Sleep(time.Duration(20+mrand.IntN(160)) * time.Millisecond)
		if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-gw.done
		close(stop)
		codes, _ := wait()
		served += codes[http.StatusOK]
		if len(codes) > 1 || (len(codes) == 1 && codes[http.StatusOK] == 0) {
			t.Fatalf("kill %d: answers %v, want only 200s", i, codes)
		}
		// Every kill: the count never shrinks. Every twentieth and the last:
		// every record committed at the previous full check is still there.
		full := i%20 == 19 || i == kills-1
		n, ids := checkState(t, state, full)
		if n < count {
			t.Fatalf("kill %d: the spool went from %d to %d records", i, count, n)
		}
		count = n
		if !full {
			continue
		}
		for id := range committed {
			if !ids[id] {
				t.Fatalf("kill %d: committed record %s lost", i, id)
			}
		}
		committed = ids
	}
	if len(committed) == 0 {
		t.Fatal("no record was ever committed: the kill loop checked nothing")
	}
	t.Logf("kill loop: %d SIGKILLs in %v; %d requests answered 200, %d records committed and none lost", kills, time.Since(started).Round(time.Millisecond), served, len(committed))
}

// waitReadyFast polls /_node/ready every few milliseconds.
func waitReadyFast(t testing.TB, gw *gatewayProc) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-gw.done:
			t.Fatalf("gateway exited: %v\n%s", gw.err, gw.out.String())
		default:
		}
		resp, err := c.Get("http://" + gw.admin + "/_node/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(3 * time.Millisecond)
	}
	t.Fatalf("gateway not ready within 20 s:\n%s", gw.out.String())
}

// TestDiskFull limits the gateway's file size (RLIMIT_FSIZE, as a full disk
// would): it keeps serving, counts what it could not spool, and spools again
// once the limit is lifted.
func TestDiskFull(t *testing.T) {
	backend, _ := countingBackend(t)
	apis, data := t.TempDir(), t.TempDir()
	apiDefinition(t, apis, "d", "/d", backend.URL)
	gw := startGateway(t, data, "", "--apis-dir", apis)
	gw.waitReady(t)
	reports := func() reportsStatus {
		var rs reportsStatus
		if err := gw.node("/_node/reports", &rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	fi, err := os.Stat(filepath.Join(data, "edgegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	pid := gw.cmd.Process.Pid
	full := unix.Rlimit{Cur: uint64(fi.Size()), Max: unix.RLIM_INFINITY}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &full, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	stop := make(chan struct{})
	wait := load(gw, "/d/x", 4, stop)
	eventually(t, 60*time.Second, "spool failures counted", func() error {
		if rs := reports(); rs.SpoolFailed == 0 {
			return fmt.Errorf("nothing counted yet (%d spooled)", rs.Records)
		}
		return nil
	})
	close(stop)
	codes, errs := wait()
	if errs.n > 0 || len(codes) != 1 || codes[http.StatusOK] == 0 {
		t.Fatalf("with the disk full clients saw %v and %v, want only 200s", codes, errs)
	}
	atFull := reports()
	t.Logf("disk full: %v served; %d records spooled, %d could not be spooled and were counted", codes, atFull.Records, atFull.SpoolFailed)

	free := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &free, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	for range 50 {
		if code, _ := gw.do(t, http.MethodGet, "/d/after", nil); code != http.StatusOK {
			t.Fatalf("after space returned: %d", code)
		}
	}
	eventually(t, 10*time.Second, "spooling again", func() error {
		if rs := reports(); rs.Records < atFull.Records+50 {
			return fmt.Errorf("%d spooled, want at least %d", rs.Records, atFull.Records+50)
		}
		return nil
	})
	if rs := reports(); rs.SpoolFailed != atFull.SpoolFailed {
		t.Fatalf("still failing after space returned: %d → %d", atFull.SpoolFailed, rs.SpoolFailed)
	}
}

// BenchmarkLatencyGateDown compares the gateway's request latency with a
// healthy gate and with a black-holed one (a listener that accepts and never
// answers): the data plane must not depend on the gate. It reports p50 and
// p99 per case.
func BenchmarkLatencyGateDown(b *testing.B) {
	backend, _ := countingBackend(b)
	healthy := newFakeGate(b, backend.URL)
	creds := healthy.credentials(b)
	seed := b.TempDir()
	gw := startGateway(b, seed, creds)
	gw.waitReady(b)
	if err := gw.stop(b); err != nil {
		b.Fatal(err)
	}
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer hole.Close()
	go blackHole(hole)
	for _, tc := range []struct {
		name  string
		creds string
	}{
		{"healthy", creds},
		{"blackholed", fakeCredentials(b, "https://"+hole.Addr().String(), healthy.ca)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := b.TempDir()
			copyFile(b, filepath.Join(seed, "edgegate.db"), filepath.Join(data, "edgegate.db"))
			gw := startGateway(b, data, tc.creds)
			gw.waitReady(b)
			c := &http.Client{Timeout: 5 * time.Second}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				resp, err := c.Get("http://" + gw.listen + "/fake/x")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// blackHole accepts connections and never reads or answers them.
func blackHole(l net.Listener) {
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		held = append(held, c)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStartFromSnapshot1000APIs measures the time from process start
// to the first request served from a snapshot of 1,000 APIs, with the gate
// unreachable (a black hole).
func BenchmarkStartFromSnapshot1000APIs(b *testing.B) {
	backend, _ := countingBackend(b)
	g := newFakeGate(b, backend.URL)
	g.apis = 999
	seed := b.TempDir()
	gw := startGateway(b, seed, g.credentials(b))
	gw.waitReady(b)
	if code, body := gw.do(b, http.MethodGet, "/fake-998/x", nil); code != http.StatusOK {
		b.Fatalf("%d %q", code, body)
	}
	if err := gw.stop(b); err != nil {
		b.Fatal(err)
	}
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer hole.Close()
	go blackHole(hole)
	creds := fakeCredentials(b, "https://"+hole.Addr().String(), g.ca)
	var total time.Duration
	for b.Loop() {
		data := b.TempDir()
		copyFile(b, filepath.Join(seed, "edgegate.db"), filepath.Join(data, "edgegate.db"))
		t0 := time.Now()
		gw := startGateway(b, data, creds)
		c := &http.Client{Timeout: time.Second}
		for {
			resp, err := c.Get("http://" + gw.listen + "/fake-500/x")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("not serving 30 s after start: %v\n%s", err, gw.out.String())
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(t0)
		if err := gw.stop(b); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-serve")
}

// TestNotConfiguredExits125: nothing to serve is exit 125 (a supervisor does
// not restart it) with a message saying what to provide.
func TestNotConfiguredExits125(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "edgegate"), "run", "--data-dir", t.TempDir(), "--listen", freeAddr(t), "--admin-listen", freeAddr(t))
	cmd.Env = append(os.Environ(), "gravitee_cloud_token=", "gravitee_license_key=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		t.Fatalf("exit: %v, want 125\n%s", err, out)
	}
	for _, want := range []string{"--cloud-token-file", "--license-file", "--apis-dir"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message does not mention %s: %s", want, out)
		}
	}
}

// TestSIGTERMSpoolsEveryRecord: a clean stop right after traffic loses
// nothing: the queue is flushed into the spool before exit 0.
func TestSIGTERMSpoolsEveryRecord(t *testing.T) {
	backend, _ := countingBackend(t)
	apis, data := t.TempDir(), t.TempDir()
	apiDefinition(t, apis, "s", "/s", backend.URL)
	gw := startGateway(t, data, "", "--apis-dir", apis)
	gw.waitReady(t)
	const n = 300
	for i := range n {
		if code, _ := gw.do(t, http.MethodGet, "/s/"+strconv.Itoa(i), nil); code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if err := gw.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
	if got, _ := checkState(t, filepath.Join(data, "edgegate.db"), false); got != n {
		t.Fatalf("spool holds %d records after SIGTERM, want %d", got, n)
	}
}
