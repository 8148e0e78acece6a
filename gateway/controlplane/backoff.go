package controlplane

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Backoff computes exponentially growing delays with jitter between failed
// attempts. The zero value is not usable; build one with NewBackoff.
type Backoff struct {
	min, max time.Duration
	next     time.Duration
	rand     func() float64 // in [0,1); replaceable in tests
}

// NewBackoff returns a Backoff whose first delay is about min and which
// doubles up to max.
func NewBackoff(min, max time.Duration) *Backoff {
	return &Backoff{min: min, max: max, next: min, rand: rand.Float64}
}

// Next returns the delay to wait before the next attempt: the current step
// with ±20% jitter (so many gateways that lost the gate together do not
// return in lockstep), and doubles the step for the time after.
func (b *Backoff) Next() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	jitter := (b.rand()*0.4 - 0.2) * float64(d)
	return max(time.Duration(float64(d)+jitter), time.Millisecond)
}

// Reset goes back to the first step after a success.
func (b *Backoff) Reset() { b.next = b.min }

// sleep waits d or until ctx is done; it reports whether the full delay
// passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// maxRetryAfter bounds what a gate may ask a gateway to wait.
const maxRetryAfter = 10 * time.Minute

// retryAfter reads a Retry-After header (delay-seconds or HTTP-date) and
// returns the delay it asks for, or 0 when it is absent or unusable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}
