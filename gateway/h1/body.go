package h1

import (
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// Body kinds.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
)

// maxDrain is how much of an unread request body is read and dropped to
// keep the connection; a longer rest closes it instead.
const maxDrain = 256 << 10

// body is a request body read from the connection. It is allocated per
// request that has one (a handler's helper may still hold it after the
// handler returned); finish makes later reads fail.
type body struct {
	mu      sync.Mutex
	c       *conn
	kind    int
	left    int64
	chunked io.Reader
	expect  bool // 100 Continue not sent yet
	// noContinue: the final answer went out instead of 100 Continue.
	noContinue bool
	eof        bool
	broken     bool // a read failed: the framing is lost
	finished   bool
	closed     bool
}

var chunkedTE = []string{"chunked"}

// prepareBody reads the framing headers and sets req.Body and
// req.ContentLength; c.body is the body, nil if there is none.
func (c *conn) prepareBody(req *http.Request) error {
	c.body = nil
	var te, cls []string
	var hasTE, hasCL bool
	if c.seen&seenTransferEncoding != 0 {
		te, hasTE = req.Header["Transfer-Encoding"]
	}
	if c.seen&seenContentLength != 0 {
		cls, hasCL = req.Header["Content-Length"]
	}
	req.Body, req.ContentLength = http.NoBody, 0
	var n int64
	if hasCL {
		for _, v := range cls[1:] {
			if v != cls[0] {
				return errBadLength
			}
		}
		var ok bool
		if n, ok = parseLength(cls[0]); !ok {
			return errBadLength
		}
	}
	kind := bodyNone
	switch {
	case hasTE && hasCL:
		return errAmbiguous
	case hasTE:
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") || req.ProtoMinor == 0 {
			return errTE
		}
		delete(req.Header, "Transfer-Encoding")
		req.TransferEncoding, req.ContentLength = chunkedTE, -1
		kind = bodyChunked
	case n > 0:
		req.ContentLength = n
		kind = bodyLength
	}
	expect := false
	if c.seen&seenExpect != 0 && req.ProtoMinor == 1 {
		if ex := req.Header["Expect"]; len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") {
			return errExpect
		}
		expect = kind != bodyNone
	}
	if kind == bodyNone {
		return nil
	}
	b := &body{c: c, kind: kind, left: n, expect: expect}
	if kind == bodyChunked {
		b.chunked = httputil.NewChunkedReader(c.br)
	}
	c.body = b
	req.Body = b
	return nil
}

func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

var errBodyFinished = errors.New("h1: read of a request body after its response finished")

// Read reads the body; the first read answers 100 Continue when the client
// waits for it.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.finished:
		return 0, errBodyFinished
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expect {
		b.expect = false
		if err := b.c.w.sendContinue(); err != nil {
			b.broken = true
			return 0, err
		}
	}
	return b.read(p)
}

func (b *body) read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.broken {
		return 0, io.ErrUnexpectedEOF
	}
	if b.kind == bodyLength {
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := b.c.br.Read(p)
		b.left -= int64(n)
		if b.left == 0 {
			b.eof = true
			return n, io.EOF
		}
		if err != nil {
			b.broken = true
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
		}
		return n, err
	}
	n, err := b.chunked.Read(p)
	if errors.Is(err, io.EOF) {
		if terr := b.c.skipTrailer(); terr != nil {
			b.broken = true
			return n, terr
		}
		b.eof = true
		return n, io.EOF
	}
	if err != nil {
		b.broken = true
	}
	return n, err
}

// Close marks the body closed; what is left is drained (or the connection
// closed) once the response is finished.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// skipTrailer reads the chunked trailer up to its empty line; trailer
// fields are not passed on.
func (c *conn) skipTrailer() error {
	return c.readBlock(true)
}

// finish ends the body for the handler and reads the rest of it, up to
// maxDrain; it reports whether the connection can carry another request.
func (b *body) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finished = true
	if b.expect || b.noContinue {
		// The client may or may not send the body it announced: the
		// connection cannot be reused.
		return false
	}
	if b.kind == bodyLength && b.left > maxDrain {
		return false
	}
	if b.c.setReadDeadline(time.Now().Add(b.c.srv.ReadHeaderTimeout)) != nil {
		return false
	}
	var scratch [4096]byte
	drained := 0
	for !b.eof && !b.broken {
		n, _ := b.read(scratch[:]) // errors mark the body broken
		drained += n
		if drained > maxDrain {
			return false
		}
	}
	return b.eof
}
