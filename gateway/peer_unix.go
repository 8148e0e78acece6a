//go:build unix

package gateway

import (
	"net"
	"syscall"
)

// peerClosed peeks at the socket without blocking: EOF or an error means
// the peer closed the idle connection.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && rerr == nil || rerr != nil && rerr != syscall.EAGAIN
		return true
	})
	return closed || err != nil
}
