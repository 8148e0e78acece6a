package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/provisioning"
	"github.com/golang-jwt/jwt/v5"
)

// countingBackend is an upstream that counts what reached it.
func countingBackend(t testing.TB) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "backend saw %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// apiDefinition writes a keyless v4 definition for id at path to dir.
func apiDefinition(t testing.TB, dir, id, path, target string) string {
	t.Helper()
	return planDefinition(t, dir, id, path, target, "free", "key-less")
}

// planDefinition writes a v4 definition for id at path, proxied to target,
// with one published plan of the given security type, to dir/id.json.
func planDefinition(t testing.TB, dir, id, path, target, planID, security string) string {
	t.Helper()
	def := map[string]any{
		"id": id, "name": "API " + id, "apiVersion": "1", "definitionVersion": "V4", "type": "proxy",
		"listeners": []any{map[string]any{
			"type": "http", "paths": []any{map[string]any{"path": path}},
			"entrypoints": []any{map[string]any{"type": "http-proxy"}},
		}},
		"endpointGroups": []any{map[string]any{
			"name": "default", "type": "http-proxy",
			"endpoints": []any{map[string]any{"name": "backend", "type": "http-proxy", "configuration": map[string]any{"target": target}}},
		}},
		"plans": []any{map[string]any{"id": planID, "name": planID, "status": "PUBLISHED", "security": map[string]any{"type": security}}},
	}
	b, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, id+".json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// hybrid is a gate with one environment and a gateway provisioned for it.
type hybrid struct {
	gate     *gate
	creds    string // directory with cloud-token and license.key
	gw       *gatewayProc
	org, env string
	sent     int // requests sent through the gateway
}

func newHybrid(t *testing.T) *hybrid {
	t.Helper()
	root := t.TempDir()
	h := &hybrid{org: "acme", env: "prod", creds: filepath.Join(root, "creds")}
	h.gate = startGate(t, filepath.Join(root, "gate"), freeAddr(t))
	h.gate.cli(t, "env", "create", "--org", h.org, "--env", h.env)
	h.gate.cli(t, "gateway", "create", "--org", h.org, "--env", h.env, "--access-point", "https://branch-1.example.com", "--out", h.creds)
	h.gw = startGateway(t, filepath.Join(root, "gw"), h.creds)
	h.gw.waitReady(t)
	return h
}

func (h *hybrid) cli(t *testing.T, args ...string) string {
	t.Helper()
	return h.gate.cli(t, append(args, "--org", h.org, "--env", h.env)...)
}

func (h *hybrid) do(t *testing.T, path string) (int, string) {
	t.Helper()
	h.sent++
	return h.gw.do(t, http.MethodGet, path, nil)
}

// waitStatus polls path until it answers want, counting every request.
func (h *hybrid) waitStatus(t *testing.T, path string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, within, fmt.Sprintf("GET %s → %d", path, want), func() error {
		if code, body := h.do(t, path); code != want {
			return fmt.Errorf("got %d %q", code, body)
		}
		return nil
	})
	return time.Since(start)
}

func TestHybridEndToEnd(t *testing.T) {
	h := newHybrid(t)
	backend, seen := countingBackend(t)
	dir := t.TempDir()

	id := h.cli(t, "api", "import", apiDefinition(t, dir, "orders", "/orders", backend.URL+"/v1"))
	if id != "orders" {
		t.Fatalf("api import printed %q, want the id alone", id)
	}
	h.cli(t, "api", "deploy", id)
	h.waitStatus(t, "/orders/ping", http.StatusOK, 5*time.Second)

	const n = 50
	before := seen.Load()
	for i := range n {
		code, body := h.do(t, "/orders/items/"+strconv.Itoa(i))
		if code != http.StatusOK || body != "backend saw GET /v1/items/"+strconv.Itoa(i) {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if got := seen.Load() - before; got != n {
		t.Fatalf("backend got %d requests, want %d", got, n)
	}

	t.Run("unmatched path", func(t *testing.T) {
		code, body := h.do(t, "/nothing/here")
		if code != http.StatusNotFound || body != "No context-path matches the request URI." {
			t.Fatalf("got %d %q", code, body)
		}
		h.sent++
		code, body = h.gw.do(t, http.MethodGet, "/nothing", map[string]string{"Accept": "application/json"})
		var msg struct {
			Message string `json:"message"`
			Status  int    `json:"http_status_code"`
		}
		if err := json.Unmarshal([]byte(body), &msg); code != http.StatusNotFound || err != nil || msg.Message != "No context-path matches the request URI." || msg.Status != 404 {
			t.Fatalf("JSON 404: %d %q", code, body)
		}
	})

	t.Run("undeploy reaches the gateway within a second", func(t *testing.T) {
		h.cli(t, "api", "undeploy", id)
		took := h.waitStatus(t, "/orders/ping", http.StatusNotFound, time.Second)
		t.Logf("undeploy → 404 in %v", took)
	})

	t.Run("deploy to served", func(t *testing.T) {
		var times []time.Duration
		for i := range 20 {
			start := time.Now()
			h.cli(t, "api", "deploy", id)
			h.waitStatus(t, "/orders/ping", http.StatusOK, 2*time.Second)
			times = append(times, time.Since(start))
			h.cli(t, "api", "undeploy", id)
			h.waitStatus(t, "/orders/ping", http.StatusNotFound, 2*time.Second)
			_ = i
		}
		slices.Sort(times)
		t.Logf("deploy → served over %d deploys (including the CLI's own run): median %v, worst %v", len(times), times[len(times)/2], times[len(times)-1])
		if times[len(times)-1] > time.Second {
			t.Errorf("worst deploy-to-served %v is over a second", times[len(times)-1])
		}
	})

	t.Run("analytics count equals requests served", func(t *testing.T) {
		want := strconv.Itoa(h.sent)
		eventually(t, 30*time.Second, "analytics count "+want, func() error {
			got, err := runErr("cloudgate", append([]string{"analytics", "count", "--org", h.org}, h.gate.cliFlags()...)...)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("count %s, want %s", got, want)
			}
			return nil
		})
	})
}

// TestGateRefusesBadTokens sends forged, expired and foreign tokens straight
// to /sync and /reports: none may read configuration or store a report.
func TestGateRefusesBadTokens(t *testing.T) {
	h := newHybrid(t)
	tokText, err := os.ReadFile(filepath.Join(h.creds, "cloud-token"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := provisioning.ParseToken(string(tokText), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(f func(*provisioning.Claims)) string {
		c := good.Claims
		f(&c)
		s, err := provisioning.SignToken(c, otherKey, good.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	unsigned := func(alg string) string {
		enc := base64.RawURLEncoding
		hdr, _ := json.Marshal(map[string]string{"alg": alg, "kid": good.KeyID, "typ": "JWT"})
		p, _ := json.Marshal(good.Claims)
		return enc.EncodeToString(hdr) + "." + enc.EncodeToString(p) + "."
	}
	hs256 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, &good.Claims)
		tok.Header["kid"] = good.KeyID
		s, err := tok.SignedString([]byte("guessed-secret"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	tests := []struct{ name, token, want string }{
		{"no token", "", ""},
		{"signed by another key", forge(func(*provisioning.Claims) {}), "signature"},
		{"alg none", unsigned("none"), "none"},
		{"algorithm not on the list", hs256(), "HS256"},
		{"expired", forge(func(c *provisioning.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }), ""},
		{"another org", forge(func(c *provisioning.Claims) { c.Org = "globex" }), ""},
		{"garbage", "not-a-token", "JWT"},
	}
	batch := wire.ReportBatch{BatchID: "b1", GatewayID: "gw", Records: []analytics.Record{{RequestID: "r1", HTTPMethod: "GET", URI: "/", Status: 200}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ep := range []string{"/sync", "/reports"} {
				code, body := h.gate.call(t, ep, tt.token, batch)
				if code != http.StatusUnauthorized && code != http.StatusForbidden {
					t.Fatalf("%s: %d %s, want 401 or 403", ep, code, body)
				}
				if !strings.Contains(body, tt.want) {
					t.Errorf("%s: message %q does not say %q", ep, body, tt.want)
				}
			}
		})
	}
	if got := h.gate.cli(t, "analytics", "count", "--org", h.org); got != "0" {
		t.Fatalf("refused reports were stored: count %s", got)
	}
}

// call sends GET /sync or a gzip POST /reports with token.
func (g *gate) call(t testing.TB, path, token string, batch wire.ReportBatch) (int, string) {
	t.Helper()
	var req *http.Request
	var err error
	if path == "/reports" {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if err := json.NewEncoder(zw).Encode(batch); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		req, err = http.NewRequest(http.MethodPost, "https://"+g.addr+path, &buf)
		if err == nil {
			req.Header.Set("Content-Encoding", "gzip")
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(wire.HeaderIdempotencyKey, batch.BatchID)
		}
	} else {
		req, err = http.NewRequest(http.MethodGet, "https://"+g.addr+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.String()
}

// TestTamperedLicenseStopsServing starts a gateway whose license was altered:
// it must say so and serve no API.
func TestTamperedLicenseStopsServing(t *testing.T) {
	h := newHybrid(t)
	backend, seen := countingBackend(t)
	h.cli(t, "api", "import", apiDefinition(t, t.TempDir(), "lic", "/lic", backend.URL))
	h.cli(t, "api", "deploy", "lic")
	h.waitStatus(t, "/lic/x", http.StatusOK, 5*time.Second)

	// Alter the signed payload (the tier) and keep the signature.
	text, err := os.ReadFile(filepath.Join(h.creds, "license.key"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]string
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(env["payload"])
	if err != nil {
		t.Fatal(err)
	}
	var lic map[string]any
	if err := json.Unmarshal(payload, &lic); err != nil {
		t.Fatal(err)
	}
	lic["tier"] = "unlimited"
	payload, _ = json.Marshal(lic)
	env["payload"] = base64.RawURLEncoding.EncodeToString(payload)
	raw, _ = json.Marshal(env)
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "license.key"), []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(filepath.Join(h.creds, "cloud-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "cloud-token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}

	gw := startGateway(t, t.TempDir(), bad)
	eventually(t, 20*time.Second, "license refusal logged", func() error {
		if out := gw.out.String(); !strings.Contains(out, "license") || !strings.Contains(out, "signature") {
			return fmt.Errorf("output so far: %q", out)
		}
		return nil
	})
	// Once the configuration has arrived, the API is refused with 503 and a
	// message about the license; the backend never sees a request.
	before := seen.Load()
	eventually(t, 10*time.Second, "API refused for the license", func() error {
		code, body := gw.do(t, http.MethodGet, "/lic/x", nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(body), "license") {
			return fmt.Errorf("got %d %q", code, body)
		}
		return nil
	})
	if seen.Load() != before {
		t.Fatalf("a gateway with a tampered license reached the backend")
	}
}
