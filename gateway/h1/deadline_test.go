package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// plainListener hides the accepted connections' SyscallConn, so the
// server sets its deadlines eagerly.
type plainListener struct{ net.Listener }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// serveOn serves s on a loopback listener (wrapped by wrap, unless nil)
// until the test ends; the cleanup checks that Shutdown and Serve end
// cleanly.
func serveOn(t *testing.T, s *Server, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestDeadlines checks the idle and header timeouts around keep-alive
// requests, with lazy deadlines (a TCP connection) and eager ones (a
// wrapped connection). The header timeout is short, the idle timeout
// longer than the client waits: a connection closed within the client's
// wait was cut by the header timeout.
func TestDeadlines(t *testing.T) {
	const header = 200 * time.Millisecond
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * header) // the head's deadline passes meanwhile
		}
		_, _ = io.WriteString(w, "ok")
	})
	// A step writes its text, then pauses, or reads one answer ("<").
	type step struct {
		write string
		pause time.Duration
	}
	const read = "<"
	tests := []struct {
		name   string
		steps  []step
		closed bool // the server closes the connection at the end
	}{
		{"partial head after a request", []step{{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0}, {read, 0}, {"GET / HTTP/1.1\r\nHost: h\r\n", 0}}, true},
		{"partial first head", []step{{"GET / HTTP/1.1\r\n", 0}}, true},
		{"head in two parts", []step{{"GET / HTTP/1.1\r\n", 50 * time.Millisecond}, {"Host: h\r\n\r\n", 0}, {read, 0}}, false},
		{"next request while the head's deadline passes", []step{
			{"GET /slow HTTP/1.1\r\n", 50 * time.Millisecond}, {"Host: h\r\n\r\n", header / 2},
			{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0}, {read, 0}, {read, 0},
		}, false},
		{"idle while the head's deadline passes", []step{
			{"GET / HTTP/1.1\r\n", 50 * time.Millisecond}, {"Host: h\r\n\r\n", 0}, {read, 0},
			{"", 2 * header}, {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0}, {read, 0},
		}, false},
		{"idle after the head's deadline passed", []step{
			{"GET /slow HTTP/1.1\r\n", 50 * time.Millisecond}, {"Host: h\r\n\r\n", 0}, {read, 0},
			{"", 2 * header}, {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0}, {read, 0},
		}, false},
	}
	modes := []struct {
		name string
		wrap func(net.Listener) net.Listener
	}{
		{"lazy", func(ln net.Listener) net.Listener { return ln }},
		{"eager", func(ln net.Listener) net.Listener { return plainListener{ln} }},
	}
	for _, m := range modes {
		addr := serveOn(t, &Server{Handler: slow, ReadHeaderTimeout: header, IdleTimeout: time.Minute}, m.wrap)
		for _, tc := range tests {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c := dialTimed(t, addr)
				br := bufio.NewReader(c)
				for i, s := range tc.steps {
					if s.write == read {
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						b, err := io.ReadAll(resp.Body)
						if err != nil || string(b) != "ok" {
							t.Fatalf("step %d: body %q, %v", i, b, err)
						}
						continue
					}
					if _, err := io.WriteString(c, s.write); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					time.Sleep(s.pause)
				}
				if !tc.closed {
					return
				}
				// Closed long before the idle timeout and the client's deadline.
				if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
					t.Fatalf("connection not closed by the server: %v", err)
				}
			})
		}
	}
}

func TestHeadComplete(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"GET / HTTP/1.1\nHost: h\n\n", true},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", true},
		{"GET / HTTP/1.1\r\nHost: h\r\n", false},
		{"GET / HTTP/1.1\r\nHost: h\r\n\r", false},
		{"GET / HTT", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := headComplete([]byte(tc.in)); got != tc.want {
				t.Fatalf("headComplete(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
