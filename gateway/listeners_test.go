package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgegate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// served is a gateway running Serve on loopback listeners.
type served struct {
	g                  *Gateway
	httpURL, tlsURL    string
	pool               *x509.CertPool
	cert               tls.Certificate
	cancel             context.CancelFunc
	done               chan error
	stopOnce           sync.Once
	h1, h2c, h2, h3cli *http.Client
}

func startServe(t *testing.T, g *Gateway) *served {
	t.Helper()
	cert, pool := testCert(t)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{g: g, httpURL: "http://" + hl.Addr().String(), tlsURL: "https://" + tl.Addr().String(),
		pool: pool, cert: cert, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- g.Serve(ctx, Listeners{HTTPListener: hl, TLSListener: tl, QUICConn: pc,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}})
	}()
	t.Cleanup(func() {
		s.stop(t)
		pc.Close()
	})
	s.h1 = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	s.h2c = &http.Client{Timeout: 10 * time.Second, Transport: h2c}
	s.h2 = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	s.h3cli = &http.Client{Timeout: 10 * time.Second, Transport: &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(func() {
		for _, c := range []*http.Client{s.h1, s.h2c, s.h2, s.h3cli} {
			c.CloseIdleConnections()
		}
		if tr, ok := s.h3cli.Transport.(*http3.Transport); ok {
			tr.Close()
		}
	})
	return s
}

func (s *served) stop(t *testing.T) {
	s.stopOnce.Do(func() { s.stop1(t) })
}

func (s *served) stop1(t *testing.T) {
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok && err != nil {
			t.Errorf("serve: %v", err)
		}
		close(s.done)
	case <-time.After(15 * time.Second):
		t.Error("serve did not shut down")
	}
}

// protocols lists each client with the base URL it uses and the protocol
// it must negotiate.
func (s *served) protocols() []struct {
	name, base string
	c          *http.Client
	major      int
} {
	return []struct {
		name, base string
		c          *http.Client
		major      int
	}{
		{"HTTP/1.1", s.httpURL, s.h1, 1},
		{"h2c", s.httpURL, s.h2c, 2},
		{"HTTP/2", s.tlsURL, s.h2, 2},
		{"HTTP/3", s.tlsURL, s.h3cli, 3},
	}
}

func TestServeAllProtocols(t *testing.T) {
	be := newBackend(t, "a")
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, apiJSON("api", "/api", []string{be.URL}, nil))}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	for _, p := range s.protocols() {
		t.Run(p.name, func(t *testing.T) {
			resp, err := getWithRetry(p.c, p.base+"/api/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != p.major {
				t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
			}
			if wantAlt := p.major == 2 && p.name == "HTTP/2"; wantAlt != (resp.Header.Get("Alt-Svc") != "") {
				t.Fatalf("Alt-Svc %q", resp.Header.Get("Alt-Svc"))
			}
		})
	}
}

// getWithRetry retries briefly while listeners come up.
func getWithRetry(c *http.Client, url string) (*http.Response, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil || time.Now().After(deadline) {
			return resp, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
