// Package h1 is edgegate's lean HTTP/1.1 server for the cleartext listener.
//
// net/http's server allocates a Request, Header and URL per request and, for
// every request without a body, starts a background read (an extra read
// system call and a deadline change to stop it) to notice a client that
// goes away. On small VMs where a system call costs microseconds this is a
// large share of a proxied request. Server serves HTTP/1.0 and HTTP/1.1 on
// a connection with pooled buffers, reuses the Request, URL and Header map
// from one request to the next on a connection, and only notices a closed
// client on its next read or write: a request's context is the
// connection's, which ends when the connection is closed or Shutdown gives
// up waiting, not when the client goes away mid-request.
//
// Server calls an ordinary http.Handler (the gateway's one pipeline); its
// ResponseWriter implements http.Flusher and http.Hijacker, and the
// deadline methods http.ResponseController looks for.
//
// Connections that begin with the HTTP/2 preface ("PRI * HTTP/2.0") or ask
// for "Upgrade: h2c" are handed, with the bytes already read, to HandOff
// (typically a ConnListener served by an http.Server with h2c on).
//
// Edge rules: ReadHeaderTimeout bounds the header block, IdleTimeout the
// wait between requests, MaxHeaderBytes the header block (431 beyond).
// On a connection that is a syscall.Conn the read deadlines are lazy
// (deadline.go): a request whose head is already there when the server
// looks for it costs no deadline change and no clock read; a wrapping
// net.Conn keeps this by exposing its socket's SyscallConn, which it may
// only do when its Read adds nothing to the socket's (the first read of a
// request goes to the socket directly). Conflicting
// Content-Length values, Content-Length with Transfer-Encoding, obsolete
// line folding, a space before a colon, a missing or repeated Host and
// malformed framing are answered 400 and the connection is closed.
// Request bodies are framed strictly (Content-Length or chunked); the
// handler bounds their size.
//
// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish and closes what is left when its context ends.
package h1
