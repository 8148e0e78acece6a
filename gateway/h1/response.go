package h1

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// pendSize is how much of a body of unknown length is held back, so that
// a short answer gets a Content-Length instead of chunked framing.
const pendSize = 2048

// response is the http.ResponseWriter of one request; the conn reuses it.
type response struct {
	c           *conn
	req         *http.Request
	hdr         http.Header
	status      int
	wroteHeader bool // a final status was set
	committed   bool // the status line and headers are in the write buffer
	chunked     bool
	head        bool
	noBody      bool  // the status allows no body
	cl          int64 // declared Content-Length, -1 if none
	written     int64
	closeAfter  bool
	failed      bool // a write failed: the connection is lost
	// pend is the held-back body; its array (pendSize bytes) lives as
	// long as the response and is kept across reset, which so clears only
	// the small fields.
	pend []byte
}

func (w *response) reset(req *http.Request) {
	clear(w.hdr)
	pend := w.pend[:0]
	if pend == nil {
		pend = make([]byte, 0, pendSize)
	}
	*w = response{c: w.c, req: req, hdr: w.hdr, cl: -1, head: req.Method == http.MethodHead, pend: pend}
}

// Header returns the response header map.
func (w *response) Header() http.Header { return w.hdr }

// WriteHeader sends an informational status at once and records a final
// one; the headers go out with the first body bytes, a Flush or the end.
func (w *response) WriteHeader(code int) {
	if w.c.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	w.noBody = code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
	if v, ok := w.hdr["Content-Length"]; ok && len(v) == 1 {
		if n, ok := parseLength(v[0]); ok {
			w.cl = n
		}
	}
}

func (w *response) writeInformational(code int) {
	bw := w.c.bw
	_, _ = bw.WriteString("HTTP/1.1 " + statusLine(code) + "\r\n") // errors surface at Flush
	w.writeFields(false)
	_, _ = bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.failed = true
	}
}

// sendContinue answers 100 Continue before the first body read.
// The caller holds the body's lock, which commit takes too: the two never
// write at the same time, and no 100 follows the final answer.
func (w *response) sendContinue() error {
	if _, err := w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		return err
	}
	return w.c.bw.Flush()
}

// Write sends body bytes; a short body of unknown length is held back to
// be sent with a Content-Length.
func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	if w.failed {
		return 0, net.ErrClosed
	}
	if w.head {
		w.written += int64(len(p))
		return len(p), nil
	}
	if !w.committed {
		if w.cl < 0 && len(w.pend)+len(p) <= cap(w.pend) {
			w.pend = append(w.pend, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		w.commit(false, p)
	}
	w.written += int64(len(p))
	return len(p), w.writeBody(p)
}

func (w *response) writeBody(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	bw := w.c.bw
	var err error
	if w.chunked {
		var hb [20]byte
		_, _ = bw.Write(append(strconv.AppendInt(hb[:0], int64(len(p)), 16), '\r', '\n')) // errors are sticky in bw
		_, _ = bw.Write(p)
		_, err = bw.WriteString("\r\n")
	} else {
		_, err = bw.Write(p)
	}
	if err != nil {
		w.failed = true
	}
	return err
}

// commit writes the status line and headers, then the held-back body.
// final means the handler is done: a held-back body gets a
// Content-Length. next is the data about to be written (for sniffing).
func (w *response) commit(final bool, next []byte) {
	w.committed = true
	if b := w.c.body; b != nil {
		b.mu.Lock()
		if b.expect { // a final answer replaces 100 Continue
			b.expect, b.noContinue = false, true
		}
		b.mu.Unlock()
	}
	h := w.hdr
	bodyOK := !w.noBody
	_, hasTrailer := h["Trailer"]
	switch {
	case !bodyOK:
	case w.cl >= 0:
	case final && !hasTrailer && !(w.head && len(w.pend) == 0):
		w.cl = int64(len(w.pend))
		h["Content-Length"] = []string{strconv.Itoa(len(w.pend))}
	case w.head:
	case w.req.ProtoMinor == 1:
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the end of the body is the close
	}
	if bodyOK && !w.head {
		if _, ok := h["Content-Type"]; !ok && w.written > 0 {
			sniff := w.pend
			if len(sniff) == 0 {
				sniff = next
			}
			h["Content-Type"] = []string{http.DetectContentType(sniff)}
		}
	}
	if w.status != http.StatusSwitchingProtocols {
		if hasToken(h["Connection"], "close") {
			w.closeAfter = true
		}
		if w.req.Close || w.c.srv.closing.Load() {
			w.closeAfter = true
		}
	}
	bw := w.c.bw
	if w.status < len(statusHeads) && statusHeads[w.status] != "" {
		_, _ = bw.WriteString(statusHeads[w.status])
	} else {
		_, _ = bw.WriteString("HTTP/1.1 " + statusLine(w.status) + "\r\n")
	}
	w.writeFields(true)
	if _, ok := h["Date"]; !ok {
		_, _ = bw.Write(w.c.srv.date())
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.status != http.StatusSwitchingProtocols {
		switch {
		case w.closeAfter:
			_, _ = bw.WriteString("Connection: close\r\n")
		case w.req.ProtoMinor == 0:
			_, _ = bw.WriteString("Connection: keep-alive\r\n")
		}
	}
	_, _ = bw.WriteString("\r\n")
	if len(w.pend) > 0 {
		p := w.pend
		w.pend = w.pend[:0]
		_ = w.writeBody(p) // failures are recorded in w.failed
	}
}

// writeFields writes the handler's header fields; final leaves out the
// fields the server frames itself.
func (w *response) writeFields(final bool) {
	bw := w.c.bw
	for k, vv := range w.hdr {
		if final && (k == "Transfer-Encoding" || k == "Connection" && w.status != http.StatusSwitchingProtocols) {
			continue
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !validToken(k) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if final && w.status != http.StatusSwitchingProtocols && !w.closeAfter {
		for _, v := range w.hdr["Connection"] { // other tokens than close
			_, _ = bw.WriteString("Connection: " + cleanValue(v) + "\r\n")
		}
	}
}

// writeField writes "k: v\r\n" with v cleaned as cleanValue does, in
// one append to the writer's free space when it fits there.
func writeField(bw *bufio.Writer, k, v string) {
	n := len(k) + len(v) + 4
	if bw.Available() < n {
		_, _ = bw.WriteString(k) // errors are sticky in bw and surface at Flush
		_, _ = bw.WriteString(": ")
		_, _ = bw.WriteString(cleanValue(v))
		_, _ = bw.WriteString("\r\n")
		return
	}
	b := bw.AvailableBuffer()
	b = append(b, k...)
	b = append(b, ':', ' ')
	start := len(b)
	b = append(b, v...)
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		for i := start; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = ' '
			}
		}
	}
	b = append(b, '\r', '\n')
	_, _ = bw.Write(b) // within Available: a copy onto itself, no write
}

// cleanValue turns line breaks into spaces, as net/http does.
func cleanValue(v string) string {
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// finish completes the response after the handler returned and reports
// whether the connection can carry another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true, nil)
	}
	if w.chunked && !w.failed {
		w.writeTrailer()
	}
	if !w.noBody && !w.head && w.cl >= 0 && w.written != w.cl {
		w.closeAfter = true // a short body: the client must not wait for more
	}
	if err := w.c.bw.Flush(); err != nil {
		return false
	}
	return !w.closeAfter && !w.failed && !w.c.srv.closing.Load()
}

func (w *response) writeTrailer() {
	bw := w.c.bw
	_, _ = bw.WriteString("0\r\n")
	for _, decl := range w.hdr["Trailer"] {
		for f := range strings.SplitSeq(decl, ",") {
			k := http.CanonicalHeaderKey(strings.TrimSpace(f))
			for _, v := range w.hdr[k] {
				_, _ = bw.WriteString(k + ": " + cleanValue(v) + "\r\n")
			}
		}
	}
	for k, vv := range w.hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && validToken(name) {
			for _, v := range vv {
				_, _ = bw.WriteString(name + ": " + cleanValue(v) + "\r\n")
			}
		}
	}
	_, _ = bw.WriteString("\r\n")
}

// Flush sends what is buffered to the client.
func (w *response) Flush() {
	_ = w.FlushError() // http.Flusher has no error to return
}

// FlushError sends what is buffered and reports a failed write.
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false, nil)
	}
	if err := w.c.bw.Flush(); err != nil {
		w.failed = true
		return err
	}
	return nil
}

// Hijack hands the connection to the handler; a status already set
// (101) is in the returned writer's buffer.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.wroteHeader && !w.committed {
		w.commit(false, nil)
	}
	c.hijacked = true
	c.state.Store(stateHijacked)
	c.phase, c.rdl = readAsIs, time.Time{}
	if err := c.rwc.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline is for http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.setReadDeadline(t) }

// SetWriteDeadline is for http.ResponseController.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex is for http.ResponseController: the body can always be
// read while the response is written.
func (w *response) EnableFullDuplex() error { return nil }

// statusLines caches "code text" for the codes net/http knows.
var statusLines = func() []string {
	s := make([]string, 600)
	for code := range s {
		if t := http.StatusText(code); t != "" {
			s[code] = strconv.Itoa(code) + " " + t
		}
	}
	return s
}()

// statusHeads caches the whole status line, "HTTP/1.1 code text\r\n",
// for the codes in statusLines.
var statusHeads = func() []string {
	s := make([]string, len(statusLines))
	for code, line := range statusLines {
		if line != "" {
			s[code] = "HTTP/1.1 " + line + "\r\n"
		}
	}
	return s
}()

func statusLine(code int) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code) + " status code " + strconv.Itoa(code)
}

// dateLine is a cached "Date: ...\r\n" field for one second.
type dateLine struct {
	// until is when the second ends, on the monotonic clock, as time
	// since Server.epoch: checking it reads one clock, time.Now two.
	until time.Duration
	line  []byte
}

// date returns the Date field of the current second.
func (s *Server) date() []byte {
	if d := s.dateCache.Load(); d != nil && time.Since(s.epoch) < d.until {
		return d.line
	}
	now := time.Now()
	b := make([]byte, 0, 40)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	until := now.Sub(s.epoch) + time.Second - time.Duration(now.Nanosecond())
	s.dateCache.Store(&dateLine{until: until, line: b})
	return b
}
