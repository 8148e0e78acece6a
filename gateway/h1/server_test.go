package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testServer serves h on a loopback listener until the test ends; the
// cleanup checks that Shutdown and Serve end cleanly.
func testServer(t *testing.T, s *Server) string {
	t.Helper()
	return serveOn(t, s, nil)
}

// dialTimed connects to addr with a 5 s deadline on everything; the
// connection closes when the test ends.
func dialTimed(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// echo answers "method path body" and honours a few test headers.
func echo(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Test") == "noread" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.Header.Get("X-Test") {
	case "stream":
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		return
	case "big":
		_, _ = io.WriteString(w, strings.Repeat("z", 10000))
		return
	case "trailer":
		w.Header().Set("Trailer", "X-T")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-T", "done")
		return
	case "panic":
		panic("test panic")
	case "hijack":
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nraw")
		_ = brw.Flush()
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
}

// rawDo writes raw to a new connection and reads n responses.
func rawDo(t *testing.T, addr, raw string, n int) ([]*http.Response, []string, *bufio.Reader, net.Conn) {
	t.Helper()
	c := dialTimed(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for i := range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		resps, bodies = append(resps, resp), append(bodies, string(b))
	}
	return resps, bodies, br, c
}

// closedByServer reports whether the server closed c (EOF on read).
func closedByServer(br *bufio.Reader) bool {
	_, err := br.ReadByte()
	return errors.Is(err, io.EOF)
}

func TestServeExchanges(t *testing.T) {
	addr := testServer(t, &Server{Handler: http.HandlerFunc(echo)})
	tests := []struct {
		name   string
		raw    string
		n      int
		want   []string // bodies
		closed bool     // the server closes after the last answer
		check  func(t *testing.T, resps []*http.Response)
	}{
		{"pipelined", "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			3, []string{"GET /a ", "POST /b hi", "GET /c "}, true, func(t *testing.T, r []*http.Response) {
				if r[0].ContentLength != 7 || r[0].Header.Get("Date") == "" {
					t.Fatalf("first answer: length %d, header %v", r[0].ContentLength, r[0].Header)
				}
			}},
		{"chunked body with trailer", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Tr: 1\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n",
			2, []string{"POST /x abcde", "GET /y "}, false, nil},
		{"unread body is drained", "POST /skip HTTP/1.1\r\nHost: h\r\nX-Test: big\r\nContent-Length: 5\r\n\r\n12345GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
			2, []string{strings.Repeat("z", 10000), "GET /next "}, false, nil},
		{"streamed answer is chunked", "GET /s HTTP/1.1\r\nHost: h\r\nX-Test: stream\r\n\r\n", 1, []string{"part0;part1;part2;"}, false,
			func(t *testing.T, r []*http.Response) {
				if len(r[0].TransferEncoding) != 1 || r[0].Header.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Fatalf("framing %v, header %v", r[0].TransferEncoding, r[0].Header)
				}
			}},
		{"long answer is chunked", "GET /b HTTP/1.1\r\nHost: h\r\nX-Test: big\r\n\r\n", 1, []string{strings.Repeat("z", 10000)}, false,
			func(t *testing.T, r []*http.Response) {
				if r[0].ContentLength != -1 {
					t.Fatalf("length %d", r[0].ContentLength)
				}
			}},
		{"trailer", "GET /t HTTP/1.1\r\nHost: h\r\nX-Test: trailer\r\n\r\n", 1, []string{"body"}, false,
			func(t *testing.T, r []*http.Response) {
				if r[0].Trailer.Get("X-T") != "done" {
					t.Fatalf("trailer %v", r[0].Trailer)
				}
			}},
		{"refused expectation closes", "POST /e HTTP/1.1\r\nHost: h\r\nX-Test: noread\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
			1, []string{""}, true, func(t *testing.T, r []*http.Response) {
				if r[0].StatusCode != 403 || !r[0].Close {
					t.Fatalf("status %d, close %v", r[0].StatusCode, r[0].Close)
				}
			}},
		{"http/1.0", "GET /old HTTP/1.0\r\n\r\n", 1, []string{"GET /old "}, true, nil},
		{"http/1.0 keep-alive", "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, []string{"GET /old "}, false,
			func(t *testing.T, r []*http.Response) {
				if r[0].Header.Get("Connection") != "keep-alive" {
					t.Fatalf("header %v", r[0].Header)
				}
			}},
		{"bad request closes", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 1, []string{"obsolete line folding is not accepted"}, true,
			func(t *testing.T, r []*http.Response) {
				if r[0].StatusCode != 400 {
					t.Fatalf("status %d", r[0].StatusCode)
				}
			}},
		{"oversized headers", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 70<<10) + "\r\n\r\n", 1, nil, true,
			func(t *testing.T, r []*http.Response) {
				if r[0].StatusCode != 431 {
					t.Fatalf("status %d", r[0].StatusCode)
				}
			}},
		{"smuggling attempt closes", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", 1, nil, true,
			func(t *testing.T, r []*http.Response) {
				if r[0].StatusCode != 400 {
					t.Fatalf("status %d", r[0].StatusCode)
				}
			}},
		{"panic closes", "GET /p HTTP/1.1\r\nHost: h\r\nX-Test: panic\r\n\r\n", 0, nil, true, nil},
		{"hijack", "GET /h HTTP/1.1\r\nHost: h\r\nX-Test: hijack\r\n\r\n", 1, []string{"raw"}, true,
			func(t *testing.T, r []*http.Response) {
				if r[0].StatusCode != 200 {
					t.Fatalf("status %d", r[0].StatusCode)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resps, bodies, br, _ := rawDo(t, addr, tc.raw, tc.n)
			for i, want := range tc.want {
				if bodies[i] != want {
					t.Fatalf("body %d = %.80q, want %.80q", i, bodies[i], want)
				}
			}
			if tc.check != nil {
				tc.check(t, resps)
			}
			if tc.closed && !closedByServer(br) {
				t.Fatal("connection left open")
			}
		})
	}
}

func TestHeadAndContinue(t *testing.T) {
	addr := testServer(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // an error shows in the answer
		w.Header().Set("Content-Length", itoa(len(b)+2))
		_, _ = io.WriteString(w, "ok"+string(b))
	})})
	c := dialTimed(t, addr)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || resp.ContentLength != 2 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("continue line %q %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "abc"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "okabc" {
		t.Fatalf("body %q", b)
	}
}

func TestTimeouts(t *testing.T) {
	addr := testServer(t, &Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	tests := []struct{ name, raw string }{
		{"slow headers", "GET / HTTP/1.1\r\nHost: h\r\n"},
		{"idle after a request", "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"silent client", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(c); err != nil {
				t.Fatalf("connection not closed by the server: %v", err)
			}
		})
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	_, _, idleBr, _ := rawDo(t, addr, "GET /idle HTTP/1.1\r\nHost: h\r\n\r\n", 1)
	got := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n") // a failure shows as a wrong answer
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		got <- fmt.Sprintf("%s close=%v", b, resp.Close)
	}()
	<-arrived
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if !closedByServer(idleBr) {
		t.Fatal("idle connection not closed by Shutdown")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	close(release)
	if g := <-got; g != "done close=true" {
		t.Fatalf("in-flight request got %q", g)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatal(err)
	}
	// A connection goroutine signals Shutdown (untrack) just before it
	// returns: give it a moment to be gone, then look.
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "h1.(*conn)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection goroutines left after Shutdown:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHandOffHTTP2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewConnListener(ln.Addr())
	h2 := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	h2.Protocols.SetHTTP1(true)
	h2done := make(chan error, 1)
	go func() { h2done <- h2.Serve(fl) }()
	s := &Server{Handler: http.HandlerFunc(echo), HandOff: fl.Push}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/2.0" {
		t.Fatalf("got %q", b)
	}
	_, bodies, _, _ := rawDo(t, ln.Addr().String(), "GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", 1)
	if bodies[0] != "HTTP/1.1" {
		t.Fatalf("h2c upgrade request answered %q, want net/http's answer", bodies[0])
	}
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := errors.Join(s.Shutdown(ctx), h2.Shutdown(ctx)); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(<-done, <-h2done); !errors.Is(err, ErrServerClosed) {
		t.Fatal(err)
	}
}

func TestShutdownDeadlineClosesTheRest(t *testing.T) {
	arrived := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // ends when Shutdown gives up waiting
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestConnListener(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l := NewConnListener(&net.TCPAddr{})
	go func() { _ = l.Push(a) }() // taken by Accept below
	got, err := l.Accept()
	if err != nil || got != a {
		t.Fatalf("accept: %v %v", got, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Push(a); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}
