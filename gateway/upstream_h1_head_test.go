package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// answerResult is what a reader made of an answer: the fields the gateway
// uses, the body and whether reading failed.
type answerResult struct {
	err           bool
	status        string
	statusCode    int
	proto         string
	major, minor  int
	header        http.Header
	contentLength int64
	close         bool
	te            []string
	noBody        bool
	body          string
	bodyErr       bool
	trailer       http.Header
}

func (r answerResult) String() string {
	if r.err {
		return "refused"
	}
	return fmt.Sprintf("%q %d %s %d.%d h=%v cl=%d close=%v te=%v nobody=%v body=%q bodyErr=%v trailer=%v",
		r.status, r.statusCode, r.proto, r.major, r.minor, r.header, r.contentLength, r.close, r.te, r.noBody, r.body, r.bodyErr, r.trailer)
}

// answerBufSize is the connection buffer size for both readers (the
// trailer must fit in it).
const answerBufSize = 16 << 10

func resultOf(resp *http.Response) (answerResult, error) {
	r := answerResult{
		status: resp.Status, statusCode: resp.StatusCode, proto: resp.Proto, major: resp.ProtoMajor, minor: resp.ProtoMinor,
		header: resp.Header, contentLength: resp.ContentLength, close: resp.Close, te: resp.TransferEncoding,
		noBody: resp.Body == http.NoBody,
	}
	body, err := io.ReadAll(resp.Body)
	r.body, r.bodyErr = string(body), err != nil
	r.trailer = resp.Trailer
	return r, err
}

// goRead reads raw with net/http; the error is the head's or, after it,
// the body's.
func goRead(raw, method string) (answerResult, error) {
	resp, err := http.ReadResponse(bufio.NewReaderSize(strings.NewReader(raw), answerBufSize), &http.Request{Method: method})
	if err != nil {
		return answerResult{err: true}, err
	}
	return resultOf(resp)
}

// ourRead reads raw with readResponse, as goRead does.
func ourRead(raw, method string) (answerResult, error) {
	r, err := readResponse(bufio.NewReaderSize(strings.NewReader(raw), answerBufSize), &http.Request{Method: method}, nil)
	if err != nil {
		return answerResult{err: true}, err
	}
	return resultOf(&r.resp)
}

// documentedDifference reports whether our refusal of an answer (or of
// its trailer) net/http accepts is one the package documents (see
// upstream_h1_head.go).
func documentedDifference(ours error, theirs answerResult) bool {
	var ae *answerError
	if !errors.As(ours, &ae) {
		return false
	}
	switch ae.what {
	case "folded or indented header line", "reason phrase":
		return true
	case "header name":
		k, _, _ := strings.Cut(ae.text, ":")
		return strings.Contains(k, " ")
	case "status code":
		return theirs.statusCode < 100 || strings.ContainsAny(ae.text, "+")
	}
	return false
}

// compareAnswer checks readResponse against http.ReadResponse on raw.
func compareAnswer(t *testing.T, raw, method string) {
	t.Helper()
	theirs, terr := goRead(raw, method)
	ours, oerr := ourRead(raw, method)
	if oerr != nil && !theirs.err && documentedDifference(oerr, theirs) {
		return
	}
	if ours.err != theirs.err { // then the head errors differ, not the body's
		t.Fatalf("%s %q:\nours:     %v (%v)\nnet/http: %v (%v)", method, raw, ours, oerr, theirs, terr)
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("%s %q:\nours:     %v (%v)\nnet/http: %v (%v)", method, raw, ours, oerr, theirs, terr)
	}
}

const okHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

var answerCases = []struct {
	name, method, raw string
}{
	{"nginx", "GET", nginxAnswer},
	{"HTTP/1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"},
	{"HTTP/1.0 until close", "GET", "HTTP/1.0 200 OK\r\n\r\nto the end"},
	{"HTTP/1.0 chunked ignored", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"},
	{"HTTP/1.1 close", "GET", okHead + "Connection: close\r\nContent-Length: 2\r\n\r\nhi"},
	{"close among others", "GET", okHead + "Connection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n"},
	{"until close", "GET", okHead + "\r\nbody until the end"},
	{"no reason", "GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
	{"empty reason", "GET", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"},
	{"spaces before the code", "GET", "HTTP/1.1   200 OK\r\nContent-Length: 0\r\n\r\n"},
	{"bare LF", "GET", "HTTP/1.1 200 OK\nA: b\nContent-Length: 3\n\nabc"},
	{"lower-case names", "GET", "HTTP/1.1 200 OK\r\ncontent-type: a\r\nx-custom-thing: b\r\nCONTENT-LENGTH: 1\r\nsErVeR: x\r\n\r\n1"},
	{"repeated names", "GET", okHead + "Set-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n"},
	{"many headers", "GET", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n", 5) + "Content-Length: 0\r\n\r\n"},
	{"long name", "GET", okHead + "x-" + strings.Repeat("abc-", 30) + ": v\r\nContent-Length: 0\r\n\r\n"},
	{"values trimmed", "GET", okHead + "X-A:   a b  \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"},
	{"obs-text value", "GET", okHead + "X-A: caf\xe9\r\nContent-Length: 0\r\n\r\n"},
	{"pragma", "GET", okHead + "Pragma: no-cache\r\nContent-Length: 0\r\n\r\n"},
	{"pragma and cache-control", "GET", okHead + "Pragma: no-cache\r\nCache-Control: max-age=5\r\nContent-Length: 0\r\n\r\n"},
	{"equal lengths merged", "GET", okHead + "Content-Length: 3\r\nContent-Length:  3\r\n\r\nabc"},
	{"differing lengths", "GET", okHead + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
	{"non-numeric length", "GET", okHead + "Content-Length: 3x\r\n\r\nabc"},
	{"signed length", "GET", okHead + "Content-Length: +3\r\n\r\nabc"},
	{"empty length", "GET", okHead + "Content-Length: \r\n\r\n"},
	{"huge length", "GET", okHead + "Content-Length: 99999999999999999999\r\n\r\n"},
	{"NBSP after length", "GET", okHead + "Content-Length: 3\xc2\xa0\r\n\r\nabc"},
	{"short body", "GET", okHead + "Content-Length: 10\r\n\r\nabc"},
	{"chunked", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"},
	{"chunked, upper case", "GET", okHead + "Transfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"chunked with length", "GET", okHead + "Content-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"chunked with trailers", "GET", okHead + "Transfer-Encoding: chunked\r\nTrailer: grpc-status, X-Sum\r\n\r\n3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nx-sum: 7\r\nX-Extra: 1\r\n\r\n"},
	{"trailers not declared", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 7\r\n\r\n"},
	{"trailer declared, none sent", "GET", okHead + "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\n\r\n"},
	{"trailer without chunked", "GET", okHead + "Trailer: X-Sum\r\nContent-Length: 0\r\n\r\n"},
	{"forbidden trailer name", "GET", okHead + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n"},
	{"trailer with bare LF", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 7\n\n"},
	{"trailer cut", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 7\r\n"},
	{"folded trailer", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-A: a\r\n b\r\n\r\n"},
	{"bad trailer line", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n"},
	{"gzip transfer coding", "GET", okHead + "Transfer-Encoding: gzip\r\n\r\n"},
	{"chunked twice", "GET", okHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"chunked, gzip", "GET", okHead + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
	{"Kelvin sign", "GET", okHead + "Transfer-Encoding: chun\u212aed\r\n\r\n0\r\n\r\n"},
	{"bad chunk size", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
	{"chunked cut", "GET", okHead + "Transfer-Encoding: chunked\r\n\r\n5\r\nab"},
	{"HEAD with length", "HEAD", okHead + "Content-Length: 1234\r\n\r\n"},
	{"HEAD chunked", "HEAD", okHead + "Transfer-Encoding: chunked\r\n\r\n"},
	{"HEAD without length", "HEAD", okHead + "\r\n"},
	{"204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"},
	{"304", "GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n"},
	{"100", "GET", "HTTP/1.1 100 Continue\r\n\r\n"},
	{"101", "GET", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
	{"999", "GET", "HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n"},
	{"HTTP/2.0 version", "GET", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{"HTTP/0.9 version", "GET", "HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{"bad version", "GET", "HTTP/1.10 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{"not HTTP", "GET", "ICY 200 OK\r\n\r\n"},
	{"two-digit code", "GET", "HTTP/1.1 20 OK\r\n\r\n"},
	{"code with letters", "GET", "HTTP/1.1 2x0 OK\r\n\r\n"},
	{"code below 100", "GET", "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"},
	{"signed code", "GET", "HTTP/1.1 +99 Odd\r\nContent-Length: 0\r\n\r\n"},
	{"no code", "GET", "HTTP/1.1\r\n\r\n"},
	{"CR in reason", "GET", "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n"},
	{"NUL in reason", "GET", "HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n"},
	{"empty status line", "GET", "\r\nHTTP/1.1 200 OK\r\n\r\n"},
	{"obs-fold", "GET", okHead + "X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
	{"indented first field", "GET", "HTTP/1.1 200 OK\r\n X-A: a\r\n\r\n"},
	{"space in name", "GET", okHead + "X A: a\r\nContent-Length: 0\r\n\r\n"},
	{"space late in a long name", "GET", okHead + strings.Repeat("A", 100) + " B: a\r\nContent-Length: 0\r\n\r\n"},
	{"space before colon", "GET", okHead + "X-A : a\r\nContent-Length: 0\r\n\r\n"},
	{"no colon", "GET", okHead + "X-A a\r\n\r\n"},
	{"empty name", "GET", okHead + ": a\r\n\r\n"},
	{"bad name byte", "GET", okHead + "X(A): a\r\n\r\n"},
	{"CR in value", "GET", okHead + "X-A: a\rb\r\nContent-Length: 0\r\n\r\n"},
	{"CR before CRLF", "GET", okHead + "X-A: a\r\r\nContent-Length: 0\r\n\r\n"},
	{"NUL in value", "GET", okHead + "X-A: a\x00b\r\nContent-Length: 0\r\n\r\n"},
	{"DEL in value", "GET", okHead + "X-A: a\x7fb\r\nContent-Length: 0\r\n\r\n"},
	{"head cut", "GET", okHead + "Content-Len"},
	{"head cut after a line", "GET", okHead},
	{"nothing", "GET", ""},
}

func TestReadResponseMatchesNetHTTP(t *testing.T) {
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			compareAnswer(t, tc.raw, tc.method)
		})
	}
}

// TestReadResponseRefuses pins the refusals documented as stricter than
// net/http.
func TestReadResponseRefuses(t *testing.T) {
	for _, name := range []string{"code below 100", "signed code", "CR in reason", "NUL in reason", "obs-fold", "indented first field", "space in name", "space before colon"} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range answerCases {
				if tc.name != name {
					continue
				}
				if _, err := ourRead(tc.raw, tc.method); !errors.Is(err, errMalformedAnswer) {
					t.Fatalf("%q: %v, want a malformed answer", tc.raw, err)
				}
				return
			}
			t.Fatalf("no case %q", name)
		})
	}
}

// TestReadResponseLongHead reads heads larger than the buffer, split over
// many reads, and the head after a 100 Continue.
func TestReadResponseLongHead(t *testing.T) {
	big := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("v", 1000)+"\r\n", 40) + "Content-Length: 2\r\n\r\nhi"
	for _, chunk := range []int{1, 7, 4096, len(big)} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			br := bufio.NewReaderSize(&trickleReader{s: big, n: chunk}, 4096)
			r, err := readFinalResponse(br, &http.Request{Method: "GET"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r.resp.Body)
			if r.resp.StatusCode != 200 || len(r.resp.Header["X-Big"]) != 40 || string(body) != "hi" || err != nil {
				t.Fatalf("%d, %d X-Big, body %q, %v", r.resp.StatusCode, len(r.resp.Header["X-Big"]), body, err)
			}
		})
	}
}

// trickleReader returns s n bytes at a time.
type trickleReader struct {
	s string
	n int
}

func (r *trickleReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func FuzzReadResponseHead(f *testing.F) {
	for _, tc := range answerCases {
		f.Add(tc.raw, tc.method == "HEAD")
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		compareAnswer(t, raw, method)
	})
}

// BenchmarkReadResponse parses nginx's answer from memory: the parser's
// own cost, without the network.
func BenchmarkReadResponse(b *testing.B) {
	req := &http.Request{Method: "GET"}
	sr := strings.NewReader(nginxAnswer)
	br := bufio.NewReaderSize(sr, answerBufSize)
	buf := make([]byte, 512)
	for _, impl := range []string{"net/http", "edgegate"} {
		b.Run(impl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sr.Reset(nginxAnswer)
				br.Reset(sr)
				var resp *http.Response
				var err error
				if impl == "net/http" {
					resp, err = http.ReadResponse(br, req)
				} else {
					var r *h1Response
					if r, err = readResponse(br, req, nil); err == nil {
						resp = &r.resp
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				if n, _ := io.ReadFull(resp.Body, buf[:100]); n != 100 {
					b.Fatal(n)
				}
				_ = resp.Body.Close() // read to its end
			}
		})
	}
}
