package gateway

import (
	"io"
	"net/http"
	"sync"
)

// isUpgrade reports whether the client asks for a protocol upgrade
// (WebSocket) on HTTP/1.1.
func isUpgrade(h http.Header) bool {
	if len(h["Upgrade"]) == 0 {
		return false
	}
	return listedIn(h["Connection"], "upgrade")
}

// switchProtocols relays a 101 answer and then both directions of the
// upgraded connection until either side closes.
func (g *Gateway) switchProtocols(x *exchange, resp *http.Response) {
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		_ = resp.Body.Close() // nothing more can be read from it
		g.fail(x, errBadGateway)
		return
	}
	defer func() { _ = up.Close() }() // closing ends the relay; errors change nothing
	rc := http.NewResponseController(x.w)
	h := x.w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	x.w.WriteHeader(http.StatusSwitchingProtocols)
	x.rec.Status = http.StatusSwitchingProtocols
	conn, brw, err := rc.Hijack()
	if err != nil {
		g.log.Debug("websocket hijack", "err", err)
		return
	}
	defer func() { _ = conn.Close() }() // same
	if err := brw.Flush(); err != nil {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned here: ends when either side closes; waited for below
		defer wg.Done()
		_, _ = io.Copy(up, brw) // io errors end the relay, nothing to report
		_ = up.Close()
	}()
	_, _ = io.Copy(conn, up) // same: the relay ends on the first error
	_ = conn.Close()
	wg.Wait()
}
