package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// rateConfig is the "rate", "quota" or "spike" object of Gravitee's
// rate-limit, quota and spike-arrest policies.
type rateConfig struct {
	Limit          int64  `json:"limit"`
	DynamicLimit   string `json:"dynamicLimit,omitempty"`
	PeriodTime     int64  `json:"periodTime"`
	PeriodTimeUnit string `json:"periodTimeUnit"`
	Key            string `json:"key,omitempty"`
	UseKeyOnly     bool   `json:"useKeyOnly,omitempty"`
}

// rateLimitConfig is the configuration of all three policies; exactly one of
// Rate, Quota and Spike is set, by policy.
type rateLimitConfig struct {
	Async         bool        `json:"async,omitempty"`
	AddHeaders    *bool       `json:"addHeaders,omitempty"`
	ErrorStrategy string      `json:"errorStrategy,omitempty"`
	Rate          *rateConfig `json:"rate,omitempty"`
	Quota         *rateConfig `json:"quota,omitempty"`
	Spike         *rateConfig `json:"spike,omitempty"`
}

var periodUnits = map[string]time.Duration{
	"MILLISECONDS": time.Millisecond, "SECONDS": time.Second, "MINUTES": time.Minute,
	"HOURS": time.Hour, "DAYS": 24 * time.Hour, "WEEKS": 7 * 24 * time.Hour,
	"MONTHS": 30 * 24 * time.Hour,
}

// counterPolicy is a compiled rate-limit, quota or spike-arrest step.
type counterPolicy struct {
	kind       string // "rate", "quota", "spike"
	limit      int64  // requests per window
	periodMs   int64
	key        string
	useKeyOnly bool
	addHeaders bool
	bucket     *bucket
	refusal    *failure // the 429, precomputed
	limitText  string   // the limit header's value
	hLimit     string
	hRemaining string
	hReset     string
}

func parseRateLimitConfig(raw []byte, kind string) (*rateLimitConfig, *rateConfig, error) {
	var c rateLimitConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, nil, err
	}
	rc := map[string]*rateConfig{"rate": c.Rate, "quota": c.Quota, "spike": c.Spike}[kind]
	if rc == nil {
		return nil, nil, fmt.Errorf("%q is required", kind)
	}
	if rc.DynamicLimit != "" {
		return nil, nil, fieldErr(kind+".dynamicLimit", errors.New("expression limits are not supported; set limit"))
	}
	if rc.Limit <= 0 {
		return nil, nil, fieldErr(kind+".limit", errors.New("must be a positive number of requests"))
	}
	if rc.PeriodTime <= 0 {
		return nil, nil, fieldErr(kind+".periodTime", errors.New("must be positive"))
	}
	if _, ok := periodUnits[rc.PeriodTimeUnit]; !ok {
		return nil, nil, fieldErr(kind+".periodTimeUnit", fmt.Errorf("is %q; use SECONDS, MINUTES, HOURS, DAYS, WEEKS or MONTHS", rc.PeriodTimeUnit))
	}
	if strings.Contains(rc.Key, "{") {
		return nil, nil, fieldErr(kind+".key", errors.New("expression keys are not supported; use a fixed string"))
	}
	return &c, rc, nil
}

func newCounterPolicy(env *compileEnv, raw []byte, kind string) (*counterPolicy, error) {
	c, rc, err := parseRateLimitConfig(raw, kind)
	if err != nil {
		return nil, err
	}
	p := &counterPolicy{
		kind: kind, limit: rc.Limit, key: rc.Key, useKeyOnly: rc.UseKeyOnly,
		periodMs:   (time.Duration(rc.PeriodTime) * periodUnits[rc.PeriodTimeUnit]).Milliseconds(),
		addHeaders: c.AddHeaders == nil || *c.AddHeaders,
	}
	unit := strings.ToLower(rc.PeriodTimeUnit)
	var msg, key string
	switch kind {
	case "rate":
		msg = fmt.Sprintf("Rate limit exceeded! You reached the limit of %d requests per %d %s", rc.Limit, rc.PeriodTime, unit)
		key, p.hLimit, p.hRemaining, p.hReset = "RATE_LIMIT_TOO_MANY_REQUESTS", "X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"
	case "quota":
		msg = fmt.Sprintf("Quota exceeded! You reached the limit of %d requests per %d %s", rc.Limit, rc.PeriodTime, unit)
		key, p.hLimit, p.hRemaining, p.hReset = "QUOTA_TOO_MANY_REQUESTS", "X-Quota-Limit", "X-Quota-Remaining", "X-Quota-Reset"
	case "spike":
		// Spike arrest smooths the limit: one request per slice of the period.
		slice := max(p.periodMs/p.limit, 1)
		msg = fmt.Sprintf("Spike limit exceeded! You reached the limit of %d requests per %d ms.", 1, slice)
		key, p.hLimit, p.hRemaining, p.hReset = "SPIKE_ARREST_TOO_MANY_REQUESTS", "X-Spike-Arrest-Limit", "X-Spike-Arrest-Remaining", "X-Spike-Arrest-Reset"
	}
	p.refusal = &failure{http.StatusTooManyRequests, key, msg}
	p.limitText = strconv.FormatInt(p.limit, 10)
	if kind == "spike" {
		p.limitText = "1" // one request per slice of the period
	}
	if env != nil && env.g != nil {
		p.bucket = env.g.quotas.bucket(env.api.id+":"+env.field, kind == "quota")
	} else {
		p.bucket = &bucket{windows: map[string]*window{}}
	}
	return p, nil
}

func compileRateLimit(env *compileEnv, raw []byte) (any, error) {
	return newCounterPolicy(env, raw, "rate")
}
func compileQuota(env *compileEnv, raw []byte) (any, error) {
	return newCounterPolicy(env, raw, "quota")
}
func compileSpikeArrest(env *compileEnv, raw []byte) (any, error) {
	return newCounterPolicy(env, raw, "spike")
}

// identity is whom the counter counts: the subscription (or the client IP
// on a key-less plan), unless useKeyOnly; the custom key is appended.
func (p *counterPolicy) identity(x *exchange) string {
	if p.useKeyOnly {
		return p.key
	}
	id := x.clientIP()
	if x.sub != nil {
		id = x.sub.id
	}
	if p.key != "" {
		return id + ":" + p.key
	}
	return id
}

func (p *counterPolicy) onRequest(x *exchange) *failure {
	limit, period := p.limit, p.periodMs
	if p.kind == "spike" {
		limit, period = 1, max(p.periodMs/p.limit, 1)
	}
	count, reset, ok := p.bucket.take(p.identity(x), x.startMs, period, limit)
	if p.addHeaders {
		h := x.w.Header()
		// Two allocations: the three values' backing array, and one string
		// holding both numbers (the limit's text is made at compile time).
		var buf [40]byte
		b := strconv.AppendInt(buf[:0], max(limit-count, 0), 10)
		n := len(b)
		nums := string(strconv.AppendInt(b, reset, 10))
		vals := make([]string, 3)
		vals[0], vals[1], vals[2] = p.limitText, nums[:n], nums[n:]
		h[p.hLimit], h[p.hRemaining], h[p.hReset] = vals[0:1:1], vals[1:2:2], vals[2:3:3]
	}
	if !ok {
		return p.refusal
	}
	return nil
}
