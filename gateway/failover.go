package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// failoverPolicy is an API's "failover": retries of idempotent requests on
// another endpoint, a per-call limit (slowCallDuration: a call that has not
// answered by then counts as failed, and is retried when it may be), and a
// circuit breaker per endpoint (after maxFailures failed calls in a row the
// endpoint gets no calls for openStateDuration).
type failoverPolicy struct {
	maxRetries  int
	slowCall    time.Duration
	maxFailures int32
	openFor     time.Duration
}

func compileFailover(fo *apidef.Failover) (*failoverPolicy, error) {
	if fo.MaxRetries < 0 || fo.SlowCallDuration < 0 || fo.OpenStateDuration < 0 || fo.MaxFailures < 0 {
		return nil, errors.New("maxRetries, slowCallDuration, openStateDuration and maxFailures must not be negative")
	}
	if fo.PerSubscription {
		return nil, errors.New("perSubscription circuit breakers are not supported")
	}
	f := &failoverPolicy{
		maxRetries: fo.MaxRetries, slowCall: msOr(fo.SlowCallDuration, 2*time.Second),
		maxFailures: int32(fo.MaxFailures), openFor: msOr(fo.OpenStateDuration, 10*time.Second),
	}
	if f.maxRetries == 0 {
		f.maxRetries = 2
	}
	if f.maxFailures == 0 {
		f.maxFailures = 5
	}
	return f, nil
}

// errSlowCall is the error of a call cut at slowCallDuration; it maps to 504.
var errSlowCall = &slowCallError{}

type slowCallError struct{}

func (*slowCallError) Error() string   { return "no answer within the failover slowCallDuration" }
func (*slowCallError) Timeout() bool   { return true }
func (*slowCallError) Temporary() bool { return true }

// roundTrip sends out to ep; with failover the wait for the response
// headers is bounded by slowCallDuration (the body may take longer).
func (f *failoverPolicy) roundTrip(ep *endpoint, out *http.Request, fw fieldAppender) (*http.Response, error) {
	if f == nil {
		return send(ep.rt, out, fw)
	}
	ctx, cancel := context.WithCancelCause(out.Context())
	timer := time.AfterFunc(f.slowCall, func() { cancel(errSlowCall) })
	resp, err := send(ep.rt, out.WithContext(ctx), fw)
	if err != nil {
		timer.Stop()
		cancel(nil)
		if errors.Is(context.Cause(ctx), errSlowCall) {
			return nil, errSlowCall
		}
		return nil, err
	}
	if !timer.Stop() {
		// The timer fired just as the headers came: the call counts, but its
		// context is canceled, so treat it as slow.
		_ = resp.Body.Close() // discarded: the call is treated as failed
		cancel(nil)
		return nil, errSlowCall
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// observe feeds the circuit breaker.
func (f *failoverPolicy) observe(ep *endpoint, err error) {
	if f == nil {
		return
	}
	if err == nil {
		if ep.failures.Load() != 0 {
			ep.failures.Store(0)
		}
		return
	}
	if ep.failures.Add(1) >= f.maxFailures {
		ep.failures.Store(0)
		ep.openUntil.Store(time.Now().Add(f.openFor).UnixNano())
	}
}

// cancelOnClose releases a call's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
