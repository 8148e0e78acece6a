package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedBackend answers each request head by the request's path:
// answers[path] is written as is; "/hang" gets no answer until the client
// closes the connection. It counts the connections it accepted.
type scriptedBackend struct {
	addr    string
	answers map[string]string
	accepts atomic.Int32
}

func newScriptedBackend(t *testing.T, answers map[string]string) *scriptedBackend {
	b := &scriptedBackend{answers: answers}
	b.addr = serveLoopback(t, func(c net.Conn) {
		b.accepts.Add(1)
		b.serve(c)
	})
	return b
}

// serveLoopback runs serve on each connection a loopback listener accepts
// until the test ends, then closes the listener and every connection and
// waits for the serve calls to return. It returns the listener's address.
func serveLoopback(tb testing.TB, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	tb.Cleanup(func() {
		_ = ln.Close() // ends the accept loop
		mu.Lock()
		for _, c := range conns {
			_ = c.Close() // ends its serve call
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serve(c) })
		}
	})
	return ln.Addr().String()
}

func (b *scriptedBackend) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		_, path, _ := strings.Cut(line, " ")
		path, _, _ = strings.Cut(path, " ")
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(l) <= 2 {
				break
			}
		}
		answer, ok := b.answers[path]
		if !ok {
			continue // "/hang": no answer
		}
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
		if strings.HasPrefix(path, "/close") {
			_ = c.Close() // the answer's body ends with the connection
			return
		}
	}
}

func getReq(ctx context.Context, addr, path string) *http.Request {
	return (&http.Request{Method: "GET", URL: &url.URL{Path: path}, Host: addr, Header: http.Header{}}).WithContext(ctx)
}

// roundTripBody makes one exchange and reads the whole body.
func roundTripBody(t *testing.T, cl *h1Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestH1ClientFraming(t *testing.T) {
	be := newScriptedBackend(t, map[string]string{
		"/length":  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n",
		"/empty":   "HTTP/1.1 204 No Content\r\n\r\n",
		"/early":   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/close":   "HTTP/1.1 200 OK\r\n\r\nuntil the end",
	})
	cl := newH1Client(be.addr, &httpClientConfig{})
	t.Cleanup(cl.CloseIdleConnections)
	cases := []struct {
		path, body string
		trailer    string
		close      bool
		accepts    int32 // connections the backend saw after the request
	}{
		{"/length", "hello", "", false, 1},
		{"/chunked", "hello", "42", false, 1},
		{"/empty", "", "", false, 1},
		{"/early", "ok", "", false, 1},
		{"/length", "hello", "", false, 1},
		{"/close", "until the end", "", true, 1},
		{"/length", "hello", "", false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := roundTripBody(t, cl, getReq(context.Background(), be.addr, tc.path))
			if body != tc.body || resp.Close != tc.close || resp.Trailer.Get("X-Sum") != tc.trailer {
				t.Fatalf("body %q close %v trailer %v", body, resp.Close, resp.Trailer)
			}
			if n := be.accepts.Load(); n != tc.accepts {
				t.Fatalf("backend saw %d connections, want %d", n, tc.accepts)
			}
		})
	}
}

// TestH1ClientReadTimeout: a reused connection whose read deadline was
// kept from the exchange before still times out, and not before
// readTimeout.
func TestH1ClientReadTimeout(t *testing.T) {
	be := newScriptedBackend(t, map[string]string{"/length": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"})
	cl := newH1Client(be.addr, &httpClientConfig{HTTP: httpOptions{ReadTimeout: 150}})
	t.Cleanup(cl.CloseIdleConnections)
	roundTripBody(t, cl, getReq(context.Background(), be.addr, "/length"))
	start := time.Now()
	_, err := cl.RoundTrip(getReq(context.Background(), be.addr, "/hang"))
	if elapsed := time.Since(start); !isTimeout(err) || elapsed < 150*time.Millisecond {
		t.Fatalf("after %v: %v, want a timeout after readTimeout", elapsed, err)
	}
}

// TestH1ClientExpiredDeadlineIdle: a connection that idled past its kept
// read deadline is reused, not taken for one the upstream closed.
func TestH1ClientExpiredDeadlineIdle(t *testing.T) {
	be := newScriptedBackend(t, map[string]string{"/length": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"})
	cl := newH1Client(be.addr, &httpClientConfig{HTTP: httpOptions{ReadTimeout: 60}})
	t.Cleanup(cl.CloseIdleConnections)
	roundTripBody(t, cl, getReq(context.Background(), be.addr, "/length"))
	time.Sleep(100 * time.Millisecond) // past the deadline the exchange kept
	roundTripBody(t, cl, getReq(context.Background(), be.addr, "/length"))
	if n := be.accepts.Load(); n != 1 {
		t.Fatalf("backend saw %d connections, want 1", n)
	}
}

// TestH1ClientCancel: ending the request's context aborts the wait for
// the answer, and the connection is not reused.
func TestH1ClientCancel(t *testing.T) {
	be := newScriptedBackend(t, map[string]string{"/length": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"})
	cl := newH1Client(be.addr, &httpClientConfig{})
	t.Cleanup(cl.CloseIdleConnections)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := cl.RoundTrip(getReq(ctx, be.addr, "/hang"))
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for be.accepts.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polls for the request to reach the backend
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a canceled exchange succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("canceling did not abort the read")
	}
	roundTripBody(t, cl, getReq(context.Background(), be.addr, "/length"))
	if n := be.accepts.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2 (the canceled one is dropped)", n)
	}
}

// TestH1ClientBodyClosedEarly: a body closed before its end closes the
// connection; reading after Close fails.
func TestH1ClientBodyClosedEarly(t *testing.T) {
	be := newScriptedBackend(t, map[string]string{"/length": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"})
	cl := newH1Client(be.addr, &httpClientConfig{})
	t.Cleanup(cl.CloseIdleConnections)
	resp, err := cl.RoundTrip(getReq(context.Background(), be.addr, "/length"))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Fatalf("read after close: %v", err)
	}
	roundTripBody(t, cl, getReq(context.Background(), be.addr, "/length"))
	if n := be.accepts.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2", n)
	}
}
