package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// parseOne parses one request from raw as a connection would.
func parseOne(t testing.TB, raw string) (*http.Request, error) {
	t.Helper()
	s := &Server{}
	s.init()
	c := &conn{srv: s, remote: "192.0.2.1:1234", tmpl: &http.Request{}, hdr: http.Header{}}
	c.br = bufio.NewReaderSize(strings.NewReader(raw), readBufSize)
	c.bw = bufio.NewWriter(io.Discard)
	c.w.c = c
	req, err := c.readRequest()
	if err != nil {
		return nil, err
	}
	if err := c.prepareBody(req); err != nil {
		return nil, err
	}
	return req, nil
}

func statusOf(err error) int {
	var pe *parseError
	if errors.As(err, &pe) {
		return pe.status
	}
	return 0
}

func TestParseRequest(t *testing.T) {
	big := strings.Repeat("a", 70<<10)
	tests := []struct {
		name   string
		raw    string
		status int    // 0: accepted
		check  string // "method|host|path|rawpath|query|cl|close"
	}{
		{"simple", "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", 0, "GET|h|/a/b||x=1|0|false"},
		{"lower-case names", "GET / HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n\r\nabc", 0, "GET|h|/|||3|false"},
		{"escaped path", "GET /a%2Fb/c%20d HTTP/1.1\r\nHost: h\r\n\r\n", 0, "GET|h|/a/b/c d|/a%2Fb/c%20d||0|false"},
		{"absolute form", "GET http://example.com/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 0, "GET|example.com|/p||q|0|false"},
		{"http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", 0, "GET||/|||0|true"},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, "GET||/|||0|false"},
		{"connection close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", 0, "GET|h|/|||0|true"},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, "GET|h|/|||0|false"},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\n", 0, "GET|h|/|||0|false"},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, "POST|h|/|||-1|false"},
		{"same content-length twice", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 0, "POST|h|/|||1|false"},
		{"value whitespace trimmed", "GET / HTTP/1.1\r\nHost: \t h \t\r\n\r\n", 0, "GET|h|/|||0|false"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", 400, ""},
		{"content-length and chunked", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400, ""},
		{"conflicting content-length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, ""},
		{"content-length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 400, ""},
		{"negative content-length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\n", 400, ""},
		{"no colon", "GET / HTTP/1.1\r\nHost: h\r\nnonsense\r\n\r\n", 400, ""},
		{"control character", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400, ""},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400, ""},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ""},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, ""},
		{"no version", "GET /\r\nHost: h\r\n\r\n", 400, ""},
		{"http/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, ""},
		{"gzip transfer-encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ""},
		{"chunked on http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 501, ""},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\na", 417, ""},
		{"oversized header block", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + big + "\r\n\r\n", 431, ""},
		{"bad target", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseOne(t, tc.raw)
			if tc.status != 0 {
				if got := statusOf(err); got != tc.status {
					t.Fatalf("got %v (status %d), want status %d", err, got, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join([]string{req.Method, req.Host, req.URL.Path, req.URL.RawPath, req.URL.RawQuery,
				itoa(int(req.ContentLength)), map[bool]string{true: "true", false: "false"}[req.Close]}, "|")
			if got != tc.check {
				t.Fatalf("got %q, want %q", got, tc.check)
			}
			if _, ok := req.Header["Host"]; ok {
				t.Fatal("Host left in the header map")
			}
		})
	}
}

func TestParseRequestHeaderValues(t *testing.T) {
	req, err := parseOne(t, "GET / HTTP/1.1\r\nHost: h\r\nx-a: 1\r\nX-A: 2\r\nAccept: */*\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(req.Header["X-A"], ","); got != "1,2" {
		t.Fatalf("X-A = %q", got)
	}
	if req.Header.Get("Accept") != "*/*" || req.RemoteAddr != "192.0.2.1:1234" || req.RequestURI != "/" {
		t.Fatalf("request %+v", req)
	}
}
