package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

// parseOne parses one request from raw as a connection would, the head
// usually taken from the read buffer at once (bufferedHead).
func parseOne(t testing.TB, raw string) (*http.Request, error) {
	t.Helper()
	return parseFrom(strings.NewReader(raw))
}

// parseOneByOne parses raw arriving one byte per read: the head is read
// line by line (readBlock).
func parseOneByOne(t testing.TB, raw string) (*http.Request, error) {
	t.Helper()
	return parseFrom(iotest.OneByteReader(strings.NewReader(raw)))
}

func parseFrom(r io.Reader) (*http.Request, error) {
	s := &Server{}
	s.init()
	c := &conn{srv: s, remote: "192.0.2.1:1234", tmpl: &http.Request{}, hdr: http.Header{}}
	c.br = bufio.NewReaderSize(r, readBufSize)
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
		{"lower-case chunked", "POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 0, "POST|h|/|||-1|false"},
		{"upper-case connection close", "GET / HTTP/1.1\r\nHOST: h\r\nCONNECTION: close\r\n\r\n", 0, "GET|h|/|||0|true"},
		{"lower-case expectation", "POST / HTTP/1.1\r\nHost: h\r\nexpect: teapot\r\nContent-Length: 1\r\n\r\na", 417, ""},
		{"two hosts in two cases", "GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n", 400, ""},
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
		for _, parse := range []struct {
			name string
			fn   func(testing.TB, string) (*http.Request, error)
		}{{"buffered", parseOne}, {"by line", parseOneByOne}} {
			t.Run(tc.name+"/"+parse.name, func(t *testing.T) {
				checkParse(t, parse.fn, tc.raw, tc.status, tc.check)
			})
		}
	}
}

// checkParse parses raw with parse and checks the answer status (0:
// accepted) or the fields in check ("method|host|path|rawpath|query|cl|close").
func checkParse(t *testing.T, parse func(testing.TB, string) (*http.Request, error), raw string, status int, check string) {
	t.Helper()
	req, err := parse(t, raw)
	if status != 0 {
		if got := statusOf(err); got != status {
			t.Fatalf("got %v (status %d), want status %d", err, got, status)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join([]string{req.Method, req.Host, req.URL.Path, req.URL.RawPath, req.URL.RawQuery,
		itoa(int(req.ContentLength)), map[bool]string{true: "true", false: "false"}[req.Close]}, "|")
	if got != check {
		t.Fatalf("got %q, want %q", got, check)
	}
	if _, ok := req.Header["Host"]; ok {
		t.Fatal("Host left in the header map")
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

func TestCanonicalKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Host", "Host", true},
		{"host", "Host", true},
		{"HOST", "Host", true},
		{"content-length", "Content-Length", true},
		{"Content-length", "Content-Length", true},
		{"X-Gravitee-Api-Key", "X-Gravitee-Api-Key", true},
		{"x-gravitee-api-key", "X-Gravitee-Api-Key", true},
		{"X-GRAVITEE-API-KEY", "X-Gravitee-Api-Key", true},
		{"X-1a", "X-1a", true},
		{"X-1A", "X-1a", true},
		{"-x", "-X", true},
		{"x--y", "X--Y", true},
		{"A_b", "A_b", true},
		{"a_B", "A_b", true},
		{"!#$%&'*+.^_`|~", "!#$%&'*+.^_`|~", true},
		{"", "", false},
		{"X A", "", false},
		{"X:A", "", false},
		{"X\x00", "", false},
		{"Caf\xe9", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := CanonicalName(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("CanonicalName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
			if ok && got != textproto.CanonicalMIMEHeaderKey(tc.in) {
				t.Fatalf("CanonicalName(%q) = %q, textproto says %q", tc.in, got, textproto.CanonicalMIMEHeaderKey(tc.in))
			}
			if ok != validToken(tc.in) {
				t.Fatalf("CanonicalName(%q) ok = %v, validToken disagrees", tc.in, ok)
			}
		})
	}
}

// validValueBytewise is validValue's definition, a byte at a time.
func validValueBytewise(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// TestValidValue puts every byte value at every position of values of
// several lengths (so in each lane of the eight-byte words and in the
// tail).
func TestValidValue(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 16, 21} {
		t.Run(itoa(n), func(t *testing.T) {
			b := []byte(strings.Repeat("a", n))
			for pos := range n {
				for v := range 256 {
					b[pos] = byte(v)
					if got, want := ValidValue(string(b)), validValueBytewise(string(b)); got != want {
						t.Fatalf("ValidValue(%q) = %v, want %v", b, got, want)
					}
				}
				b[pos] = 'a'
			}
		})
	}
	for _, s := range []string{"", "\t\t\t\t\t\t\t\t\t", "\x80\xff\xfe\x81\x90\xa0\xb0\xc0", "a\tb\x7f"} {
		if got, want := ValidValue(s), validValueBytewise(s); got != want {
			t.Errorf("ValidValue(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", len("GET / HTTP/1.1\r\nHost: h\r\n\r\n")},
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\nbody", len("GET / HTTP/1.1\r\nHost: h\r\n\r\n")},
		{"GET / HTTP/1.1\nHost: h\n\n", len("GET / HTTP/1.1\nHost: h\n\n")},
		{"GET / HTTP/1.1\r\n\r\n", len("GET / HTTP/1.1\r\n\r\n")},
		{"GET / HTTP/1.1\r\nHost: h\r\n\r", -1},
		{"GET / HTTP/1.1\r\nHost: h\r\n", -1},
		{"GET / HTTP/1.1\r\nX: \r\r\n\r\n", len("GET / HTTP/1.1\r\nX: \r\r\n\r\n")},
		{"GET", -1},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := headEnd([]byte(tc.in)); got != tc.want {
				t.Fatalf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}
