package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// benchServe measures keep-alive GETs over loopback against serve, which
// serves ln until the returned stop is called.
func benchServe(b *testing.B, serve func(net.Listener) func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	stop := serve(ln)
	defer stop()
	req := []byte("GET /bench/x HTTP/1.1\r\nHost: h\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body) // drained for the next answer
			resp.Body.Close()
		}
	})
}

var benchBody = []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")

func benchHandler(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Header()["Content-Length"] = []string{"100"}
	_, _ = w.Write(benchBody)
}

func BenchmarkNetHTTP(b *testing.B) {
	benchServe(b, func(ln net.Listener) func() {
		s := &http.Server{Handler: http.HandlerFunc(benchHandler), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.Serve(ln) }() // ends at Close
		return func() { _ = s.Close() }
	})
}

func BenchmarkH1(b *testing.B) {
	benchServe(b, func(ln net.Listener) func() {
		s := &Server{Handler: http.HandlerFunc(benchHandler)}
		done := make(chan struct{})
		go func() { _ = s.Serve(ln); close(done) }() // ends at Shutdown
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
			<-done
		}
	})
}
