package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// nginxAnswer is what the benchmark's nginx backend sends for its 100-byte
// body.
const nginxAnswer = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 15:00:00 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n" +
	"edgegate benchmark backend: a fixed body of one hundred bytes, the same for every target measured!!\n"

// cannedBackend answers every request head it reads on a loopback
// listener with answer; it serves until the test ends.
func cannedBackend(tb testing.TB, answer string) string {
	return serveLoopback(tb, func(c net.Conn) { serveCanned(c, answer) })
}

// serveCanned answers each request head on c until the client closes c.
func serveCanned(c net.Conn, answer string) {
	defer func() { _ = c.Close() }() // the client is gone
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if len(line) > 2 {
			continue
		}
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
	}
}

// BenchmarkH1ClientExchange is one upstream exchange of the keyless
// benchmark: request out, nginx's 100-byte answer in, body read, closed.
func BenchmarkH1ClientExchange(b *testing.B) {
	addr := cannedBackend(b, nginxAnswer)
	cl := newH1Client(addr, &httpClientConfig{})
	defer cl.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background()) // like a client connection's
	defer cancel()
	req := (&http.Request{
		Method: "GET", URL: &url.URL{Path: "/bench/"}, Host: addr, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"User-Agent": {"wrk"}, "X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}},
	}).WithContext(ctx)
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := cl.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.ReadFull(resp.Body, buf[:100])
		if err != nil || n != 100 || !strings.HasPrefix(string(buf[:8]), "edgegate") {
			b.Fatalf("body: %d %v", n, err)
		}
		if _, err := resp.Body.Read(buf); err != io.EOF {
			b.Fatalf("after the body: %v", err)
		}
		if err := resp.Body.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
