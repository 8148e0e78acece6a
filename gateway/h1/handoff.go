package h1

import (
	"net"
	"sync"
)

// ConnListener is a net.Listener fed by Push: give it to an http.Server
// (h2c on) and its Push to Server.HandOff, and connections that speak
// HTTP/2 are served there.
type ConnListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

// NewConnListener returns a ConnListener reporting addr as its address.
func NewConnListener(addr net.Addr) *ConnListener {
	return &ConnListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// Push hands c to the next Accept; it fails with net.ErrClosed once the
// listener is closed (the caller then owns c). Push waits for Accept: the
// connection cap of the outer listener bounds the waiters.
func (l *ConnListener) Push(c net.Conn) error {
	select {
	case l.ch <- c:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

// Accept returns the next pushed connection.
func (l *ConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Push fail.
func (l *ConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the outer listener's address.
func (l *ConnListener) Addr() net.Addr { return l.addr }
