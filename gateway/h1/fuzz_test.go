package h1

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRequest checks that the parser never panics, that it reads a
// head the same whether it arrives at once or a byte at a time, and that
// every request it accepts is one net/http also accepts, with the same
// method, host, path, query, body length and header fields (the parser is
// stricter, never looser).
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET http://h/x%20y HTTP/1.1\r\nHost: h\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"GET /%zz?%x HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := parseOne(t, raw)
		req2, err2 := parseOneByOne(t, raw)
		if statusOf(err) != statusOf(err2) || (err == nil) != (err2 == nil) {
			t.Fatalf("at once: %v, by byte: %v: %q", err, err2, raw)
		}
		if err != nil {
			return
		}
		if req.Method != req2.Method || req.RequestURI != req2.RequestURI || req.Host != req2.Host ||
			req.ContentLength != req2.ContentLength || !reflect.DeepEqual(req.Header, req2.Header) {
			t.Fatalf("at once and by byte disagree on %q:\n%+v\n%+v", raw, req, req2)
		}
		// The server skips empty lines before a request line (RFC 9112
		// 2.2); http.ReadRequest does not.
		trimmed := raw
		for strings.HasPrefix(trimmed, "\n") || strings.HasPrefix(trimmed, "\r\n") {
			trimmed = trimmed[strings.IndexByte(trimmed, '\n')+1:]
		}
		std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(trimmed)))
		if err != nil {
			t.Fatalf("accepted what net/http refuses (%v): %q", err, raw)
		}
		if req.Method != std.Method || req.Host != std.Host || req.URL.Path != std.URL.Path ||
			req.URL.RawQuery != std.URL.RawQuery || req.ContentLength != std.ContentLength || req.Close != std.Close {
			t.Fatalf("disagrees with net/http on %q:\n got %s %s %s %s %d %v\nwant %s %s %s %s %d %v", raw,
				req.Method, req.Host, req.URL.Path, req.URL.RawQuery, req.ContentLength, req.Close,
				std.Method, std.Host, std.URL.Path, std.URL.RawQuery, std.ContentLength, std.Close)
		}
		// net/http re-frames these: the server keeps them as sent.
		std.Header.Del("Content-Length")
		std.Header.Del("Transfer-Encoding")
		got := req.Header.Clone()
		got.Del("Content-Length")
		if len(std.Header) == 0 {
			std.Header = nil
		}
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, std.Header) {
			t.Fatalf("header fields differ from net/http's on %q:\n got %q\nwant %q", raw, got, std.Header)
		}
		_, _ = io.Copy(io.Discard, req.Body) // body reads must not panic either
	})
}
