package h1

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/cputime"
)

// benchServe measures keep-alive GETs over loopback against serve, which
// serves ln until the returned stop is called. The clients read the
// answers with http.ReadResponse, or, when lean, just skip the head's
// lines and the body's known length, so that the server's share of the
// CPU shows better.
func benchServe(b *testing.B, lean bool, serve func(net.Listener) func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	stop := serve(ln)
	defer stop()
	req := []byte("GET /bench/x HTTP/1.1\r\nHost: h\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	defer func() { b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op") }()
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
			if lean {
				if err := skipAnswer(br); err != nil {
					b.Error(err)
					return
				}
				continue
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

// skipAnswer reads a 200 answer to benchHandler: the head up to its empty
// line, then the body of known length.
func skipAnswer(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q", line)
	}
	for len(line) > 2 {
		if line, err = br.ReadSlice('\n'); err != nil {
			return err
		}
	}
	_, err = br.Discard(len(benchBody))
	return err
}

// cpuTime is the CPU time (user and system) the process has used: per
// request it is steadier than the wall time on a shared machine. It counts
// the benchmark's clients too.
func cpuTime(b *testing.B) time.Duration {
	total, _ := cputime.Used(b)
	return total
}

var benchBody = []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")

func benchHandler(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Header()["Content-Length"] = []string{"100"}
	_, _ = w.Write(benchBody)
}

func BenchmarkNetHTTP(b *testing.B) {
	benchServe(b, false, func(ln net.Listener) func() {
		s := &http.Server{Handler: http.HandlerFunc(benchHandler), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.Serve(ln) }() // ends at Close
		return func() { _ = s.Close() }
	})
}

func BenchmarkH1(b *testing.B) {
	benchServe(b, false, serveH1)
}

// BenchmarkH1Lean is BenchmarkH1 with clients that barely parse.
func BenchmarkH1Lean(b *testing.B) {
	benchServe(b, true, serveH1)
}

// serveH1 serves ln with a Server until the returned stop is called.
func serveH1(ln net.Listener) func() {
	s := &Server{Handler: http.HandlerFunc(benchHandler)}
	done := make(chan struct{})
	go func() { _ = s.Serve(ln); close(done) }() // ends at Shutdown
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-done
	}
}

// benchHead is a proxy client's request head like the api-key benchmark's.
const benchHead = "GET /api/echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8082\r\nUser-Agent: bench/1.0\r\n" +
	"Accept: */*\r\nAccept-Encoding: gzip\r\nX-Gravitee-Api-Key: 5f1c2b8e-3d4a-4f6b-9c7d-1e2f3a4b5c6d\r\n\r\n"

// BenchmarkReadRequest measures reading and parsing one request head on a
// reused connection, without the network.
func BenchmarkReadRequest(b *testing.B) {
	s := &Server{}
	s.init()
	c := &conn{srv: s, remote: "192.0.2.1:1234", tmpl: &http.Request{}, hdr: make(http.Header)}
	src := strings.NewReader(benchHead)
	c.br = bufio.NewReaderSize(src, readBufSize)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	defer func() { b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op") }()
	for b.Loop() {
		src.Reset(benchHead)
		c.br.Reset(src)
		if _, err := c.br.Peek(1); err != nil { // as waitRequest does
			b.Fatal(err)
		}
		req, err := c.readRequest()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.prepareBody(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteResponse measures writing a proxied answer's head and
// body (the header fields of an api-key plan's answer), without the
// network.
func BenchmarkWriteResponse(b *testing.B) {
	s := &Server{}
	s.init()
	c := &conn{srv: s, remote: "192.0.2.1:1234", tmpl: &http.Request{}, hdr: make(http.Header)}
	c.bw = bufio.NewWriterSize(io.Discard, writeBufSize)
	c.w.c = c
	c.w.hdr = make(http.Header)
	req := &http.Request{Method: http.MethodGet, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}}
	fields := http.Header{
		"Content-Type": {"text/plain"}, "Content-Length": {"100"}, "Date": {"Thu, 26 Nov 2026 18:00:00 GMT"},
		"X-Gravitee-Transaction-Id": {"0b9c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e"},
		"X-Gravitee-Request-Id":     {"1c2d3e4f-5a6b-7c8d-9e0f-1a2b3c4d5e6f"},
		"X-Rate-Limit-Limit":        {"100000000"}, "X-Rate-Limit-Remaining": {"99999999"}, "X-Rate-Limit-Reset": {"1795716000000"},
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	defer func() { b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op") }()
	for b.Loop() {
		c.w.reset(req)
		h := c.w.Header()
		for k, vv := range fields {
			h[k] = vv // the response never changes a handler's slices
		}
		_, _ = c.w.Write(benchBody)
		if !c.w.finish() {
			b.Fatal("connection not reusable")
		}
	}
}
