package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// edgeGateway serves one key-less API on a real HTTP listener with the
// given limits and returns the listener's address.
func edgeGateway(t *testing.T, lim Limits) (addr string, be *backend) {
	t.Helper()
	be = newBackend(t, "a")
	g, err := New(Options{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, apiJSON("api", "/api", []string{be.URL}, nil))}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, Listeners{HTTPListener: l}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String(), be
}

// rawExchange writes raw bytes and returns the status line and what follows.
func rawExchange(t *testing.T, addr string, chunks ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ch := range chunks {
		if _, err := io.WriteString(c, ch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // makes separate TCP segments likely; correctness does not depend on it
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "error: " + err.Error()
	}
	body, _ := io.ReadAll(resp.Body) // status is what the tests look at
	resp.Body.Close()
	return resp.Status + " " + string(body)
}

func TestSmugglingAndLimits(t *testing.T) {
	addr, be := edgeGateway(t, Limits{})
	big := strings.Repeat("a", 70<<10)
	cases := []struct {
		name   string
		chunks []string
		status string
	}{
		{"plain", []string{"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n"}, "200"},
		{"split headers", []string{"GET /api/x HT", "TP/1.1\r\nHo", "st: h\r\nX-A: 1\r", "\n\r\n"}, "200"},
		{"duplicate content-length", []string{"POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"}, "400"},
		{"content-length plus chunked", []string{"POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, "400"},
		{"obs-fold", []string{"GET /api/x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n"}, "400"},
		{"bad transfer-encoding", []string{"POST /api/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"}, "501"},
		{"oversized headers", []string{"GET /api/x HTTP/1.1\r\nHost: h\r\nX-Big: " + big + "\r\n\r\n"}, "431"},
		{"space before colon", []string{"GET /api/x HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc"}, "400"},
		{"missing host", []string{"GET /api/x HTTP/1.1\r\n\r\n"}, "400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := be.count()
			got := rawExchange(t, addr, tc.chunks...)
			if !strings.HasPrefix(got, tc.status) {
				t.Fatalf("got %q, want %s", got[:min(len(got), 120)], tc.status)
			}
			if tc.status != "200" && be.count() != before {
				t.Fatal("a refused request reached the backend")
			}
		})
	}
}

func TestSlowHeadersAreCut(t *testing.T) {
	addr, _ := edgeGateway(t, Limits{ReadHeaderTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: h\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(c) // the server closes the connection
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatal("slow headers were not cut by the header timeout")
	}
}

func TestSlowlorisLeavesGatewayServing(t *testing.T) {
	addr, _ := edgeGateway(t, Limits{})
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: h\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + addr + "/api/x")
	if err != nil {
		t.Fatalf("gateway not serving with %d slow connections open: %v", n, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestConnectionCap(t *testing.T) {
	addr, _ := edgeGateway(t, Limits{MaxConns: 2})
	hold := make([]net.Conn, 0, 2)
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hold = append(hold, c)
	}
	// The third connection is accepted by the kernel but not served until
	// one of the first two closes.
	cl := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{}}
	if _, err := cl.Get("http://" + addr + "/api/x"); err == nil {
		t.Fatal("a third connection was served beyond the cap")
	}
	hold[0].Close()
	cl2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer cl2.CloseIdleConnections()
	resp, err := cl2.Get("http://" + addr + "/api/x")
	if err != nil {
		t.Fatalf("not served after a slot freed: %v", err)
	}
	resp.Body.Close()
}

func TestFrameScanner(t *testing.T) {
	cases := []struct {
		name string
		in   string
		bad  bool
	}{
		{"get", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"body looks like headers", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n folded\r\nTransfer-Encoding: x\r\n\r\n123\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"chunked body looks like headers", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n fold\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", false},
		{"cl and te", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"te and cl lower case", "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n", true},
		{"obs-fold", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", true},
		{"smuggled in second request", "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"h2 preface stops scanning", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00 folded\r\n", false},
		{"upgrade stops scanning", "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\tbinary\r\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 3, 1 << 20} { // byte-by-byte, small reads, one read
				var s frameScanner
				bad := false
				for in := []byte(tc.in); len(in) > 0; {
					k := min(step, len(in))
					bad = s.scan(in[:k]) || bad
					in = in[k:]
				}
				if bad != tc.bad {
					t.Fatalf("read size %d: bad=%v, want %v", step, bad, tc.bad)
				}
			}
		})
	}
}

func FuzzFrameScanner(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var one, split frameScanner
		a := one.scan(b)
		c := false
		for i := 0; i < len(b); i += 7 {
			c = split.scan(b[i:min(i+7, len(b))]) || c
		}
		if a != c {
			t.Fatalf("verdict depends on read boundaries: %v vs %v", a, c)
		}
	})
}

func TestKeepAliveBodiesNotFlagged(t *testing.T) {
	addr, be := edgeGateway(t, Limits{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := "POST /api/a HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n x\r\ny\r\n" +
		"POST /api/b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\tz\r\n\r\n0\r\n\r\n" +
		"GET /api/c HTTP/1.1\r\nHost: h\r\n\r\n"
	if _, err := io.WriteString(c, msgs); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // next response follows
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("response %d: status %d", i, resp.StatusCode)
		}
	}
	if be.count() != 3 {
		t.Fatalf("backend saw %d requests", be.count())
	}
}
