package gateway

import (
	"net"
	"net/http"
	"time"

	"github.com/edgegate/edgegate/gateway/analytics"
)

// Headers carrying Gravitee's request and transaction ids.
const (
	headerTransactionID = "X-Gravitee-Transaction-Id"
	headerRequestID     = "X-Gravitee-Request-Id"
)

// fillRecord starts the request's analytics record in x.rec.
func (g *Gateway) fillRecord(x *exchange) {
	r := x.r
	id := g.ids.next()
	rec := x.rec
	*rec = analytics.Record{
		Timestamp:            x.startMs,
		RequestID:            id,
		TransactionID:        id,
		GatewayID:            g.opts.GatewayID,
		HTTPMethod:           r.Method,
		RemoteAddress:        x.clientIP(),
		Host:                 r.Host,
		URI:                  r.RequestURI,
		UserAgent:            firstValue(r.Header, "User-Agent"),
		RequestContentLength: max(r.ContentLength, 0),
	}
	if t := firstValue(r.Header, headerTransactionID); t != "" && len(t) <= 128 {
		rec.TransactionID = t
	}
	if rec.URI == "" {
		rec.URI = r.URL.RequestURI()
	}
	if x.conn != nil {
		rec.LocalAddress = x.conn.local
	} else if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		rec.LocalAddress = a.String()
	}
}

// firstValue is h.Get for a canonical name k, without canonicalizing k
// again (Get does, on every call); request headers are stored under
// canonical names by every server the gateway runs.
func firstValue(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// recordPlan notes the plan, subscription and application chosen.
func (g *Gateway) recordPlan(x *exchange) {
	rec := x.rec
	rec.PlanID = x.plan.id
	if rec.SecurityType == "" {
		switch x.plan.security {
		case "key-less":
			rec.SecurityType = "KEY_LESS"
		case "jwt":
			rec.SecurityType = "JWT"
		case "mtls":
			rec.SecurityType = "MTLS"
		}
	}
	if s := x.sub; s != nil {
		rec.SubscriptionID, rec.ApplicationID = s.id, s.app
		rec.ClientIdentifier = s.id
		if s.clientID != "" {
			rec.ClientIdentifier = s.clientID
		}
		return
	}
	// Key-less: Gravitee records the unknown application "1" and the
	// remote address as the subscription.
	rec.ApplicationID = "1"
	rec.SubscriptionID = rec.RemoteAddress
	rec.ClientIdentifier = rec.TransactionID
}

// finish completes the record and hands it to the recorder.
func (g *Gateway) finish(x *exchange) {
	if !x.recorded() {
		return
	}
	rec := x.rec
	rec.GatewayResponseTimeMs = x.elapsed().Milliseconds()
	rec.GatewayLatencyMs = max(rec.GatewayResponseTimeMs-rec.EndpointResponseTimeMs, 0)
	g.opts.Recorder.Record(rec)
}

// recorded reports whether x's record goes to the recorder (its API has
// analytics on; unmatched requests are always recorded); the latencies are
// only measured for those.
func (x *exchange) recorded() bool {
	return x.g.opts.Recorder != nil && (x.api == nil || x.api.analytics)
}

// elapsed is the time since the request began: one monotonic clock read
// (time.Since), unless Options.Now replaces the clock.
func (x *exchange) elapsed() time.Duration {
	if x.g.opts.Now != nil {
		return x.g.now().Sub(x.start)
	}
	return time.Since(x.start)
}
