package h1

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// parseError is a request the server answers itself, then closes.
type parseError struct {
	status int
	text   string
}

func (e *parseError) Error() string { return strconv.Itoa(e.status) + " " + e.text }

func badRequest(text string) *parseError { return &parseError{http.StatusBadRequest, text} }

var (
	errHeaderTooLarge = &parseError{http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large"}
	errObsFold        = badRequest("obsolete line folding is not accepted")
	errAmbiguous      = badRequest("Content-Length together with Transfer-Encoding is not accepted")
	errBadLength      = badRequest("bad or conflicting Content-Length")
	errHost           = badRequest("missing, repeated or malformed Host header")
	errRequestLine    = badRequest("malformed request line")
	errHeaderLine     = badRequest("malformed header line")
	errTarget         = badRequest("malformed request target")
	errVersion        = &parseError{http.StatusHTTPVersionNotSupported, "HTTP Version Not Supported"}
	errTE             = &parseError{http.StatusNotImplemented, "unsupported transfer encoding"}
	errExpect         = &parseError{http.StatusExpectationFailed, "unsupported Expect"}
)

// maxLeadingEmptyLines is how many empty lines may precede a request line
// (RFC 9112 2.2 allows ignoring at least one).
const maxLeadingEmptyLines = 4

// readBlock reads one header block (request line to the empty line, or a
// chunked trailer when trailer is set) into c.hblk.
func (c *conn) readBlock(trailer bool) error {
	c.hblk = c.hblk[:0]
	limit := c.srv.MaxHeaderBytes + 4096 // like net/http: slack for the request line
	lineStart, empties := 0, 0
	for {
		part, err := c.br.ReadSlice('\n')
		if len(c.hblk)+len(part) > limit {
			return errHeaderTooLarge
		}
		c.hblk = append(c.hblk, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return err
		}
		line := c.hblk[lineStart:]
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			if lineStart > 0 || trailer {
				return nil
			}
			if empties++; empties > maxLeadingEmptyLines {
				return errRequestLine
			}
			c.hblk = c.hblk[:0]
			continue
		}
		lineStart = len(c.hblk)
	}
}

// readRequest reads and parses the next request's header block into the
// connection's reused Request.
func (c *conn) readRequest() (*http.Request, error) {
	c.head = ""
	if head, ok := c.bufferedHead(); ok {
		c.head = head
		return c.parseRequest(head)
	}
	if err := c.readBlock(false); err != nil {
		return nil, err
	}
	c.head = string(c.hblk)
	return c.parseRequest(c.head)
}

// bufferedHead takes a whole head from the read buffer when it is there
// and starts with a request line (no empty lines first): the block
// readBlock would return, without reading it line by line.
func (c *conn) bufferedHead() (string, bool) {
	n := c.br.Buffered()
	if n == 0 {
		return "", false
	}
	buf, _ := c.br.Peek(n) // cannot fail: already buffered
	if buf[0] == '\r' || buf[0] == '\n' {
		return "", false
	}
	end := headEnd(buf)
	if end < 0 || end > c.srv.MaxHeaderBytes+4096 {
		return "", false // readBlock reads on, or refuses it
	}
	head := string(buf[:end])
	_, _ = c.br.Discard(end) // cannot fail: already buffered
	return head, true
}

// headEnd returns the length of the head at the start of b: up to and
// including the first empty line ("\n" or "\r\n") after a line; -1 if b
// holds none.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// CutLine splits s after its first line; the line ending ("\n" or "\r\n")
// belongs to neither part, as with bufio.Reader.ReadLine. The gateway's
// upstream client cuts response heads with it too.
func CutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parseRequest parses a whole header block (one string: every name and
// value is a substring of it).
func (c *conn) parseRequest(s string) (*http.Request, error) {
	line, rest := CutLine(s)
	req := &c.req
	*req = *c.tmpl
	if err := parseRequestLine(req, line); err != nil {
		return nil, err
	}
	if err := c.parseTarget(req); err != nil {
		return nil, err
	}
	hdr := c.hdr
	clear(hdr)
	hi, err := parseHeaders(hdr, rest)
	if err != nil {
		return nil, err
	}
	c.seen = hi.seen
	req.Header = hdr
	req.RemoteAddr = c.remote
	if err := setHost(req, hi); err != nil {
		return nil, err
	}
	req.Close = shouldClose(req, hi.seen)
	return req, nil
}

func parseRequestLine(req *http.Request, line string) error {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validToken(method) || target == "" {
		return errRequestLine
	}
	switch proto {
	case "HTTP/1.1":
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		if strings.HasPrefix(proto, "HTTP/") && len(proto) == 8 && proto[6] == '.' {
			return errVersion
		}
		return errRequestLine
	}
	for i := 0; i < len(target); i++ {
		if b := target[i]; b <= ' ' || b == 0x7f {
			return errTarget
		}
	}
	req.Method, req.RequestURI = method, target
	return nil
}

// parseTarget fills the reused URL: origin-form paths made of characters
// that need no escaping take a fast path, everything else url.ParseRequestURI.
func (c *conn) parseTarget(req *http.Request) error {
	u := &c.url
	*u = url.URL{}
	req.URL = u
	target := req.RequestURI
	path, query, hasQuery := strings.Cut(target, "?")
	if path != "" && path[0] == '/' && plainPath(path) && !strings.Contains(query, "#") {
		u.Path, u.RawQuery, u.ForceQuery = path, query, hasQuery && query == ""
		return nil
	}
	authority := req.Method == http.MethodConnect && target[0] != '/'
	raw := target
	if authority {
		raw = "http://" + target
	}
	p, err := url.ParseRequestURI(raw)
	if err != nil {
		return errTarget
	}
	*u = *p
	if authority {
		u.Scheme = ""
	}
	return nil
}

// plainPath reports whether p has no byte that url.URL would escape or
// unescape, so Path is p itself and RawPath is empty.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !pathBytes[p[i]] {
			return false
		}
	}
	return true
}

// pathBytes marks the bytes plainPath accepts.
var pathBytes = alnumAnd("-_.~/$&+,:;=@")

// alnumAnd is a table marking ASCII letters and digits and the bytes of
// extra.
func alnumAnd(extra string) (t [256]bool) {
	for b := range t {
		t[b] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			strings.IndexByte(extra, byte(b)) >= 0
	}
	return t
}

// Header fields the server looks at (headInfo.seen): a field not seen
// needs no map lookup.
const (
	seenConnection uint8 = 1 << iota
	seenContentLength
	seenTransferEncoding
	seenExpect
	seenUpgrade
)

// headInfo is what parseHeaders learns besides the header map.
type headInfo struct {
	hosts int    // Host fields, which stay out of the map
	host  string // the first one's value
	seen  uint8
}

// parseHeaders parses header lines up to the empty line into hdr; Host
// fields are left out and reported. Values share one backing array.
func parseHeaders(hdr http.Header, s string) (headInfo, error) {
	var hi headInfo
	vals := make([]string, 0, strings.Count(s, "\n"))
	for {
		line, rest := CutLine(s)
		if line == "" {
			return hi, nil
		}
		s = rest
		if line[0] == ' ' || line[0] == '\t' {
			return hi, errObsFold
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return hi, errHeaderLine
		}
		key, ok := CanonicalName(line[:colon])
		if !ok {
			return hi, errHeaderLine
		}
		value := TrimOWS(line[colon+1:])
		if !ValidValue(value) {
			return hi, errHeaderLine
		}
		switch key {
		case "Host":
			if hi.hosts++; hi.hosts == 1 {
				hi.host = value
			}
			continue
		case "Connection":
			hi.seen |= seenConnection
		case "Content-Length":
			hi.seen |= seenContentLength
		case "Transfer-Encoding":
			hi.seen |= seenTransferEncoding
		case "Expect":
			hi.seen |= seenExpect
		case "Upgrade":
			hi.seen |= seenUpgrade
		}
		vals = append(vals, value)
		if vv, ok := hdr[key]; ok {
			hdr[key] = append(vv, value)
		} else {
			hdr[key] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
}

// CanonicalName returns the canonical form of a header name (as
// textproto.CanonicalMIMEHeaderKey) and whether it is a token. A name
// already canonical is returned as it is, without allocating; others go
// to textproto, which interns the common ones. The upstream client's
// parser uses it too.
func CanonicalName(name string) (string, bool) {
	upper, canonical := true, true
	for i := 0; i < len(name); i++ {
		class := nameBytes[name[i]]
		if class == 0 {
			return "", false
		}
		if upper && class == nameLower || !upper && class == nameUpper {
			canonical = false
		}
		upper = name[i] == '-'
	}
	if name == "" {
		return "", false
	}
	if canonical {
		return name, true
	}
	return textproto.CanonicalMIMEHeaderKey(name), true
}

// Classes of the bytes of a header name (nameBytes); 0 is not a token
// byte.
const (
	nameOther uint8 = 1 + iota // a token byte that is no letter
	nameLower
	nameUpper
)

var nameBytes = func() (t [256]uint8) {
	for b := range t {
		switch {
		case 'a' <= b && b <= 'z':
			t[b] = nameLower
		case 'A' <= b && b <= 'Z':
			t[b] = nameUpper
		case tokenBytes[b]:
			t[b] = nameOther
		}
	}
	return t
}()

// TrimOWS trims the optional white space (spaces and tabs) around a field
// value.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenBytes[s[i]] {
			return false
		}
	}
	return true
}

// tokenBytes marks the bytes of an RFC 9110 token (tchar).
var tokenBytes = alnumAnd("!#$%&'*+-.^_`|~")

func isTokenByte(b byte) bool { return tokenBytes[b] }

// ValidValue reports whether s may be a header field value (or a reason
// phrase): it refuses control characters other than tab. Eight bytes are
// looked at a time; a word holding a byte below 0x20 or 0x7f (maybe only a
// tab) is left to the byte loop. The upstream client's parser uses it too.
func ValidValue(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		del := w ^ 0x7f*ones
		if (w-0x20*ones)&^w&highs != 0 || (del-ones)&^del&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// setHost sets req.Host from the Host fields (which parseHeaders left out
// of the header map); HTTP/1.1 needs exactly one.
func setHost(req *http.Request, hi headInfo) error {
	if hi.hosts > 1 || req.ProtoMinor == 1 && hi.hosts == 0 {
		return errHost
	}
	if hi.hosts == 1 && !validHost(hi.host) {
		return errHost
	}
	switch {
	case req.URL.Host != "":
		req.Host = req.URL.Host
	case hi.hosts == 1:
		req.Host = hi.host
	}
	return nil
}

func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		b := h[i]
		if isTokenByte(b) || b == ':' || b == '[' || b == ']' || b == '@' || b == '(' || b == ')' || b == ',' || b == ';' || b == '=' {
			continue
		}
		return false
	}
	return true
}

// shouldClose reports whether the client asked to close after this
// request.
func shouldClose(req *http.Request, seen uint8) bool {
	var conn []string
	if seen&seenConnection != 0 {
		conn = req.Header["Connection"]
	}
	if req.ProtoMinor == 0 {
		return !hasToken(conn, "keep-alive")
	}
	return hasToken(conn, "close")
}

// hasToken reports whether a comma-separated header lists tok.
func hasToken(vv []string, tok string) bool {
	for _, v := range vv {
		for v != "" {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(TrimOWS(f), tok) {
				return true
			}
		}
	}
	return false
}

// isH2CUpgrade reports whether the request asks to switch to HTTP/2.
func isH2CUpgrade(h http.Header) bool {
	return hasToken(h["Upgrade"], "h2c") && hasToken(h["Connection"], "upgrade")
}

func itoa(n int) string { return strconv.Itoa(n) }
