package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryServeAndSIGTERM builds the real binary, starts `cloudgate
// serve`, checks it answers over HTTPS with the CA it wrote, and that
// SIGTERM stops it cleanly (exit 0).
func TestBinaryServeAndSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cloudgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "--data-dir", data, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // only if the test failed before SIGTERM
		}
	})

	url := waitServing(t, lines)
	caPEM, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest := []string{}
	for l := range lines {
		rest = append(rest, l)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(strings.Join(rest, "\n"), "cloudgate: stopped") {
		t.Fatalf("no clean stop message: %v", rest)
	}
}

var servingRE = regexp.MustCompile(`serving (https://127\.0\.0\.1:\d+)`)

func waitServing(t *testing.T, lines <-chan string) string {
	t.Helper()
	var seen []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited early: %v", seen)
			}
			seen = append(seen, l)
			if m := servingRE.FindStringSubmatch(l); m != nil {
				for _, want := range []string{"ca.pem", "admin-token", "token signing key", "license signing key", "cloudgate.db"} {
					if !strings.Contains(strings.Join(seen, "\n"), want) {
						t.Errorf("startup lines do not say where %s is: %v", want, seen)
					}
				}
				return m[1]
			}
		case <-timeout:
			t.Fatalf("serve did not start: %v", seen)
		}
	}
}
