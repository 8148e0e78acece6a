package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
	stateHijacked
)

// conn is one client connection; its Request, URL, Header and writer are
// reused from one request to the next.
type conn struct {
	srv    *Server
	rwc    net.Conn
	state  atomic.Int32
	br     *bufio.Reader
	bw     *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc
	remote string
	tmpl   *http.Request // carries ctx; copied into req for each request
	req    http.Request
	url    url.URL
	hdr    http.Header
	hblk   []byte // the raw header block being read (readBlock)
	head   string // the request's header block
	seen   uint8  // header fields of the request (headInfo.seen)
	w      response
	body   *body // nil when the request has none
	// hijacked is set when the handler took the connection.
	hijacked bool

	// Lazy read deadlines (deadline.go). raw is nil when rwc is not a
	// syscall.Conn: deadlines are then set eagerly.
	raw      syscall.RawConn
	rawFn    func(fd uintptr) bool // c.rawRead, bound once
	phase    int                   // readAsIs, readWait or readHead
	first    bool                  // the wait is for the connection's first request
	armed    bool                  // this wait has set its deadline
	rdl      time.Time             // the read deadline in force; zero: none
	want     time.Time             // the deadline of the wait in progress
	headFrom time.Time             // arrival of a partial head's first bytes; zero: unknown
	rawBuf   []byte                // rawRead's destination
	rawN     int                   // rawRead's result
	rawErr   error
}

// Buffer sizes: reads and writes of typical requests fit in one buffer.
const (
	readBufSize  = 4 << 10
	writeBufSize = 4 << 10
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}
)

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, remote: rwc.RemoteAddr().String()}
	c.state.Store(stateActive)
	return c
}

// serve runs the connection's request loop.
func (c *conn) serve() {
	defer c.srv.untrack(c)
	ctx := c.srv.baseCtx
	if c.srv.ConnContext != nil {
		ctx = c.srv.ConnContext(ctx, c.rwc)
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	defer c.cancel()
	c.tmpl = (&http.Request{}).WithContext(c.ctx)
	c.setRaw()
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(connReader{c})
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.rwc)
	// The header maps start small (one group of eight fields): clearing
	// them for each request is then cheap; a request or answer with more
	// fields grows them for the connection's life.
	c.hdr = make(http.Header)
	c.w.c = c
	c.w.hdr = make(http.Header)
	handedOff := c.loop()
	if c.hijacked || handedOff {
		return // the buffers belong to the new owner
	}
	_ = c.rwc.Close() // the loop ended: errors were already handled
	c.release()
}

func (c *conn) release() {
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.br, c.bw = nil, nil
}

// loop serves requests until the connection ends; it reports whether the
// connection was handed off.
func (c *conn) loop() bool {
	first := true
	for {
		if !c.waitRequest(first) {
			return false
		}
		if first {
			first = false
			if c.isPreface() {
				return c.handOff("")
			}
		}
		req, perr := c.readRequest()
		if perr != nil {
			c.answerError(perr)
			return false
		}
		c.phase = readAsIs // the head is read: no header deadline is owed
		if perr := c.prepareBody(req); perr != nil {
			c.answerError(perr)
			return false
		}
		if c.srv.HandOff != nil && c.seen&seenUpgrade != 0 && isH2CUpgrade(req.Header) {
			return c.handOff(c.head)
		}
		if !c.serveOne(req) {
			return false
		}
	}
}

// waitRequest waits for the first byte of the next request under the idle
// timeout (the header timeout for the first request) and marks the
// connection active. It reports false when the connection should close.
func (c *conn) waitRequest(first bool) bool {
	if !first && c.br.Buffered() == 0 {
		// The client has just been answered and has not sent its next
		// request yet: let the other connections' goroutines run first,
		// so the read below usually finds the request instead of failing
		// with EAGAIN and parking (one system call less per request under
		// load; with nothing else to run, Gosched returns at once).
		runtime.Gosched()
	}
	if c.br.Buffered() == 0 {
		if !first {
			if !c.state.CompareAndSwap(stateActive, stateIdle) {
				return false
			}
			if c.srv.closing.Load() {
				return false
			}
		}
		if c.raw != nil {
			// The reader sets the wait's and the head's deadlines when a
			// read would block (deadline.go).
			c.phase, c.first = readWait, first
		} else {
			wait := c.srv.IdleTimeout
			if first {
				wait = c.srv.ReadHeaderTimeout
			}
			if err := c.setReadDeadline(time.Now().Add(wait)); err != nil {
				return false
			}
		}
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) && c.state.Load() != stateActive {
			return false // closed by Shutdown while idle
		}
		if c.raw != nil {
			return true
		}
	} else if c.srv.closing.Load() {
		return false
	}
	return c.setReadDeadline(time.Now().Add(c.srv.ReadHeaderTimeout)) == nil
}

func (c *conn) isPreface() bool {
	if b, _ := c.br.Peek(1); len(b) == 0 || b[0] != 'P' {
		return false
	}
	b, err := c.br.Peek(len(h2Preface))
	return err == nil && string(b) == h2Preface
}

const h2Preface = "PRI * HTTP/2.0"

// serveOne runs the handler on one parsed request and finishes the
// response; it reports whether the connection can carry another request.
func (c *conn) serveOne(req *http.Request) bool {
	// The header deadline ends here for a request with a body: the handler
	// reads it at its own pace. Without a body nothing reads the connection
	// until the next waitRequest (or a Hijack, which clears the deadlines),
	// so the deadline is left as it is: one timer change less per request.
	// With lazy deadlines none may be in force (rdl zero).
	if c.body != nil && !c.rdl.IsZero() {
		if err := c.setReadDeadline(time.Time{}); err != nil {
			return false
		}
	}
	if c.srv.WriteTimeout > 0 {
		if err := c.rwc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout)); err != nil {
			return false
		}
	}
	c.w.reset(req)
	if !c.runHandler(req) {
		return false
	}
	if c.hijacked {
		return false
	}
	if c.body != nil && !c.body.finish() {
		c.w.closeAfter = true
	}
	return c.w.finish()
}

// runHandler calls the handler; a panic ends the connection (after
// logging unless it is http.ErrAbortHandler), as net/http does.
func (c *conn) runHandler(req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				c.srv.Log.Error("h1: panic serving a request", "remote", c.remote, "panic", v)
			}
			ok = false
		}
	}()
	c.srv.Handler.ServeHTTP(&c.w, req)
	return true
}

// answerError writes a bare error answer for a request that could not be
// parsed, and the connection closes.
func (c *conn) answerError(perr error) {
	var pe *parseError
	if !errors.As(perr, &pe) {
		return // a read error or timeout: nobody to answer
	}
	if c.srv.WriteTimeout > 0 {
		_ = c.rwc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout)) // best effort
	}
	msg := pe.text
	_, _ = io.WriteString(c.bw, "HTTP/1.1 "+statusLine(pe.status)+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "+itoa(len(msg))+"\r\n\r\n"+msg)
	_ = c.bw.Flush() // the connection closes next; a failed write changes nothing
	c.srv.Log.Debug("h1: bad request", "remote", c.remote, "err", pe.text)
	c.linger()
}

// Bounds of linger.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// linger reads and drops what the client still sends, for a short while,
// before the connection is closed: closing a socket with unread input
// resets it, and the reset can destroy the answer before the client has
// read it.
func (c *conn) linger() {
	if c.setReadDeadline(time.Now().Add(lingerTime)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c.br, lingerBytes) // ends at EOF, the deadline or the bound
}

// handOff passes the connection, with the bytes already read, to
// Server.HandOff.
func (c *conn) handOff(prefix string) bool {
	if c.srv.HandOff == nil {
		c.answerError(&parseError{http.StatusHTTPVersionNotSupported, "HTTP/2 is not served here"})
		return false
	}
	if err := c.setReadDeadline(time.Time{}); err != nil {
		return false
	}
	buffered, _ := c.br.Peek(c.br.Buffered()) // cannot fail: already buffered
	pre := make([]byte, 0, len(prefix)+len(buffered))
	pre = append(append(pre, prefix...), buffered...)
	rc := &replayConn{Conn: c.rwc, pre: pre}
	c.release()
	c.state.Store(stateHijacked)
	if err := c.srv.HandOff(rc); err != nil {
		c.srv.Log.Debug("h1: hand-off", "remote", c.remote, "err", err)
		_ = rc.Close() // nobody took it
	}
	return true
}

// replayConn returns pre before reading from the connection.
type replayConn struct {
	net.Conn
	pre []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}
