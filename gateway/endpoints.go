package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// endpoint is one backend of a group, with its own connection pool.
type endpoint struct {
	name       string
	target     *url.URL
	targetURL  string // target.String(), recorded as the endpoint
	targetPath string // target path without its trailing slash
	basePath   string // decoded target path without its trailing slash
	weight     int
	secondary  bool
	transport  *http.Transport // health checks
	rt         roundTripper    // proxied requests
	poolKey    string          // in Gateway.pools
	headers    []headerValue   // sharedConfiguration.headers, added upstream
	hostHeader bool            // propagateClientHost
	down       atomic.Bool     // set by the health check
	failures   atomic.Int32    // consecutive failed calls (failover circuit breaker)
	openUntil  atomic.Int64    // Unix ns until which the circuit is open
}

// endpointGroup picks endpoints with its load balancer. Primaries serve
// while any of them is up; secondaries only when every primary is down.
type endpointGroup struct {
	name      string
	lb        string
	primary   []*endpoint
	secondary []*endpoint
	wrr       []int // weighted round robin: endpoint indexes repeated by weight
	next      atomic.Uint64
	health    *healthCheck // nil: no active health check
}

// pick returns an endpoint that is up, avoiding skip when another one is up,
// or nil when none is.
func (g *endpointGroup) pick(skip *endpoint) *endpoint {
	if e := g.pickFrom(g.primary, skip, true); e != nil {
		return e
	}
	return g.pickFrom(g.secondary, skip, false)
}

func (g *endpointGroup) pickFrom(es []*endpoint, skip *endpoint, primary bool) *endpoint {
	if len(es) == 0 {
		return nil
	}
	first := g.start(len(es), primary)
	var fallback *endpoint
	now := int64(0)
	for i := range es {
		e := es[(first+i)%len(es)]
		if e.down.Load() {
			continue
		}
		if open := e.openUntil.Load(); open != 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			if now < open {
				continue
			}
		}
		if e == skip {
			fallback = e
			continue
		}
		return e
	}
	return fallback
}

// start chooses where to begin looking, by the group's load balancer.
func (g *endpointGroup) start(n int, primary bool) int {
	switch g.lb {
	case apidef.LBRandom:
		return rand.IntN(n)
	case apidef.LBWeightedRandom:
		if primary && len(g.wrr) > 0 {
			return g.wrr[rand.IntN(len(g.wrr))]
		}
		return rand.IntN(n)
	case apidef.LBWeightedRoundRobin:
		if primary && len(g.wrr) > 0 {
			return g.wrr[int(g.next.Add(1)-1)%len(g.wrr)]
		}
	}
	return int(g.next.Add(1)-1) % n
}

// maxWeightSlots bounds the weighted schedule; weights are scaled down to fit.
const maxWeightSlots = 1000

// buildWeights spreads endpoint indexes by weight (default 1), interleaved
// so consecutive picks alternate (smooth weighted round robin).
func buildWeights(es []*endpoint) []int {
	total := 0
	for _, e := range es {
		total += max(e.weight, 1)
	}
	scale := 1.0
	if total > maxWeightSlots {
		scale = float64(maxWeightSlots) / float64(total)
	}
	weights := make([]int, len(es))
	sum := 0
	for i, e := range es {
		weights[i] = max(int(float64(max(e.weight, 1))*scale), 1)
		sum += weights[i]
	}
	current := make([]int, len(es))
	out := make([]int, 0, sum)
	for range sum {
		best := 0
		for i := range es {
			current[i] += weights[i]
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= sum
		out = append(out, best)
	}
	return out
}

// compileGroup builds a group and its endpoints' connection pools.
func compileGroup(pool *transportPool, g apidef.EndpointGroup, field string) (*endpointGroup, error) {
	shared, err := parseClientConfig(g.SharedConfiguration)
	if err != nil {
		return nil, fieldErr(field+".sharedConfiguration", err)
	}
	grp := &endpointGroup{name: g.Name, lb: apidef.LBRoundRobin}
	if g.LoadBalancer != nil && g.LoadBalancer.Type != "" {
		grp.lb = g.LoadBalancer.Type
	}
	for i, e := range g.Endpoints {
		ef := fmt.Sprintf("%s.endpoints[%d]", field, i)
		ep, err := compileEndpoint(pool, e, shared, ef)
		if err != nil {
			return nil, err
		}
		if ep.secondary {
			grp.secondary = append(grp.secondary, ep)
		} else {
			grp.primary = append(grp.primary, ep)
		}
	}
	grp.wrr = buildWeights(grp.primary)
	hc, err := compileHealthCheck(g.Services, field+".services.healthCheck")
	if err != nil {
		return nil, err
	}
	grp.health = hc
	return grp, nil
}

func compileEndpoint(pool *transportPool, e apidef.Endpoint, shared *httpClientConfig, field string) (*endpoint, error) {
	var ec apidef.EndpointConfiguration
	if err := strictJSON(e.Configuration, &ec); err != nil {
		return nil, fieldErr(field+".configuration", err)
	}
	u, err := url.Parse(ec.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fieldErr(field+".configuration.target", fmt.Errorf("%q must be an absolute http:// or https:// URL", ec.Target))
	}
	cfg := shared
	if e.InheritConfiguration != nil && !*e.InheritConfiguration && len(e.SharedConfigurationOverride) > 0 {
		if cfg, err = parseClientConfig(e.SharedConfigurationOverride); err != nil {
			return nil, fieldErr(field+".sharedConfigurationOverride", err)
		}
	}
	up, poolKey, err := pool.get(u.Scheme, u.Host, cfg)
	if err != nil {
		return nil, fieldErr(field+".sharedConfiguration", err)
	}
	return &endpoint{
		name:       e.Name,
		target:     u,
		targetURL:  u.String(),
		targetPath: strings.TrimSuffix(u.EscapedPath(), "/"),
		basePath:   strings.TrimSuffix(u.Path, "/"),
		weight:     e.Weight,
		secondary:  e.Secondary,
		transport:  up.std,
		rt:         up.proxyClient(),
		poolKey:    poolKey,
		headers:    canonicalHeaders(cfg.Headers),
		hostHeader: cfg.HTTP.PropagateClientHost,
	}, nil
}

// canonicalHeaders returns hs with canonical names, as the forwarding code
// compares them with the client's (canonical) header names.
func canonicalHeaders(hs []headerValue) []headerValue {
	out := make([]headerValue, len(hs))
	for i, h := range hs {
		out[i] = headerValue{Name: http.CanonicalHeaderKey(h.Name), Value: h.Value}
	}
	return out
}
