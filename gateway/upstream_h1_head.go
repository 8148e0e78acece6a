package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgegate/edgegate/gateway/h1"
)

// The upstream answer's head is parsed here rather than by
// http.ReadResponse, which on the keyless hot path cost a textproto.Reader,
// a string per header value and per unusual key, a body and a LimitedReader
// per answer. readResponse copies the head out of the connection's buffer
// into one string, cuts the status, keys and values out of it, and frames
// the body itself.
//
// It fills the Response as http.ReadResponse does (same StatusCode, Status,
// Proto, Header, ContentLength, Close, Trailer, TransferEncoding, body bytes
// and errors for the same framing mistakes), and is stricter where
// net/http is lenient with what a proxy must not pass on:
//   - obsolete line folding (a header line that starts with a space or tab)
//     is refused; net/http joins it to the previous value;
//   - a header name must be a token: net/http also accepts spaces in it
//     ("Foo Bar:", "Foo :") and passes it on without canonicalizing it;
//   - the status code must be three digits from 100 to 999 and the reason
//     phrase must not hold control characters; net/http accepts "099",
//     "+99" and any bytes in the reason.

// errMalformedAnswer marks an upstream answer whose head or framing is
// broken (it maps to 502 like any other upstream failure).
var errMalformedAnswer = errors.New("malformed upstream answer")

// answerError says what part of an upstream answer is malformed.
type answerError struct {
	what string // "status code", "header name", ...
	text string // the offending text
}

func (e *answerError) Error() string {
	s := e.text
	if len(s) > 80 {
		s = s[:80]
	}
	return fmt.Sprintf("%v: %s %q", errMalformedAnswer, e.what, s)
}

func (e *answerError) Is(target error) bool { return target == errMalformedAnswer }

func malformed(what, s string) error { return &answerError{what: what, text: s} }

// bodyFraming is how an answer's body ends.
type bodyFraming uint8

const (
	bodyNone    bodyFraming = iota // no body (http.NoBody)
	bodyLength                     // Content-Length bytes
	bodyChunked                    // chunked, then trailers
	bodyToClose                    // until the upstream closes
)

// h1Response is one upstream answer: the Response handed to the caller,
// the reader of its body and the backing array of its header values, in
// one allocation.
type h1Response struct {
	resp http.Response
	body h1Body
	vals [12]string
}

// readResponse reads an answer's head from br and frames its body; the body
// reads from br. req is the request answered (its method decides whether a
// body follows). A non-nil hdr is cleared and receives the header fields
// (a connection reuses one map); nil makes a new map.
func readResponse(br *bufio.Reader, req *http.Request, hdr http.Header) (*h1Response, error) {
	head, err := readHead(br)
	if err != nil {
		return nil, err
	}
	r := &h1Response{}
	resp := &r.resp
	resp.Request = req
	if err := r.parseHead(head, hdr); err != nil {
		return nil, err
	}
	framing, n, err := frame(resp, req.Method)
	if err != nil {
		return nil, err
	}
	switch framing {
	case bodyNone:
		resp.Body = http.NoBody
	default:
		r.body = h1Body{br: br, framing: framing, left: n, resp: resp}
		resp.Body = &r.body
	}
	return r, nil
}

// readHead returns the next head in br, from the status line to the blank
// line that ends it, as one string, and consumes it. A head larger than
// br's buffer is gathered in a growing slice (the connection's header
// budget bounds it).
func readHead(br *bufio.Reader) (string, error) {
	scanned := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		if end := headEnd(buf, scanned); end > 0 {
			s := string(buf[:end])
			_, _ = br.Discard(end) // buffered: cannot fail
			return s, nil
		}
		if len(buf) == br.Size() {
			return readLongHead(br)
		}
		scanned = max(len(buf)-2, 0)
		if _, err := br.Peek(len(buf) + 1); err != nil && br.Buffered() == len(buf) {
			return "", eofUnexpected(err)
		}
	}
}

// readLongHead gathers a head that does not fit in br's buffer.
func readLongHead(br *bufio.Reader) (string, error) {
	var acc []byte
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return "", eofUnexpected(err)
			}
		}
		buf, _ := br.Peek(br.Buffered())
		from := max(len(acc)-2, 0)
		prev := len(acc)
		acc = append(acc, buf...)
		if end := headEnd(acc, from); end > 0 {
			_, _ = br.Discard(end - prev) // buffered: cannot fail
			return string(acc[:end]), nil
		}
		_, _ = br.Discard(len(buf)) // buffered: cannot fail
	}
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// headEnd returns the length of the head at the start of b (up to and
// including the blank line: "\n\n" or "\n\r\n"), or -1; the search
// starts at from.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		p := i + j
		if p+1 < len(b) && b[p+1] == '\n' {
			return p + 2
		}
		if p+2 < len(b) && b[p+1] == '\r' && b[p+2] == '\n' {
			return p + 3
		}
		i = p + 1
	}
	return -1
}

// parseHead fills r.resp's status and header from head; hdr as in
// readResponse.
func (r *h1Response) parseHead(head string, hdr http.Header) error {
	line, rest := h1.CutLine(head)
	if err := parseStatusLine(&r.resp, line); err != nil {
		return err
	}
	h, err := parseFields(rest, r.vals[:], hdr)
	if err != nil {
		return err
	}
	r.resp.Header = h
	return nil
}

// parseStatusLine parses "HTTP/1.1 200 OK" into resp.
func parseStatusLine(resp *http.Response, line string) error {
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return malformed("status line", line)
	}
	status = strings.TrimLeft(status, " ")
	code, reason, _ := strings.Cut(status, " ")
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || !isDigit(code[1]) || !isDigit(code[2]) {
		return malformed("status code", code)
	}
	if !h1.ValidValue(reason) {
		return malformed("reason phrase", reason)
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		return malformed("HTTP version", proto)
	}
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = proto, major, minor
	resp.Status = status
	resp.StatusCode = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseFields parses the header fields of a head (after its status line)
// or of a trailer section, up to the blank line. vals, when long enough,
// backs the values. h, when not nil, is cleared and filled; else a new map
// is made.
func parseFields(s string, vals []string, h http.Header) (http.Header, error) {
	n := strings.Count(s, "\n") - 1 // lines but the blank one
	if h == nil {
		h = make(http.Header, max(n, 0))
	} else {
		clear(h)
	}
	if n > len(vals) {
		vals = make([]string, n)
	}
	for {
		var line string
		line, s = h1.CutLine(s)
		if line == "" {
			return h, nil
		}
		k, v, err := parseField(line)
		if err != nil {
			return nil, err
		}
		if vv, ok := h[k]; ok {
			h[k] = append(vv, v)
			continue
		}
		vals[0] = v
		h[k], vals = vals[:1:1], vals[1:]
	}
}

// parseField splits a header line into its canonical name and its value.
func parseField(line string) (string, string, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return "", "", malformed("folded or indented header line", line)
	}
	k, v, ok := strings.Cut(line, ":")
	if !ok || k == "" {
		return "", "", malformed("header line", line)
	}
	if k, ok = h1.CanonicalName(k); !ok {
		return "", "", malformed("header name", line)
	}
	if v = h1.TrimOWS(v); !h1.ValidValue(v) {
		return "", "", malformed("header value", line)
	}
	return k, v, nil
}

// frame decides, as net/http's readTransfer does, how the body of resp (an
// answer to method) ends; it normalizes the framing headers and sets
// ContentLength, Close, Trailer and TransferEncoding. n is the body length
// for bodyLength.
func frame(resp *http.Response, method string) (bodyFraming, int64, error) {
	h := resp.Header
	if hp := h["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	resp.Close = shouldCloseAnswer(resp)
	chunked, err := transferChunked(resp)
	if err != nil {
		return 0, 0, err
	}
	n, err := bodyLengthOf(resp, method, chunked)
	if err != nil {
		return 0, 0, err
	}
	resp.ContentLength = n
	if method == http.MethodHead {
		if resp.ContentLength, err = contentLength(h["Content-Length"]); err != nil {
			return 0, 0, err
		}
	}
	if chunked {
		if err := declaredTrailer(resp); err != nil {
			return 0, 0, err
		}
		resp.TransferEncoding = []string{"chunked"}
	}
	bodyAllowed := bodyAllowedForStatus(resp.StatusCode)
	switch {
	case chunked && (method == http.MethodHead || !bodyAllowed):
		return bodyNone, 0, nil
	case chunked:
		return bodyChunked, -1, nil
	case n == 0:
		return bodyNone, 0, nil
	case n > 0:
		return bodyLength, n, nil
	}
	resp.Close = true // neither a length nor chunked: the body ends with the connection
	return bodyToClose, -1, nil
}

// shouldCloseAnswer reports whether the connection ends after resp, and
// drops "Connection: close" from an HTTP/1.1 answer, as net/http does.
func shouldCloseAnswer(resp *http.Response) bool {
	if resp.ProtoMajor < 1 {
		return true
	}
	conn := resp.Header["Connection"]
	hasClose := containsToken(conn, "close")
	if resp.ProtoMajor == 1 && resp.ProtoMinor == 0 {
		return hasClose || !containsToken(conn, "keep-alive")
	}
	if hasClose {
		delete(resp.Header, "Connection")
	}
	return hasClose
}

// containsToken reports whether one of the comma-separated elements of
// values is token, ignoring case.
func containsToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if asciiEqualFold(h1.TrimOWS(elem), token) {
				return true
			}
		}
	}
	return false
}

// transferChunked reads and drops Transfer-Encoding: only "chunked" is
// understood (ignored on HTTP/1.0), anything else is refused.
func transferChunked(resp *http.Response) (bool, error) {
	te, ok := resp.Header["Transfer-Encoding"]
	if !ok {
		return false, nil
	}
	delete(resp.Header, "Transfer-Encoding")
	if !resp.ProtoAtLeast(1, 1) {
		return false, nil
	}
	if len(te) != 1 || !asciiEqualFold(te[0], "chunked") {
		return false, malformed("transfer encoding", strings.Join(te, ", "))
	}
	return true, nil
}

// bodyLengthOf returns the body length the answer declares: -1 when it is
// chunked or ends with the connection. Repeated equal Content-Length
// values are merged; differing ones are refused.
func bodyLengthOf(resp *http.Response, method string, chunked bool) (int64, error) {
	h := resp.Header
	cl := h["Content-Length"]
	if len(cl) > 1 {
		first := trimASCIISpace(cl[0])
		for _, v := range cl[1:] {
			if trimASCIISpace(v) != first {
				return 0, malformed("repeated Content-Length", strings.Join(cl, ", "))
			}
		}
		cl = []string{first}
		h["Content-Length"] = cl
	}
	n, err := contentLength(cl)
	if err != nil {
		return 0, err
	}
	switch {
	case method == http.MethodHead, resp.StatusCode/100 == 1, resp.StatusCode == 204, resp.StatusCode == 304:
		return 0, nil
	case chunked:
		delete(h, "Content-Length")
		return -1, nil
	}
	return n, nil
}

// contentLength parses the first Content-Length value; -1 when there is
// none.
func contentLength(cl []string) (int64, error) {
	if len(cl) == 0 {
		return -1, nil
	}
	v := trimASCIISpace(cl[0])
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, malformed("Content-Length", v)
	}
	return int64(n), nil
}

// declaredTrailer moves the names a chunked answer announces in Trailer
// to resp.Trailer (values come after the body).
func declaredTrailer(resp *http.Response) error {
	vv, ok := resp.Header["Trailer"]
	if !ok {
		return nil
	}
	delete(resp.Header, "Trailer")
	var t http.Header
	for _, v := range vv {
		for v != "" {
			var k string
			k, v, _ = strings.Cut(v, ",")
			k = trimASCIISpace(k)
			if k == "" {
				continue
			}
			k = http.CanonicalHeaderKey(k)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return malformed("trailer name", k)
			}
			if t == nil {
				t = make(http.Header)
			}
			t[k] = nil
		}
	}
	resp.Trailer = t
	return nil
}

// asciiEqualFold is strings.EqualFold for ASCII only: "chun\u212aed"
// (a Kelvin sign) is not "chunked".
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lowerASCII(t[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// trimASCIISpace trims what textproto.TrimString does (not Unicode spaces,
// unlike strings.TrimSpace).
func trimASCIISpace(s string) string {
	return strings.Trim(s, " \t\r\n")
}

func bodyAllowedForStatus(code int) bool {
	return code/100 != 1 && code != 204 && code != 304
}
