package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// healthCheck is a group's active HTTP health check ("http-health-check").
type healthCheck struct {
	interval         time.Duration
	method           string
	target           string // path appended to the endpoint's target, or an absolute URL
	overridePath     bool
	headers          []headerValue
	wantStatus       int // 0: any 2xx
	successThreshold int
	failureThreshold int
}

type healthCheckConfig struct {
	Schedule             string        `json:"schedule"`
	Method               string        `json:"method,omitempty"`
	Target               string        `json:"target,omitempty"`
	Headers              []headerValue `json:"headers,omitempty"`
	OverrideEndpointPath bool          `json:"overrideEndpointPath,omitempty"`
	Assertion            string        `json:"assertion,omitempty"`
	SuccessThreshold     int           `json:"successThreshold,omitempty"`
	FailureThreshold     int           `json:"failureThreshold,omitempty"`
}

var statusAssertion = regexp.MustCompile(`^\{#response\.status\s*==\s*(\d{3})\}$`)

// compileHealthCheck reads services.healthCheck; nil when absent or disabled.
func compileHealthCheck(s *apidef.Services, field string) (*healthCheck, error) {
	if s == nil || s.HealthCheck == nil || !s.HealthCheck.Enabled {
		return nil, nil
	}
	if t := s.HealthCheck.Type; t != "" && t != "http-health-check" {
		return nil, fieldErr(field+".type", fmt.Errorf("is %q; use http-health-check", t))
	}
	var c healthCheckConfig
	if err := strictJSON(s.HealthCheck.Configuration, &c); err != nil {
		return nil, fieldErr(field+".configuration", err)
	}
	interval, err := parseSchedule(c.Schedule)
	if err != nil {
		return nil, fieldErr(field+".configuration.schedule", err)
	}
	hc := &healthCheck{
		interval: interval, method: strings.ToUpper(c.Method), target: c.Target,
		overridePath: c.OverrideEndpointPath, headers: c.Headers,
		successThreshold: max(c.SuccessThreshold, 1), failureThreshold: max(c.FailureThreshold, 1),
	}
	if c.SuccessThreshold == 0 {
		hc.successThreshold = 2
	}
	if c.FailureThreshold == 0 {
		hc.failureThreshold = 2
	}
	if hc.method == "" {
		hc.method = http.MethodGet
	}
	if c.Assertion != "" {
		m := statusAssertion.FindStringSubmatch(strings.TrimSpace(c.Assertion))
		if m == nil {
			return nil, fieldErr(field+".configuration.assertion", fmt.Errorf("%q: only {#response.status == NNN} is supported", c.Assertion))
		}
		hc.wantStatus, _ = strconv.Atoi(m[1]) // three digits always parse
	}
	return hc, nil
}

// parseSchedule understands the cron forms Gravitee's console writes for
// simple intervals ("*/N * * * * *" seconds, "0 */N * * * *" minutes) and Go
// durations ("5s").
func parseSchedule(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 100*time.Millisecond {
		return d, nil
	}
	f := strings.Fields(s)
	if len(f) == 6 && allStars(f[2:]) {
		if n, ok := everyN(f[0]); ok && f[1] == "*" {
			return time.Duration(n) * time.Second, nil
		}
		if n, ok := everyN(f[1]); ok && f[0] == "0" {
			return time.Duration(n) * time.Minute, nil
		}
	}
	return 0, fmt.Errorf("%q: use \"*/N * * * * *\" (every N seconds), \"0 */N * * * *\" (every N minutes) or a duration like \"10s\"", s)
}

func allStars(f []string) bool {
	for _, s := range f {
		if s != "*" && s != "?" {
			return false
		}
	}
	return true
}

func everyN(s string) (int, bool) {
	if s == "*" {
		return 1, true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "*/"))
	return n, err == nil && n > 0 && strings.HasPrefix(s, "*/")
}

// run probes every endpoint of g each interval until ctx is done.
func (hc *healthCheck) run(ctx context.Context, g *endpointGroup) {
	all := append(append([]*endpoint{}, g.primary...), g.secondary...)
	streak := make([]int, len(all)) // >0 successes in a row, <0 failures
	t := time.NewTicker(hc.interval)
	defer t.Stop()
	for {
		for i, e := range all {
			hc.record(e, &streak[i], hc.probe(ctx, e))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// record applies the thresholds to one probe result.
func (hc *healthCheck) record(e *endpoint, streak *int, ok bool) {
	switch {
	case ok && *streak < 0, !ok && *streak > 0:
		*streak = 0
	}
	if ok {
		*streak++
		if *streak >= hc.successThreshold {
			e.down.Store(false)
		}
		return
	}
	*streak--
	if -*streak >= hc.failureThreshold {
		e.down.Store(true)
	}
}

// probe sends one health request; the timeout is the interval (at most 5 s).
func (hc *healthCheck) probe(ctx context.Context, e *endpoint) bool {
	ctx, cancel := context.WithTimeout(ctx, min(hc.interval, 5*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, hc.method, hc.url(e), nil)
	if err != nil {
		return false
	}
	for _, h := range hc.headers {
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := e.transport.RoundTrip(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drain to reuse the connection
	_ = resp.Body.Close()                                         // a close error changes nothing for the probe
	if hc.wantStatus != 0 {
		return resp.StatusCode == hc.wantStatus
	}
	return resp.StatusCode/100 == 2
}

func (hc *healthCheck) url(e *endpoint) string {
	if strings.HasPrefix(hc.target, "http://") || strings.HasPrefix(hc.target, "https://") {
		return hc.target
	}
	base := e.target.Scheme + "://" + e.target.Host
	if !hc.overridePath {
		base += e.targetPath
	}
	if hc.target != "" && !strings.HasPrefix(hc.target, "/") {
		base += "/"
	}
	return base + hc.target
}

// startHealthChecks starts one goroutine per checked group, owned by ctx
// and counted in wg.
func (rt *Runtime) startHealthChecks(ctx context.Context, wg *sync.WaitGroup) {
	for _, g := range rt.groups {
		if g.health == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.health.run(ctx, g)
		}()
	}
}

// poolKeys lists the connection pools the runtime's endpoints use.
func (rt *Runtime) poolKeys() map[string]bool {
	used := map[string]bool{}
	for _, g := range rt.groups {
		for _, e := range g.primary {
			used[e.poolKey] = true
		}
		for _, e := range g.secondary {
			used[e.poolKey] = true
		}
	}
	return used
}
