package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
)

// h1Body reads an upstream answer's body straight from the connection's
// buffer. Once the body was read to its end the connection returns to the
// pool; a body closed early, or broken, closes the connection.
type h1Body struct {
	br      *bufio.Reader
	framing bodyFraming
	left    int64          // bodyLength: bytes still to come
	chunks  io.Reader      // bodyChunked: made on the first read
	resp    *http.Response // bodyChunked: receives the trailers
	err     error          // the error every read returns once the body ended

	// Set by h1Client.exchange; c is nil when the body is read without a
	// pool (tests).
	c     *h1Conn
	cl    *h1Client
	stop  func() bool
	reuse bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.read(p)
	if err != nil {
		b.err = err
		b.finish(err == io.EOF)
	}
	return n, err
}

// bodyPending reports whether the rest of r, after its head, may still
// have to come from the network rather than from br's buffer.
func (r *h1Response) bodyPending(br *bufio.Reader) bool {
	switch {
	case r.resp.StatusCode == http.StatusSwitchingProtocols:
		return true
	case r.resp.Body == http.NoBody:
		return false
	case r.body.framing == bodyLength:
		return int64(br.Buffered()) < r.body.left
	}
	return true
}

// finish hands the connection back to the pool after a whole body, or
// closes it.
func (b *h1Body) finish(whole bool) {
	if b.c == nil {
		return
	}
	if whole {
		b.cl.release(b.c, b.stop, b.reuse)
		return
	}
	b.stop()
	_ = b.c.Close() // broken or abandoned mid-body: never reused
}

// Close closes the connection unless the body was read to its end.
func (b *h1Body) Close() error {
	if b.err != nil {
		return nil
	}
	b.err = http.ErrBodyReadAfterClose
	b.finish(false)
	return nil
}

func (b *h1Body) read(p []byte) (int, error) {
	switch b.framing {
	case bodyLength:
		return b.readLength(p)
	case bodyChunked:
		return b.readChunked(p)
	}
	return b.br.Read(p) // bodyToClose: the upstream's close ends it
}

// readLength reads a body of known length; like net/http's it returns
// io.EOF with the last bytes, and io.ErrUnexpectedEOF when the upstream
// closes early.
func (b *h1Body) readLength(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *h1Body) readChunked(p []byte) (int, error) {
	if b.chunks == nil {
		b.chunks = httputil.NewChunkedReader(b.br)
	}
	n, err := b.chunks.Read(p)
	if err == io.EOF {
		if terr := b.readTrailer(); terr != nil {
			return n, terr
		}
	}
	return n, err
}

var (
	errTrailerEOF  = errors.New("unexpected EOF reading the upstream's trailer")
	errLongTrailer = errors.New("upstream trailer larger than the connection buffer")
	crlf           = []byte("\r\n")
	crlfcrlf       = []byte("\r\n\r\n")
)

// readTrailer reads the trailer section after the last chunk into
// b.resp.Trailer. Like net/http it must end with CRLF CRLF within the
// connection's buffer.
func (b *h1Body) readTrailer() error {
	buf, err := b.br.Peek(2)
	if bytes.Equal(buf, crlf) {
		_, _ = b.br.Discard(2) // buffered: cannot fail
		return nil
	}
	if len(buf) < 2 {
		return errTrailerEOF
	}
	if err != nil {
		return err
	}
	for !bytes.Contains(buf, crlfcrlf) {
		if len(buf) == b.br.Size() {
			return errLongTrailer
		}
		if buf, err = b.br.Peek(len(buf) + 1); err != nil && !bytes.Contains(buf, crlfcrlf) {
			return errLongTrailer
		}
	}
	end := headEnd(buf, 0) // found: buf holds "\n\r\n"
	t, err := parseFields(string(buf[:end]), nil, nil)
	_, _ = b.br.Discard(end) // buffered: cannot fail
	if err != nil {
		return err
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = t
		return nil
	}
	for k, vv := range t {
		b.resp.Trailer[k] = vv
	}
	return nil
}
