package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// copyBufferSize is the size of the pooled buffers response bodies are
// copied through.
const copyBufferSize = 32 << 10

// hopByHop reports the headers (canonical names) of one connection, never
// forwarded (RFC 9110 7.6.1); those listed in a Connection header are too.
// A switch: it runs for every header of every request and answer.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// proxy sends x upstream, with failover for idempotent requests, and
// streams the answer back.
func (g *Gateway) proxy(x *exchange) {
	r := x.r
	if r.ContentLength > x.maxBody {
		g.fail(x, &failure{http.StatusRequestEntityTooLarge, keyBodyTooLarge, "Request Entity Too Large"})
		return
	}
	body := io.ReadCloser(http.NoBody)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		lb := &limitedBody{rc: r.Body, left: x.maxBody}
		body = lb
		if r.ContentLength < 0 { // chunked: record what was actually sent
			defer func() { x.rec.RequestContentLength = x.maxBody - max(lb.left, 0) }()
		}
	}
	grp := x.api.defaultGroup
	fo := x.api.failover
	attempts := 1
	if fo != nil && body == http.NoBody && isIdempotent(r.Method) {
		attempts += fo.maxRetries
	}
	upgrade := isUpgrade(r.Header)
	var last *endpoint
	for i := 0; i < attempts; i++ {
		ep := grp.pick(last)
		if ep == nil {
			g.fail(x, errNoEndpoint)
			return
		}
		last = ep
		x.rec.Endpoint = ep.targetURL
		out := x.outbound(ep, body, upgrade)
		timed := x.recorded()
		var t0 time.Duration
		if timed {
			t0 = x.elapsed()
		}
		var resp *http.Response
		var err error
		if upgrade { // an upgraded connection lives on past the headers
			resp, err = ep.rt.RoundTrip(out)
		} else {
			x.fwdEndpoint = ep // h1Client writes out's fields with x.appendFields
			resp, err = fo.roundTrip(ep, out, x)
		}
		if timed {
			x.rec.EndpointResponseTimeMs = (x.elapsed() - t0).Milliseconds()
		}
		fo.observe(ep, err)
		if err == nil {
			if upgrade && resp.StatusCode == http.StatusSwitchingProtocols {
				g.switchProtocols(x, resp)
				return
			}
			g.respond(x, resp)
			return
		}
		if r.Context().Err() != nil {
			x.rec.Status = statusClientClosed
			x.rec.ErrorKey = "CLIENT_ABORTED"
			return
		}
		f := upstreamFailure(err)
		if i+1 < attempts && retriable(err) {
			g.log.Debug("upstream failed, trying another endpoint", "api", x.api.id, "endpoint", ep.name, "err", err)
			continue
		}
		g.log.Debug("upstream failed", "api", x.api.id, "endpoint", ep.name, "err", err)
		g.fail(x, f)
		return
	}
}

// outbound builds the upstream request. For endpoints served by h1Client,
// which is done with a request when RoundTrip returns, it reuses x's
// request and URL (pooled with the exchange) and leaves the header map out
// (h1Client writes the fields with forwardedFields), except for upgrades.
// On HTTP/1 connections the request is copied from the connection's
// template, which carries the client request's context.
func (x *exchange) outbound(ep *endpoint, body io.ReadCloser, upgrade bool) *http.Request {
	r := x.r
	base := x.route.path[:len(x.route.path)-1]
	rest := r.URL.Path[len(base):]
	_, pooled := ep.rt.(*h1Client) // done with the request when RoundTrip returns
	u, out := &x.outURL, &x.outReq
	if !pooled { // http.Transport may still read it from another goroutine
		u, out = new(url.URL), new(http.Request)
	}
	*u = url.URL{Scheme: ep.target.Scheme, Host: ep.target.Host, RawQuery: x.rawQuery}
	switch {
	case ep.basePath == "":
		u.Path = rest
	case rest == "":
		u.Path = ep.basePath
	default:
		u.Path = ep.basePath + rest
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if r.URL.RawPath != "" {
		if esc := r.URL.EscapedPath(); strings.HasPrefix(esc, base) {
			u.RawPath = ep.targetPath + esc[len(base):]
		}
	}
	out = x.conn.upstreamRequest(r, out)
	out.Method, out.URL = r.Method, u
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Body, out.ContentLength = body, r.ContentLength
	if pooled && !upgrade {
		// h1Client writes the fields straight from the client's header
		// (forwardedFields), without building a map.
		out.Header = nil
	} else {
		out.Header = x.outboundHeader(ep, upgrade)
	}
	out.Host = ep.target.Host
	if body == http.NoBody {
		out.ContentLength = 0
	}
	if ep.hostHeader {
		out.Host = r.Host
	}
	return out
}

// outboundHeader copies the client's headers without the hop-by-hop ones,
// and adds X-Forwarded-* and Gravitee's ids: the header of upgrades and of
// the endpoints served by http.Transport (h1Client writes the same fields
// without a map: forwardedFields). A new map each time: http.Transport may
// still read it from another goroutine after RoundTrip returns.
func (x *exchange) outboundHeader(ep *endpoint, upgrade bool) http.Header {
	r := x.r
	h, vals := make(http.Header, len(r.Header)+6), make([]string, 6)
	var conn connOptions
	conn.parse(r.Header["Connection"])
	for k, vv := range r.Header {
		if x.forwardsAsIs(k, &conn, ep) {
			h[k] = vv
		}
	}
	if trailersTE(r) {
		h["Te"] = r.Header["Te"]
	}
	if upgrade {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = r.Header["Upgrade"]
	}
	// One backing array for the values the gateway sets.
	vals[0] = x.clientIP()
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		vals[0] = strings.Join(prior, ", ") + ", " + vals[0]
	}
	vals[1] = forwardedProto(r)
	vals[2], vals[3], vals[4], vals[5] = r.Host, x.rec.TransactionID, x.rec.RequestID, ""
	h["X-Forwarded-For"] = vals[0:1:1]
	h["X-Forwarded-Proto"] = vals[1:2:2]
	h["X-Forwarded-Host"] = vals[2:3:3]
	h[headerTransactionID] = vals[3:4:4]
	h[headerRequestID] = vals[4:5:5]
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = vals[5:6:6] // "": no Go default User-Agent upstream
	}
	for _, hv := range ep.headers {
		h.Set(hv.Name, hv.Value)
	}
	return h
}

// appendFields implements fieldAppender for the endpoint being tried.
func (x *exchange) appendFields(buf []byte) []byte { return x.forwardedFields(buf, x.fwdEndpoint) }

// forwardsAsIs reports whether the client's header field k goes upstream
// as it is: not hop-by-hop or listed in Connection (conn), not the API
// key, not a field the gateway or ep's configuration sets, nor one the
// upstream client frames itself. Both outboundHeader and forwardedFields
// select the client's fields with it.
func (x *exchange) forwardsAsIs(k string, conn *connOptions, ep *endpoint) bool {
	return !hopByHop(k) && !forwarded(k) && !skipRequestHeader(k) && k != x.dropHeader &&
		!conn.lists(k) && !setByEndpoint(ep, k)
}

// trailersTE reports whether the client said it accepts trailers ("TE:
// trailers", the one TE value forwarded).
func trailersTE(r *http.Request) bool {
	te := r.Header["Te"]
	return len(te) == 1 && strings.EqualFold(te[0], "trailers")
}

func forwardedProto(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// forwarded lists the fields the gateway sets upstream, replacing the
// client's.
func forwarded(k string) bool {
	switch k {
	case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", headerTransactionID, headerRequestID:
		return true
	}
	return false
}

// forwardedFields appends to buf the upstream request's header fields for
// ep, as "Name: value\r\n" lines: the same fields as outboundHeader's map,
// written straight from the client's header. Fields h1Client writes itself
// (skipRequestHeader) and values holding a line break are left out, as
// h1Client does for a map.
func (x *exchange) forwardedFields(buf []byte, ep *endpoint) []byte {
	r := x.r
	var conn connOptions
	conn.parse(r.Header["Connection"])
	for k, vv := range r.Header {
		if !x.forwardsAsIs(k, &conn, ep) {
			continue
		}
		for _, v := range vv {
			if !hasLineBreak(v) {
				buf = appendField(buf, k, v)
			}
		}
	}
	if trailersTE(r) {
		buf = appendField(buf, "Te", r.Header["Te"][0])
	}
	buf = append(buf, "X-Forwarded-For: "...)
	for _, v := range r.Header["X-Forwarded-For"] {
		if !hasLineBreak(v) {
			buf = append(append(buf, v...), ", "...)
		}
	}
	buf = append(append(buf, x.clientIP()...), "\r\n"...)
	buf = appendField(buf, "X-Forwarded-Proto", forwardedProto(r))
	if !hasLineBreak(r.Host) {
		buf = appendField(buf, "X-Forwarded-Host", r.Host)
	}
	buf = appendField(buf, headerTransactionID, x.rec.TransactionID)
	buf = appendField(buf, headerRequestID, x.rec.RequestID)
	for _, hv := range ep.headers {
		if !hasLineBreak(hv.Value) {
			buf = appendField(buf, hv.Name, hv.Value)
		}
	}
	return buf
}

// setByEndpoint reports whether ep's configuration sets header k.
func setByEndpoint(ep *endpoint, k string) bool {
	for _, hv := range ep.headers {
		if hv.Name == k {
			return true
		}
	}
	return false
}

func appendField(buf []byte, k, v string) []byte {
	buf = append(buf, k...)
	buf = append(buf, ": "...)
	buf = append(buf, v...)
	return append(buf, "\r\n"...)
}

// connOptions are the tokens of a message's Connection header, split once
// for all the header names checked against them.
type connOptions struct {
	n    int
	tok  [8]string
	many []string // the Connection values, when they hold more than 8 tokens
}

func (o *connOptions) parse(conn []string) {
	for _, v := range conn {
		for v != "" {
			var f string
			if f, v = cutToken(v); f == "" {
				continue
			}
			if o.n == len(o.tok) {
				o.many = conn
				return
			}
			o.tok[o.n] = f
			o.n++
		}
	}
}

// lists reports whether header name k is one of the tokens, compared
// without regard to case (as listedIn).
func (o *connOptions) lists(k string) bool {
	if o.many != nil {
		return listedIn(o.many, k)
	}
	for _, t := range o.tok[:o.n] {
		if len(t) == len(k) && strings.EqualFold(t, k) {
			return true
		}
	}
	return false
}

// listedIn reports whether header name k (canonical) is listed in a
// Connection header.
func listedIn(conn []string, k string) bool {
	for _, v := range conn {
		if hasToken(v, k) {
			return true
		}
	}
	return false
}

// cutToken splits the first element, trimmed, off the comma-separated
// list v.
func cutToken(v string) (tok, rest string) {
	tok, rest, _ = strings.Cut(v, ",")
	return strings.TrimSpace(tok), rest
}

// hasToken reports whether the comma-separated list v holds token,
// compared without regard to case; it does not allocate.
func hasToken(v, token string) bool {
	for v != "" {
		var f string
		if f, v = cutToken(v); strings.EqualFold(f, token) {
			return true
		}
	}
	return false
}

// respond streams the upstream answer to the client.
func (g *Gateway) respond(x *exchange, resp *http.Response) {
	defer func() { _ = resp.Body.Close() }() // the copy already reported what matters
	h := x.w.Header()
	var conn connOptions
	conn.parse(resp.Header["Connection"])
	for k, vv := range resp.Header {
		if hopByHop(k) || conn.lists(k) {
			continue
		}
		h[k] = vv
	}
	ids := []string{x.rec.TransactionID, x.rec.RequestID} // may be read after serveHTTP returns (HTTP/3)
	h[headerTransactionID] = ids[0:1:1]
	h[headerRequestID] = ids[1:2:2]
	x.runResponsePolicies(resp.StatusCode, h)
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	x.w.WriteHeader(resp.StatusCode)
	x.rec.Status = resp.StatusCode
	n, err := g.copyBody(x, resp)
	x.rec.ResponseContentLength = n
	if err != nil {
		// The upstream broke mid-body: the client must not take a truncated
		// body for a whole one, so the connection (or stream) is reset.
		g.log.Debug("upstream body", "api", x.api.id, "err", err)
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	if x.capture != nil {
		x.capture.done(resp.StatusCode, h)
	}
}

// copyBody copies the body through a pooled buffer, flushing each chunk of
// a body of unknown length (streams, server-sent events).
func (g *Gateway) copyBody(x *exchange, resp *http.Response) (int64, error) {
	if x.r.Method == http.MethodHead {
		return 0, nil
	}
	bp := g.bufs.Get().(*[]byte)
	defer g.bufs.Put(bp)
	buf := *bp
	flusher, _ := x.w.(http.Flusher)
	stream := resp.ContentLength < 0 && flusher != nil
	var n int64
	for {
		nr, rerr := resp.Body.Read(buf)
		if nr > 0 {
			if x.capture != nil {
				x.capture.add(buf[:nr])
			}
			nw, werr := x.w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, nil // the client went away; nothing to tell it
			}
			if stream {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func isIdempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// limitedBody stops a request body at the size limit.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

var errBodyTooLarge = errors.New("request body larger than the limit")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Read one byte more to tell "exactly at the limit" from "over it".
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
