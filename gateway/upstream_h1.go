package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// h1Client is the upstream client for plain http:// HTTP/1.1 endpoints, the
// common case and the hot path. Unlike http.Transport, which hands each
// request between three goroutines, it writes the request and reads the
// answer on the caller's goroutine over a pooled keep-alive connection.
// https and HTTP/2 endpoints use http.Transport.
//
// Pool: idle connections are reused last-in first-out; at most maxIdle are
// kept (more are closed); one idle longer than idleTimeout is closed when
// found. A connection idle for over peekAfterIdle is checked for a close by the
// peer before reuse, and a request that fails on a reused connection before
// any answer is retried once on a new one when it is idempotent and has no
// body.
type h1Client struct {
	addr        string
	dialer      *net.Dialer
	readTimeout time.Duration
	idleTimeout time.Duration
	keepAlive   bool
	maxIdle     int
	// epoch is the client's zero of time: connections keep their times as
	// durations since it, read with time.Since (one clock read, where
	// time.Now takes two).
	epoch time.Time

	mu   sync.Mutex
	idle []*h1Conn
}

type h1Conn struct {
	net.Conn
	budget int64 // bytes the header block may still take; <0: no limit (body)
	br     *bufio.Reader
	bw     *bufio.Writer
	hdr    []byte // reused to format request headers
	// respHdr receives each answer's header fields. An answer's Header is
	// therefore valid only while the connection is checked out: until its
	// body is read to the end or closed (a bodiless answer gets a copy, as
	// its connection returns to the pool at once).
	respHdr  http.Header
	epoch    time.Time     // the client's
	lastUsed time.Duration // since epoch
	deadline time.Duration // the read deadline set last, since epoch; 0: none
	abort    func()        // makes blocked I/O return at once
}

func newH1Client(addr string, c *httpClientConfig) *h1Client {
	return &h1Client{
		addr:        addr,
		dialer:      &net.Dialer{Timeout: c.connectTimeout(), KeepAlive: 30 * time.Second},
		readTimeout: c.readTimeout(),
		idleTimeout: c.idleTimeout(),
		keepAlive:   c.HTTP.KeepAlive == nil || *c.HTTP.KeepAlive,
		maxIdle:     maxIdleConnsPerHost,
		epoch:       time.Now(),
	}
}

// peekAfterIdle: a connection idle longer than this is checked (one
// non-blocking peek) for a close by the peer before it is reused; under load
// connections are reused sooner and skip the check.
const peekAfterIdle = 50 * time.Millisecond

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// fieldAppender writes a request's header fields for h1Client, as
// "Name: value\r\n" lines, in place of the request's Header map: the
// gateway forwards the client's fields without building a map.
type fieldAppender interface {
	appendFields(buf []byte) []byte
}

// send sends req with rt; fw, if not nil and rt is an h1Client, writes the
// header fields (req.Header is then ignored).
func send(rt roundTripper, req *http.Request, fw fieldAppender) (*http.Response, error) {
	if cl, ok := rt.(*h1Client); ok && fw != nil {
		return cl.roundTrip(req, fw)
	}
	return rt.RoundTrip(req)
}

// RoundTrip sends req and returns the answer; its body must be closed.
func (cl *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	return cl.roundTrip(req, nil)
}

// roundTrip is RoundTrip with the header fields written by fw when it is
// not nil.
func (cl *h1Client) roundTrip(req *http.Request, fw fieldAppender) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := cl.get(req.Context())
		if err != nil {
			return nil, err
		}
		resp, err := cl.exchange(c, req, fw)
		if err == nil {
			return resp, nil
		}
		_ = c.Close() // broken: never reused
		retry := reused && attempt == 0 && (req.Body == nil || req.Body == http.NoBody) &&
			isIdempotent(req.Method) && req.Context().Err() == nil && !isTimeout(err)
		if !retry {
			return nil, err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// get returns an idle connection or dials a new one.
func (cl *h1Client) get(ctx context.Context) (*h1Conn, bool, error) {
	now := time.Since(cl.epoch)
	for {
		cl.mu.Lock()
		n := len(cl.idle)
		if n == 0 {
			cl.mu.Unlock()
			break
		}
		c := cl.idle[n-1]
		cl.idle[n-1] = nil
		cl.idle = cl.idle[:n-1]
		cl.mu.Unlock()
		idle := now - c.lastUsed
		if idle > peekAfterIdle && c.deadline != 0 && c.deadline < now {
			// An expired deadline would make the peek below fail.
			if err := c.setReadDeadline(0); err != nil {
				_ = c.Close() // broken
				continue
			}
		}
		if idle > cl.idleTimeout || (idle > peekAfterIdle && peerClosed(c.Conn)) {
			_ = c.Close() // stale
			continue
		}
		return c, true, nil
	}
	conn, err := cl.dialer.DialContext(ctx, "tcp", cl.addr)
	if err != nil {
		return nil, false, &dialError{err}
	}
	c := &h1Conn{Conn: conn, epoch: cl.epoch, budget: -1, bw: bufio.NewWriterSize(conn, 16<<10), hdr: make([]byte, 0, 1024), respHdr: make(http.Header)}
	c.br = bufio.NewReaderSize(headerBudgetReader{c}, 16<<10)
	c.abort = func() { _ = c.SetDeadline(aLongTimeAgo) }
	return c, false, nil
}

// put returns a healthy connection to the pool.
func (cl *h1Client) put(c *h1Conn) {
	c.lastUsed = time.Since(cl.epoch)
	cl.mu.Lock()
	if len(cl.idle) >= cl.maxIdle {
		cl.mu.Unlock()
		_ = c.Close() // pool full
		return
	}
	cl.idle = append(cl.idle, c)
	cl.mu.Unlock()
}

// CloseIdleConnections closes the pooled connections.
func (cl *h1Client) CloseIdleConnections() {
	cl.mu.Lock()
	idle := cl.idle
	cl.idle = nil
	cl.mu.Unlock()
	for _, c := range idle {
		_ = c.Close() // idle: nobody uses it
	}
}

// exchange writes req on c and reads the answer's headers.
func (cl *h1Client) exchange(c *h1Conn, req *http.Request, fw fieldAppender) (*http.Response, error) {
	stop := watchContext(req.Context(), c)
	werr := cl.writeRequest(c, req, fw)
	if werr != nil && (req.Body == nil || req.Body == http.NoBody || isClientBodyError(werr)) {
		stop()
		return nil, werr
	}
	// readTimeout: the time the upstream has to answer once the request is
	// sent (or once it stopped taking the body).
	if err := cl.armReadDeadline(c); err != nil {
		stop()
		return nil, err
	}
	c.budget = maxUpstreamHeaderBytes
	if c.br.Buffered() == 0 {
		// The answer cannot be there yet: let the other requests' goroutines
		// run first, so that this read usually finds it instead of failing
		// with EAGAIN and parking (one system call less per request under
		// load; with nothing else to run, Gosched returns at once).
		runtime.Gosched()
	}
	r, err := readFinalResponse(c.br, req, c.respHdr)
	c.budget = -1
	if err != nil {
		stop()
		if werr != nil {
			return nil, werr
		}
		return nil, err
	}
	resp := &r.resp
	if werr != nil {
		resp.Close = true // the upstream answered before reading the whole body
	}
	// The body may take longer than readTimeout: lift the deadline, unless
	// there is no body or it is already buffered (the next request sets its
	// own).
	if r.bodyPending(c.br) {
		if err := c.setReadDeadline(0); err != nil {
			stop()
			return nil, err
		}
	}
	reuse := cl.keepAlive && !resp.Close && !req.Close
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &h1Upgraded{c: c, stop: stop}
		return resp, nil
	}
	if resp.Body == http.NoBody {
		resp.Header = resp.Header.Clone() // the connection's map is reused at once
		cl.release(c, stop, reuse)
		return resp, nil
	}
	r.body.c, r.body.cl, r.body.stop, r.body.reuse = c, cl, stop, reuse
	return resp, nil
}

// watchContext makes blocked I/O on c return when ctx ends; the returned
// stop reports whether ctx had not ended (c's deadline is untouched). The
// context of package h1's connections, which all their requests carry, is
// watched once per connection (connInfo.watch); others get a
// context.AfterFunc.
func watchContext(ctx context.Context, c *h1Conn) func() bool {
	if ctx.Done() == nil {
		return neverStopped
	}
	if ci := connInfoOf(ctx); ci != nil && ci.connScoped && ci.outTmpl != nil && ci.outTmpl.Context() == ctx {
		return ci.watch(ctx, c)
	}
	return context.AfterFunc(ctx, c.abort)
}

func neverStopped() bool { return true }

// deadlineSlack is how much later than readTimeout (at most 1/64 of it) a
// connection's read deadline may fire: within that margin the deadline
// set for the previous exchange is kept, which saves re-arming the
// runtime's timer on every exchange of a busy connection.
func deadlineSlack(readTimeout time.Duration) time.Duration { return readTimeout / 64 }

// armReadDeadline makes sure c's read deadline falls between readTimeout
// and readTimeout plus its slack from now.
func (cl *h1Client) armReadDeadline(c *h1Conn) error {
	earliest := time.Since(cl.epoch) + cl.readTimeout
	slack := deadlineSlack(cl.readTimeout)
	if c.deadline >= earliest && c.deadline <= earliest+slack {
		return nil
	}
	return c.setReadDeadline(earliest + slack)
}

// setReadDeadline sets c's read deadline, at since c's epoch (0: none), and
// remembers it.
func (c *h1Conn) setReadDeadline(at time.Duration) error {
	if at == 0 && c.deadline == 0 {
		return nil
	}
	c.deadline = at
	if at == 0 {
		return c.SetReadDeadline(time.Time{})
	}
	return c.SetReadDeadline(c.epoch.Add(at))
}

// maxUpstreamHeaderBytes bounds an upstream's response header block (as
// http.Transport's MaxResponseHeaderBytes does for the other endpoints).
const maxUpstreamHeaderBytes = 1 << 20

var errUpstreamHeaderTooLarge = errors.New("upstream response headers larger than 1 MiB")

// headerBudgetReader stops reading from the upstream when a header block
// exceeds its budget.
type headerBudgetReader struct{ c *h1Conn }

func (r headerBudgetReader) Read(p []byte) (int, error) {
	if r.c.budget == 0 {
		return 0, errUpstreamHeaderTooLarge
	}
	if r.c.budget > 0 && int64(len(p)) > r.c.budget {
		p = p[:r.c.budget]
	}
	n, err := r.c.Conn.Read(p)
	if r.c.budget > 0 {
		r.c.budget -= int64(n)
	}
	return n, err
}

// readFinalResponse skips 1xx answers other than 101; hdr as in
// readResponse.
func readFinalResponse(br *bufio.Reader, req *http.Request, hdr http.Header) (*h1Response, error) {
	for {
		r, err := readResponse(br, req, hdr)
		if err != nil {
			return nil, err
		}
		if r.resp.StatusCode >= 200 || r.resp.StatusCode == http.StatusSwitchingProtocols {
			return r, nil
		}
	}
}

// release pools c unless it must close, or the request's context fired
// (which poisoned its deadline).
func (cl *h1Client) release(c *h1Conn, stop func() bool, reuse bool) {
	if stop() && reuse {
		cl.put(c)
		return
	}
	_ = c.Close() // not reusable
}

// skipRequestHeader reports the headers writeRequest sets itself.
func skipRequestHeader(k string) bool {
	switch k {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// hasLineBreak reports whether v holds a CR or LF (a value that would split
// the request head); a byte loop, as values are short.
func hasLineBreak(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			return true
		}
	}
	return false
}

func (cl *h1Client) writeRequest(c *h1Conn, req *http.Request, fw fieldAppender) error {
	buf := c.hdr[:0]
	buf = append(buf, req.Method...)
	buf = append(buf, ' ')
	buf = append(buf, req.URL.RequestURI()...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, req.Host...)
	buf = append(buf, "\r\n"...)
	if fw != nil {
		buf = fw.appendFields(buf)
	}
	for k, vv := range req.Header {
		if skipRequestHeader(k) {
			continue
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" || hasLineBreak(v) {
				continue
			}
			buf = appendField(buf, k, v)
		}
	}
	if !cl.keepAlive {
		buf = append(buf, "Connection: close\r\n"...)
	}
	body := req.Body
	chunked := false
	switch {
	case body == nil || body == http.NoBody:
		body = nil
		if req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
			buf = append(buf, "Content-Length: 0\r\n"...)
		}
	case req.ContentLength > 0:
		buf = append(buf, "Content-Length: "...)
		buf = strconv.AppendInt(buf, req.ContentLength, 10)
		buf = append(buf, "\r\n"...)
	default:
		chunked = true
		buf = append(buf, "Transfer-Encoding: chunked\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	c.hdr = buf[:0]
	if _, err := c.bw.Write(buf); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil { // headers first: the upstream may answer early
		return err
	}
	if body == nil {
		return nil
	}
	src := &sourceReader{r: body}
	if chunked {
		return src.blame(writeChunked(c.bw, src))
	}
	n, err := io.Copy(c.bw, src)
	if err == nil && n != req.ContentLength {
		err = &clientBodyError{io.ErrUnexpectedEOF}
	}
	if err != nil {
		return src.blame(err)
	}
	return c.bw.Flush()
}

// sourceReader remembers an error reading the client's body, to tell it
// from an error writing upstream.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// blame wraps err as a clientBodyError when the client's body failed.
func (s *sourceReader) blame(err error) error {
	if err != nil && s.err != nil {
		return &clientBodyError{s.err}
	}
	return err
}

// clientBodyError is a failure reading the client's request body (too
// large, cut short): no answer is awaited from the upstream.
type clientBodyError struct{ err error }

// isClientBodyError reports whether err came from reading the client's
// body (a function of its own: the target of errors.As escapes).
func isClientBodyError(err error) bool {
	var cbe *clientBodyError
	return errors.As(err, &cbe)
}

func (e *clientBodyError) Error() string { return "request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

func writeChunked(bw *bufio.Writer, body io.Reader) error {
	cw := httputil.NewChunkedWriter(bw)
	if _, err := io.Copy(cw, body); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	return bw.Flush()
}

// h1Upgraded is the connection after 101 Switching Protocols.
type h1Upgraded struct {
	c    *h1Conn
	stop func() bool
}

func (u *h1Upgraded) Read(p []byte) (int, error)  { return u.c.br.Read(p) }
func (u *h1Upgraded) Write(p []byte) (int, error) { return u.c.Conn.Write(p) }
func (u *h1Upgraded) Close() error {
	u.stop()
	return u.c.Close()
}
