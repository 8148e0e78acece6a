// Package e2e runs the real binaries (cloudgate, edgegate, edgegate-echo)
// against each other on loopback: the hybrid deployment end to end.
//
// TestMain builds the binaries once into a temporary directory. Helpers
// start a Cloud Gate, create an organization and environment, generate
// installation details and start gateways, each process owned by the test
// that started it and stopped in its cleanup.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/syncbuf"
)

// binDir holds the binaries TestMain built.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edgegate-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "build", "-o", dir+"/", "../cmd/edgegate", "../cmd/cloudgate", "../cmd/edgegate-echo")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		return 1
	}
	binDir = dir
	return m.Run()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a child process owned by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

// start runs a binary from binDir; its output is logged when the test fails.
func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits (SIGKILL after 10 s); it returns the exit error.
func (p *proc) stop(t testing.TB) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Logf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop within 10 s of SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// run runs a binary to completion and returns its stdout, failing the test on
// a non-zero exit.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gate is a running Cloud Gate.
type gate struct {
	*proc
	dir, addr string
	client    *http.Client // trusts the gate's CA
}

func startGate(t testing.TB, dir, addr string) *gate {
	t.Helper()
	g := &gate{dir: dir, addr: addr}
	g.proc = start(t, "cloudgate", "serve", "--data-dir", dir, "--listen", addr, "--geo", "local")
	eventually(t, 30*time.Second, "cloud gate up", func() error {
		pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in ca.pem")
		}
		g.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		_, err = g.get("/console/")
		return err
	})
	return g
}

func (g *gate) get(path string) (string, error) {
	resp, err := g.client.Get("https://" + g.addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// cli runs an operator command against this gate.
func (g *gate) cli(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "cloudgate", append(args, g.cliFlags()...)...)
}

func (g *gate) cliFlags() []string {
	return []string{"--server", "https://" + g.addr, "--admin-token-file", filepath.Join(g.dir, "admin-token"), "--ca-file", filepath.Join(g.dir, "ca.pem")}
}

// gatewayProc is a running edgegate.
type gatewayProc struct {
	*proc
	listen, admin string
	client        *http.Client
}

func startGateway(t testing.TB, dataDir, creds string, extra ...string) *gatewayProc {
	t.Helper()
	gw := &gatewayProc{listen: freeAddr(t), admin: freeAddr(t), client: &http.Client{Timeout: 10 * time.Second}}
	args := []string{"run", "--data-dir", dataDir, "--listen", gw.listen, "--admin-listen", gw.admin}
	if creds != "" {
		args = append(args, "--cloud-token-file", filepath.Join(creds, "cloud-token"), "--license-file", filepath.Join(creds, "license.key"))
	}
	gw.proc = start(t, "edgegate", append(args, extra...)...)
	return gw
}

func (gw *gatewayProc) waitReady(t testing.TB) {
	t.Helper()
	eventually(t, 30*time.Second, "gateway ready", func() error {
		select {
		case <-gw.done:
			return fmt.Errorf("exited: %v", gw.err)
		default:
		}
		resp, err := gw.client.Get("http://" + gw.admin + "/_node/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ready: %s", resp.Status)
		}
		return nil
	})
}

// do sends one request through the gateway and returns status and body.
func (gw *gatewayProc) do(t testing.TB, method, path string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+gw.listen+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := gw.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
