package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestConformanceBinary runs every conformance case against the real
// bin/edgegate (`edgegate run --apis-dir`, keys in the directory's
// subscriptions.json) over HTTP/1.1, h2c, HTTP/2 and HTTP/3.
func TestConformanceBinary(t *testing.T) {
	bin := buildEdgegate(t)
	jwtKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	defs, subs := confAPIs(t, jwtKey)
	dir := t.TempDir()
	apis := filepath.Join(dir, "apis")
	if err := os.Mkdir(apis, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(apis, d["id"].(string)+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	subsJSON, err := json.Marshal(subs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(apis, "subscriptions.json"), subsJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	cert, pool := testCert(t)
	certFile, keyFile := writeCertFiles(t, dir, cert)
	httpAddr, tlsAddr, adminAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "run", "--apis-dir", apis, "--data-dir", filepath.Join(dir, "data"),
		"--listen", httpAddr, "--tls-listen", tlsAddr, "--tls-cert", certFile, "--tls-key", keyFile, "--admin-listen", adminAddr)
	logf, err := os.Create(filepath.Join(dir, "edgegate.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		err := cmd.Wait() // ctx.Err() after a clean exit on our interrupt
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			log, _ := os.ReadFile(logf.Name()) // shown to explain the failure
			t.Errorf("edgegate exited with %d (%v)\n%s", code, err, log)
		}
		logf.Close()
	})
	waitReady(t, "http://"+adminAddr+"/_node/ready", logf.Name())

	waitHealthy(t, &http.Client{Timeout: 5 * time.Second}, "http://"+httpAddr+"/hc/x")
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h3 := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(func() { h3.Close() })
	clients := []struct {
		name, short, base string
		rt                http.RoundTripper
		major             int
	}{
		{"HTTP/1.1", "h1", "http://" + httpAddr, &http.Transport{}, 1},
		{"h2c", "h2c", "http://" + httpAddr, h2c, 2},
		{"HTTP/2", "h2", "https://" + tlsAddr, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}, 2},
		{"HTTP/3", "h3", "https://" + tlsAddr, h3, 3},
	}
	cases := confCases(t, jwtKey)
	if len(cases) < 60 {
		t.Fatalf("only %d binary cases", len(cases))
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			c := &http.Client{Timeout: 10 * time.Second, Transport: cl.rt}
			defer c.CloseIdleConnections()
			if _, err := getWithRetry(c, cl.base+"/nope"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { runConfCase(t, c, cl.base, cl.short, cl.major, tc) })
			}
		})
	}
}

// buildEdgegate compiles ../cmd/edgegate into a temporary directory.
func buildEdgegate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgegate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/edgegate")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/edgegate: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address whose TCP and UDP ports were free.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

func writeCertFiles(t *testing.T, dir string, cert tls.Certificate) (string, string) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func waitReady(t *testing.T, url, logFile string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logFile) // shown to explain the failure
	t.Fatalf("edgegate not ready at %s:\n%s", url, log)
}
