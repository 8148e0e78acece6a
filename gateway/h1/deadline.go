package h1

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// Lazy read deadlines.
//
// A read deadline only matters when a read blocks, and on a busy
// keep-alive connection the next request is usually there already when
// the server looks for it: its whole head arrives in one read. On a
// connection that is a syscall.Conn the server therefore sets no deadline
// (and reads no clock) for such a request:
//
//   - waitRequest puts the reader in readWait. The next read tries the
//     socket once without waiting (rawRead). Only when nothing is there
//     (EAGAIN) does it arm the wait's deadline (the idle timeout, or the
//     header timeout for a connection's first request) and wait, inside
//     the same RawConn.Read, so no readiness event is lost in between.
//     Arming reuses the deadline in force when that one is still ahead
//     and no later than the wait's (an earlier wait's idle deadline, a
//     head's): if it fires first, readFirst sees that the wait's own has
//     not come yet, sets it and waits on. A timeout thus ends a wait
//     exactly when it did before, and a keep-alive connection changes its
//     deadline about once per idle timeout instead of at every wait.
//   - Data read puts the reader in readHead: the header deadline, counted
//     from the arrival of those first bytes, is owed. It is set only
//     before a further read of the head, which is what could block.
//   - Every deadline the server sets (setReadDeadline) puts the reader in
//     readAsIs: reads then use the deadline in force.
//
// Invariant: between requests the socket may hold a stale deadline (of an
// earlier wait or head, possibly passed); c.rdl always records the one in
// force. A stale deadline never ends a read early: readHead sets its own
// before reading; readWait reads first, and then arms its own (or keeps
// the stale one only while that one is ahead and comes no later, moving
// it when it fires); a stale deadline that has passed only makes the
// first try fail, and the wait then sets its own and tries again; a
// request body is read with the deadline cleared (serveOne) whenever one
// is set. Connections that are not a syscall.Conn (TLS, tests) set every
// deadline eagerly, in waitRequest, as before.

// Reader phases (conn.phase).
const (
	readAsIs = iota // reads use the deadline in force
	readWait        // the next read is the first of a request
	readHead        // reads of the rest of a head owe the header deadline
)

// connReader is the source of conn.br: the connection's reads with the
// lazy deadlines above.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	switch c.phase {
	case readWait:
		return c.readFirst(p)
	case readHead:
		from := c.headFrom
		if from.IsZero() {
			from = time.Now()
		}
		if err := c.setReadDeadline(from.Add(c.srv.ReadHeaderTimeout)); err != nil {
			return 0, err
		}
	}
	return c.rwc.Read(p)
}

// setReadDeadline sets the connection's read deadline; later reads use it
// as it is.
func (c *conn) setReadDeadline(t time.Time) error {
	c.phase, c.rdl = readAsIs, t
	return c.rwc.SetReadDeadline(t)
}

// setRaw enables lazy deadlines when the connection is a syscall.Conn.
// readFirst then reads the socket itself, past rwc's Read: a wrapper that
// exposes SyscallConn must add nothing in its Read.
func (c *conn) setRaw() {
	sc, ok := c.rwc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return // a wrapper without a socket underneath: eager deadlines
	}
	c.raw, c.rawFn = raw, c.rawRead
}

// readFirst reads the first bytes of a request into p (readWait).
func (c *conn) readFirst(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // as a read of nothing: no system call, not EOF
	}
	c.rawBuf, c.armed, c.rawN, c.rawErr = p, false, 0, nil
	defer func() { c.rawBuf = nil }()
	for {
		err := c.raw.Read(c.rawFn)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		if !c.armed {
			// A stale deadline has passed: RawConn.Read refused to
			// start. Arm this wait's own and try again.
			if err := c.armWait(); err != nil {
				return 0, err
			}
			continue
		}
		// A reused deadline fired: wait on to this wait's own, if it
		// has not come yet.
		if !time.Now().Before(c.want) {
			return 0, err
		}
		if err := c.setReadDeadline(c.want); err != nil {
			return 0, err
		}
	}
	n, err := c.rawN, c.rawErr
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	c.phase, c.headFrom = readHead, time.Time{}
	if !headComplete(p[:n]) {
		c.headFrom = time.Now()
	}
	return n, nil
}

// rawRead is readFirst's RawConn.Read callback: one read; on EAGAIN the
// wait's deadline is set (once) and false makes RawConn.Read wait for
// data or that deadline, then call it again.
func (c *conn) rawRead(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), c.rawBuf)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if c.armed {
				return false
			}
			if c.rawErr = c.armWait(); c.rawErr != nil {
				return true
			}
			return false
		}
		c.rawN, c.rawErr = max(n, 0), err
		if err != nil {
			c.rawErr = os.NewSyscallError("read", err)
		}
		return true
	}
}

// armWait arms the deadline of the wait for a request (c.want): the idle
// timeout, or the header timeout before a connection's first request. The
// deadline in force stays when it comes first (see the top of this file).
// It can run inside RawConn.Read: setting a deadline takes no read lock.
func (c *conn) armWait() error {
	wait := c.srv.IdleTimeout
	if c.first {
		wait = c.srv.ReadHeaderTimeout
	}
	// One clock read (monotonic) instead of time.Now's two: times made
	// from the epoch carry a monotonic reading, as time.Now's do.
	epoch := c.srv.epoch
	since := time.Since(epoch)
	c.armed, c.want = true, epoch.Add(since+wait)
	if c.rdl.After(epoch.Add(since)) && !c.rdl.After(c.want) {
		return nil
	}
	err := c.setReadDeadline(c.want)
	c.phase = readWait // still waiting: readFirst sets the next phase
	return err
}

// headComplete reports whether b holds an empty line after a first line,
// that is the end of a head. It only decides whether the arrival time is
// read now: with empty lines before a request line (rare) it can say yes
// too early, and the header deadline then counts from the next read,
// moments later.
func headComplete(b []byte) bool {
	return bytes.HasSuffix(b, []byte("\n\r\n")) || bytes.HasSuffix(b, []byte("\n\n")) ||
		bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}
