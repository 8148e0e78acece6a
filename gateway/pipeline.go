package gateway

import (
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/analytics"
)

// exchange is the state of one request as it goes through the pipeline.
// Exchanges are pooled; nothing may keep one after serveHTTP returns.
type exchange struct {
	g        *Gateway
	w        http.ResponseWriter
	r        *http.Request
	api      *apiRuntime
	route    *route
	plan     *planRuntime
	sub      *subscription
	rec      *analytics.Record // &record
	record   analytics.Record
	start    time.Time
	startMs  int64
	pathInfo string // decoded path below the context path, "/..."
	rawQuery string // query to send upstream
	// dropHeader is a request header not to forward (the API key).
	dropHeader string
	flows      []*flow
	direct     *directResponse
	capture    *cacheCapture
	maxBody    int64
	conn       *connInfo // nil when served without Serve (tests, embedding)
	// The upstream request, reused from one request to the next.
	outReq http.Request
	outURL url.URL
	// fwdEndpoint is the endpoint whose request appendFields writes.
	fwdEndpoint *endpoint
}

var exchangePool = sync.Pool{New: func() any { return &exchange{flows: make([]*flow, 0, 8)} }}

func (x *exchange) reset() {
	*x = exchange{flows: x.flows[:0]}
}

// serveHTTP is the one pipeline behind every listener.
func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	x := exchangePool.Get().(*exchange)
	x.g, x.w, x.r = g, w, r
	x.start = g.now()
	x.startMs = x.start.UnixMilli()
	x.conn = connInfoOf(r.Context())
	x.rec = &x.record
	g.fillRecord(x)
	defer g.recoverPanic(x)
	g.handle(x)
	g.finish(x)
	x.reset()
	exchangePool.Put(x)
}

// recoverPanic turns a panic in the pipeline (a bug in a policy, say) into a
// logged error, a record with status 500, and a reset connection or stream;
// the gateway goes on serving. The exchange is not reused.
func (g *Gateway) recoverPanic(x *exchange) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
		g.finish(x)
		panic(v)
	}
	api := ""
	if x.api != nil {
		api = x.api.id
	}
	g.log.Error("panic serving a request", "api", api, "uri", x.r.RequestURI, "panic", v, "stack", string(debug.Stack()))
	x.rec.Status, x.rec.ErrorKey = http.StatusInternalServerError, "GATEWAY_INTERNAL_ERROR"
	g.finish(x)
	panic(http.ErrAbortHandler)
}

// handle routes, authenticates, runs the policies and proxies.
func (g *Gateway) handle(x *exchange) {
	r := x.r
	if r.ProtoMajor == 1 && smuggled(x.conn) {
		x.w.Header().Set("Connection", "close")
		g.fail(x, errAmbiguousRequest)
		return
	}
	rt := g.rt.Load()
	var rte *route
	if rt != nil {
		rte = rt.router.match(r.Host, r.URL.Path)
	}
	if rte == nil {
		x.rec.APIID, x.rec.ApplicationID = "1", "1" // Gravitee's "unknown" ids
		x.rec.ResponseContentLength = writeNotFound(x.w, r)
		x.rec.Status = http.StatusNotFound
		return
	}
	x.route, x.api = rte, rte.api
	x.rec.APIID, x.rec.APIName = x.api.id, x.api.name
	x.rec.OrganizationID, x.rec.EnvironmentID = rt.Organization, rt.Environment
	x.pathInfo = r.URL.Path[len(rte.path)-1:]
	if x.pathInfo == "" {
		x.pathInfo = "/"
	}
	x.rec.PathInfo = x.pathInfo
	for _, m := range x.api.pathMappings {
		if _, ok := m.match(r.Method, x.pathInfo); ok {
			x.rec.MappedPath = m.name
			break
		}
	}
	x.rawQuery = r.URL.RawQuery
	x.maxBody = g.opts.Limits.MaxBodyBytes
	if reason := g.blocked.Load(); reason != nil {
		g.fail(x, &failure{http.StatusServiceUnavailable, keyBlocked, *reason})
		return
	}
	if c := x.api.cors; c != nil {
		if handled, f := c.preflight(x); handled {
			if f != nil {
				g.fail(x, f)
			} else {
				g.respondDirect(x)
			}
			return
		}
	}
	if f := resolvePlan(x); f != nil {
		g.fail(x, f)
		return
	}
	g.recordPlan(x)
	if f := g.runRequestPolicies(x); f != nil {
		if f == errDirect {
			g.respondDirect(x)
			return
		}
		g.fail(x, f)
		return
	}
	g.proxy(x)
}

// errAmbiguousRequest refuses a message other hops could frame differently.
var errAmbiguousRequest = &failure{http.StatusBadRequest, "REQUEST_AMBIGUOUS", "Bad Request"}

// runRequestPolicies selects the flows (plan flows, then API flows) and runs
// their request steps in order.
func (g *Gateway) runRequestPolicies(x *exchange) *failure {
	x.flows = selectFlows(x.flows, x.plan.flows, false, x.r.Method, x.pathInfo)
	n := len(x.flows)
	x.flows = selectFlows(x.flows, x.api.flows, x.api.bestMatch, x.r.Method, x.pathInfo)
	if x.api.matchRequired && len(x.flows) == n && len(x.api.flows) > 0 {
		return errNoFlowMatch
	}
	for _, f := range x.flows {
		for _, p := range f.req {
			if fl := p.onRequest(x); fl != nil {
				return fl
			}
		}
	}
	return nil
}

// errNoFlowMatch answers when flowExecution.matchRequired is set and no API
// flow matches.
var errNoFlowMatch = &failure{http.StatusNotFound, "FLOW_EXECUTION_NO_MATCH", "No flow matches the request"}

// runResponsePolicies runs the selected flows' response steps.
func (x *exchange) runResponsePolicies(status int, h http.Header) {
	for _, f := range x.flows {
		for _, p := range f.resp {
			p.onResponse(x, status, h)
		}
	}
	if x.api.cors != nil {
		x.api.cors.decorate(x, h)
	}
}

// fail answers f and records it.
func (g *Gateway) fail(x *exchange, f *failure) {
	x.rec.ErrorKey, x.rec.ErrorMessage = f.key, f.message
	if x.rec.ApplicationID == "" {
		x.rec.ApplicationID = "1"
	}
	x.rec.Status = f.status
	x.rec.ResponseContentLength = writeFailure(x.w, x.r, f)
}

// respondDirect sends x.direct (mock, cache hit, CORS preflight); response
// policies still run on it.
func (g *Gateway) respondDirect(x *exchange) {
	d := x.direct
	h := x.w.Header()
	for k, v := range d.header {
		h[k] = v
	}
	x.runResponsePolicies(d.status, h)
	x.w.WriteHeader(d.status)
	x.rec.Status = d.status
	if x.r.Method != http.MethodHead && len(d.body) > 0 {
		n, _ := x.w.Write(d.body) // a client gone away is not ours to report
		x.rec.ResponseContentLength = int64(n)
	}
}

// clientIP is the address of the TCP peer (X-Forwarded-For is not trusted).
func (x *exchange) clientIP() string {
	if x.conn != nil && x.conn.ip != "" {
		return x.conn.ip // the same for every request of the connection
	}
	return hostOf(x.r.RemoteAddr)
}

// hostOf is the address in "host:port" without its port and brackets.
func hostOf(a string) string {
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		a = a[:i]
	}
	return strings.Trim(a, "[]")
}
