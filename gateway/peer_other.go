//go:build !unix

package gateway

import "net"

// peerClosed cannot peek without blocking here; stale connections are
// caught by the retry in h1Client.RoundTrip.
func peerClosed(net.Conn) bool { return false }
