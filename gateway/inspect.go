package gateway

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// inspectConn watches the HTTP/1 bytes a client sends on the cleartext
// listener for what Go's parser accepts but a gateway must refuse, because
// another hop could read the message differently (request smuggling):
// a message with both Content-Length and Transfer-Encoding, and obsolete
// line folding. It follows message framing (Content-Length, chunked) to
// find each header block, and stops at the first HTTP/2 preface or
// protocol upgrade. A connection that sent one such message is marked bad:
// its requests get 400 and it is closed.
//
// On the TLS listener Go's own framing applies: Transfer-Encoding wins over
// Content-Length, which is removed; the gateway re-frames every request it
// sends upstream, so no other hop sees the ambiguity.
type inspectConn struct {
	net.Conn
	mu  sync.Mutex
	sc  frameScanner
	bad atomic.Bool
}

// connInfoKey keys the per-connection connInfo in request contexts.
type connInfoKey struct{}

// connInfo is computed once per client connection, not per request.
type connInfo struct {
	inspect *inspectConn // nil on TLS and QUIC connections
	local   string       // local address, for analytics
	ip      string       // the client's address without its port
	// outTmpl is an empty upstream request carrying the context of this
	// connection's HTTP/1 requests: copying it gives a request with that
	// context without WithContext's allocation. HTTP/1 only, where the
	// connection serves one request at a time.
	outTmpl *http.Request

	// connScoped: the connection's requests all carry one context that
	// ends with the connection (package h1's server; net/http's requests
	// each have their own).
	connScoped bool
	// The one watch of a connScoped connection's context, shared by its
	// requests one after another instead of a context.AfterFunc per
	// upstream exchange: when the context ends, the upstream connection in
	// use (current) has its I/O aborted. Set by the connection's goroutine
	// only (see watch).
	watched context.Context
	current atomic.Pointer[h1Conn]
	unwatch func() bool // ci.release, bound once
}

// watch makes c's blocked I/O return when ctx, this HTTP/1 connection's
// request context, ends; the returned stop reports whether ctx had not
// ended (c's deadline is untouched), like context.AfterFunc's. One
// exchange at a time: the connection serves one request at a time.
func (ci *connInfo) watch(ctx context.Context, c *h1Conn) func() bool {
	if ci.watched != ctx {
		ci.watched = ctx
		if ci.unwatch == nil {
			ci.unwatch = ci.release
		}
		// Never stopped: the registration ends with ctx, which ends with
		// the client connection.
		context.AfterFunc(ctx, ci.abortCurrent)
	}
	ci.current.Store(c)
	if ctx.Err() != nil && ci.current.CompareAndSwap(c, nil) {
		c.abort() // ended before the watch could see c
	}
	return ci.unwatch
}

// release ends the watch of the current exchange.
func (ci *connInfo) release() bool { return ci.current.Swap(nil) != nil }

// abortCurrent runs when the connection's context ends.
func (ci *connInfo) abortCurrent() {
	if c := ci.current.Swap(nil); c != nil {
		c.abort()
	}
}

// upstreamRequest returns an empty request carrying ctx, copied from the
// connection's template when r is an HTTP/1 request with its context.
func (ci *connInfo) upstreamRequest(r *http.Request, into *http.Request) *http.Request {
	ctx := r.Context()
	if ci == nil || r.ProtoMajor != 1 {
		*into = http.Request{}
		return into.WithContext(ctx)
	}
	if ci.outTmpl == nil || ci.outTmpl.Context() != ctx {
		ci.outTmpl = (&http.Request{}).WithContext(ctx)
	}
	*into = *ci.outTmpl
	return into
}

func (c *inspectConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.sc.scan(p[:n]) {
			c.bad.Store(true)
		}
		c.mu.Unlock()
	}
	return n, err
}

// inspectListener wraps accepted connections in inspectConn.
type inspectListener struct{ net.Listener }

func (l inspectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &inspectConn{Conn: c}, nil
}

// connContext is the http.Server ConnContext of every TCP listener: it
// records the connection's local address and, on the cleartext listener,
// makes the framing verdict visible to the handler.
func connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{local: c.LocalAddr().String(), ip: hostOf(c.RemoteAddr().String())}
	ci.inspect, _ = c.(*inspectConn)
	return context.WithValue(ctx, connInfoKey{}, ci)
}

// leanConnContext is the ConnContext of package h1's server, whose
// requests carry their connection's context.
func leanConnContext(ctx context.Context, c net.Conn) context.Context {
	ctx = connContext(ctx, c)
	connInfoOf(ctx).connScoped = true
	return ctx
}

// quicConnContext is the http3.Server ConnContext.
func quicConnContext(ctx context.Context, c *quic.Conn) context.Context {
	return context.WithValue(ctx, connInfoKey{}, &connInfo{local: c.LocalAddr().String(), ip: hostOf(c.RemoteAddr().String())})
}

func connInfoOf(ctx context.Context) *connInfo {
	ci, _ := ctx.Value(connInfoKey{}).(*connInfo)
	return ci
}

// smuggled reports whether the request's connection sent an ambiguous
// message.
func smuggled(ci *connInfo) bool {
	return ci != nil && ci.inspect != nil && ci.inspect.bad.Load()
}

// Scanner states.
const (
	stStart = iota // before a request line
	stHeaders
	stBody
	stChunkSize
	stChunkData
	stTrailer
	stDone // HTTP/2, an upgrade, or a verdict: nothing more to look at
)

// maxScanLine is how much of a line the scanner keeps; names and framing
// values fit in it.
const maxScanLine = 128

// frameScanner is a minimal HTTP/1 framing tracker.
type frameScanner struct {
	state   int
	line    []byte
	lineLen int   // full length of the current line (may exceed line)
	left    int64 // body or chunk bytes still to skip
	cl, te  bool
	chunked bool
	upgrade bool
}

// scan consumes b and reports whether it found an ambiguous message.
func (s *frameScanner) scan(b []byte) bool {
	for len(b) > 0 && s.state != stDone {
		if s.state == stBody || s.state == stChunkData {
			k := min(int64(len(b)), s.left)
			s.left -= k
			b = b[k:]
			if s.left == 0 {
				if s.state == stBody {
					s.state = stStart
				} else {
					s.state = stChunkSize
				}
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if room := maxScanLine - len(s.line); room > 0 {
			s.line = append(s.line, part[:min(len(part), room)]...)
		}
		s.lineLen += len(part)
		if i < 0 {
			return false
		}
		b = b[i+1:]
		line := bytes.TrimSuffix(s.line, []byte("\r"))
		full := s.lineLen
		s.line, s.lineLen = s.line[:0], 0
		if bad := s.onLine(line, full); bad {
			s.state = stDone
			return true
		}
	}
	return false
}

// onLine advances the state machine by one line.
func (s *frameScanner) onLine(line []byte, full int) bool {
	switch s.state {
	case stStart:
		if len(line) == 0 {
			return false // stray CRLF between requests
		}
		if bytes.HasPrefix(line, []byte("PRI * HTTP/2.0")) {
			s.state = stDone
			return false
		}
		s.state, s.cl, s.te, s.chunked, s.upgrade = stHeaders, false, false, false, false
	case stHeaders:
		if len(line) == 0 {
			return s.endHeaders()
		}
		if line[0] == ' ' || line[0] == '\t' {
			return true // obs-fold
		}
		s.header(line)
	case stChunkSize:
		size, ok := parseChunkSize(line)
		switch {
		case !ok || full > 4096:
			s.state = stDone // malformed: Go's parser refuses it
		case size == 0:
			s.state = stTrailer
		default:
			s.state, s.left = stChunkData, size+2
		}
	case stTrailer:
		if len(line) == 0 {
			s.state = stStart
		}
	}
	return false
}

func (s *frameScanner) header(line []byte) {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	value = bytes.TrimSpace(value)
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		s.cl = true
		s.left = parseDecimal(value)
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		s.te = true
		s.chunked = s.chunked || bytes.Contains(bytes.ToLower(value), []byte("chunked"))
	case bytes.EqualFold(name, []byte("Upgrade")):
		s.upgrade = true
	}
}

func (s *frameScanner) endHeaders() bool {
	switch {
	case s.cl && s.te:
		return true
	case s.upgrade:
		s.state = stDone
	case s.chunked:
		s.state = stChunkSize
	case s.cl && s.left > 0:
		s.state = stBody
	default:
		s.state = stStart
	}
	return false
}

func parseDecimal(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' || n > 1<<50 {
			return 0 // Go's parser refuses it; nothing to skip
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
