package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/syncbuf"
	"github.com/edgegate/edgegate/provisioning"
)

var servingRE = regexp.MustCompile(`serving (https://127\.0\.0\.1:\d+)`)

// startServe runs `cloudgate serve` in-process on a free loopback port with
// its data in ./.demo/cloudgate (so the operator defaults apply) and returns
// its URL.
func startServe(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--data-dir", ".demo/cloudgate", "--listen", "127.0.0.1:0"}, &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 || !strings.Contains(out.String(), "cloudgate: stopped") {
				t.Errorf("serve exited %d; stdout %s; stderr %s", code, out.String(), errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingRE.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s %s", code, out.String(), errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start: %s %s", out.String(), errOut.String())
	return ""
}

// run runs one command and returns its exit status, stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

const demoAPI = `{"name":"demo","definitionVersion":"V4","type":"proxy",
"listeners":[{"type":"http","paths":[{"path":"/demo"}],"entrypoints":[{"type":"http-proxy"}]}],
"endpointGroups":[{"name":"default","type":"http-proxy","endpoints":[{"name":"e","type":"http-proxy","configuration":{"target":"http://127.0.0.1:1"}}]}],
"plans":[{"id":"keyless","name":"Keyless","status":"PUBLISHED","security":{"type":"key-less"}},
         {"id":"apikey","name":"Key","status":"PUBLISHED","security":{"type":"api-key"}}]}`

func TestOperatorCommands(t *testing.T) {
	t.Chdir(t.TempDir())
	url := startServe(t)
	for _, f := range []string{"ca.pem", "admin-token", "cloudgate.db", "keys/token/active", "keys/license/active"} {
		if _, err := os.Stat(filepath.Join(".demo/cloudgate", f)); err != nil {
			t.Fatalf("serve did not create %s: %v", f, err)
		}
	}
	if fi, _ := os.Stat(".demo/cloudgate/admin-token"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-token mode %v", fi.Mode())
	}
	srv := "--server=" + url
	if err := os.WriteFile("api.json", []byte(demoAPI), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("wrong-token", []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	mustRun := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, errOut := run(append(args, srv)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	mustRun(t, "env", "create", "--org", "acme", "--env", "prod")
	if out := mustRun(t, "env", "create", "--org", "acme", "--env", "prod"); !strings.Contains(out, "exists") {
		t.Fatalf("second env create: %q", out)
	}
	if err := os.MkdirAll("gw", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("gw/cloud-token", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "gateway", "create", "--org", "acme", "--env", "prod", "--access-point", "a.example", "--access-point", "b.example", "--out", "gw")
	if !strings.Contains(out, filepath.Join("gw", "cloud-token")) || !strings.Contains(out, filepath.Join("gw", "license.key")) {
		t.Fatalf("gateway create did not say where it wrote: %q", out)
	}
	for _, f := range []string{"gw/cloud-token", "gw/license.key"} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	raw, _ := os.ReadFile("gw/cloud-token")
	tok, err := provisioning.ParseToken(string(raw), time.Now())
	if err != nil || len(tok.Claims.AccessPoints) != 2 || tok.GateURL("") != url {
		t.Fatalf("written token %+v: %v", tok, err)
	}

	id := mustRun(t, "api", "import", "--org", "acme", "--env", "prod", "api.json")
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("api import printed %q, want the id alone", id)
	}
	mustRun(t, "api", "deploy", "--org", "acme", "--env", "prod", id)
	key := mustRun(t, "key", "create", "--org", "acme", "--env", "prod", "--api", id, "--plan", "apikey", "--application", "mobile")
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(key) {
		t.Fatalf("key create printed %q, want the key alone", key)
	}
	if n := mustRun(t, "analytics", "count", "--org", "acme"); n != "0" {
		t.Fatalf("analytics count = %q", n)
	}
	if n := mustRun(t, "analytics", "count", "--org", "acme", "--api", id); n != "0" {
		t.Fatalf("analytics count --api = %q", n)
	}
	if out := mustRun(t, "gateway", "list", "--org", "acme", "--env", "prod"); !strings.Contains(out, tok.Claims.GatewayID) {
		t.Fatalf("gateway list: %q", out)
	}
	if out := mustRun(t, "token", "list", "--org", "acme", "--env", "prod"); !strings.Contains(out, tok.Claims.ID) {
		t.Fatalf("token list: %q", out)
	}
	mustRun(t, "token", "revoke", "--org", "acme", "--env", "prod", tok.Claims.ID)
	if out := mustRun(t, "token", "list", "--org", "acme", "--env", "prod"); !strings.Contains(out, "true") {
		t.Fatalf("token list after revoke: %q", out)
	}
	mustRun(t, "api", "undeploy", "--org", "acme", "--env", "prod", id)

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing flag", []string{"env", "create", "--org", "acme", srv}, 2, "--env is required"},
		{"unknown command", []string{"frobnicate", srv}, 2, "unknown command"},
		{"no file argument", []string{"api", "import", "--org", "acme", "--env", "prod", srv}, 2, "argument"},
		{"missing file", []string{"api", "import", "--org", "acme", "--env", "prod", "nope.json", srv}, 1, "nope.json"},
		{"unknown api", []string{"api", "deploy", "--org", "acme", "--env", "prod", "nope", srv}, 1, "does not exist"},
		{"unknown env", []string{"api", "deploy", "--org", "acme", "--env", "dev", id, srv}, 1, "env create"},
		{"wrong admin token", []string{"env", "create", "--org", "a", "--env", "b", "--admin-token-file", "wrong-token", "--ca-file", ".demo/cloudgate/ca.pem", srv}, 1, "admin token"},
		{"not a token file", []string{"env", "create", "--org", "a", "--env", "b", "--admin-token-file", "api.json", "--ca-file", ".demo/cloudgate/ca.pem", srv}, 1, "does not hold an admin token"},
		{"gate down", []string{"env", "create", "--org", "a", "--env", "b", "--server", "https://127.0.0.1:1"}, 1, "127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) || out != "" {
				t.Fatalf("exit %d stdout %q stderr %q; want exit %d and %q on stderr only", code, out, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestAdminTokenRequiredWithoutDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, errOut := run("env", "create", "--org", "a", "--env", "b")
	if code != 2 || !strings.Contains(errOut, "--admin-token-file is required") {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
}

func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := run("keys", "list", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("keys list: %s", errOut)
	}
	code, out, errOut := run("keys", "rotate", "--data-dir", dir, "--kind", "token")
	if code != 0 || !strings.Contains(out, "now active") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	_, out, _ = run("keys", "list", "--data-dir", dir)
	if strings.Count(out, "token\t") != 2 || strings.Count(out, "(active)") != 2 {
		t.Fatalf("after rotation:\n%s", out)
	}
	if code, _, _ := run("keys", "rotate", "--data-dir", dir, "--kind", "other"); code != 2 {
		t.Fatalf("bad kind exit %d", code)
	}
}
