package console_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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

// This file starts the real binaries the browser test drives: cloudgate
// serve and edgegate run, built from this checkout into a temporary
// directory. Each process belongs to the test that started it and is
// stopped (SIGTERM, then SIGKILL) in its cleanup.

// buildBinaries builds cmd/cloudgate and cmd/edgegate into a temporary
// directory, or uses the ones in $EDGEGATE_BIN_DIR when it is set (a CI that
// built them already).
func buildBinaries(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("EDGEGATE_BIN_DIR"); dir != "" {
		return dir
	}
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "../../cmd/cloudgate", "../../cmd/edgegate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build cloudgate and edgegate: %v\n%s", err, out)
	}
	t.Logf("built cloudgate and edgegate in %v", time.Since(start).Round(time.Millisecond))
	return dir
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// process is a running child process.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error // set before done is closed
}

// startProcess runs bin with args; the test's cleanup stops it and logs its
// output when the test failed.
func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
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
			t.Logf("--- output of %s ---\n%s", name, p.out)
		}
	})
	return p
}

// stop sends SIGTERM and waits up to 10 s, then kills.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Logf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop within 10 s of SIGTERM; killing it", p.name)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Logf("kill %s: %v", p.name, err)
		}
		<-p.done
	}
}

// gate is a running cloudgate serve.
type gate struct {
	url        string
	dataDir    string
	adminToken string
	client     *http.Client // trusts the gate's development CA
	proc       *process
}

// startGate starts cloudgate serve and waits until it answers over HTTPS.
func startGate(t *testing.T, bins string) *gate {
	t.Helper()
	addr := freeAddr(t)
	g := &gate{url: "https://" + addr, dataDir: t.TempDir()}
	p := startProcess(t, "cloudgate", nil, filepath.Join(bins, "cloudgate"), "serve", "--data-dir", g.dataDir, "--listen", addr, "--geo", "local")
	g.proc = p
	waitFor(t, 20*time.Second, "cloudgate to create its CA and admin token", func() error {
		select {
		case <-p.done:
			return fmt.Errorf("cloudgate exited: %v", p.err)
		default:
		}
		tok, err := os.ReadFile(filepath.Join(g.dataDir, "admin-token"))
		if err != nil {
			return err
		}
		g.adminToken = strings.TrimSpace(string(tok))
		ca, err := os.ReadFile(filepath.Join(g.dataDir, "ca.pem"))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return errors.New("ca.pem holds no certificate")
		}
		g.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		return nil
	})
	waitFor(t, 20*time.Second, "cloudgate to serve the console", func() error {
		code, _, err := get(g.client, g.url+"/console/")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET /console/: %d", code)
		}
		return err
	})
	return g
}

// startGateway runs edgegate with the token and license the console showed.
func startGateway(t *testing.T, bins, token, license, listen, admin string) *process {
	t.Helper()
	dir := t.TempDir()
	tokFile, licFile := filepath.Join(dir, "cloud-token"), filepath.Join(dir, "license.key")
	for f, v := range map[string]string{tokFile: token, licFile: license} {
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return startProcess(t, "edgegate", nil, filepath.Join(bins, "edgegate"), "run",
		"--cloud-token-file", tokFile, "--license-file", licFile, "--data-dir", filepath.Join(dir, "data"),
		"--listen", listen, "--admin-listen", admin)
}

// get fetches url and returns the status and body.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return resp.StatusCode, string(b), err
}

// waitFor polls cond every 100 ms until it returns nil or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting %v for %s: %v", d, what, err)
		case <-tick.C:
		}
	}
}
