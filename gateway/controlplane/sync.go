package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Sync loop timing.
const (
	syncMinBackoff = time.Second
	syncMaxBackoff = 30 * time.Second
	// unauthorizedRetry is how long the loop waits after the gate refused
	// the token: an operator has to act, hammering the gate will not help.
	unauthorizedRetry = time.Minute
	// minPollInterval stops a gate that answers 204 at once from turning
	// the long poll into a busy loop.
	minPollInterval = time.Second
)

// Syncer keeps the gateway's configuration in step with the Cloud Gate:
// one full GET /sync, then long polls for changes. It owns one goroutine,
// started by Start and stopped by Shutdown.
type Syncer struct {
	client  *GateClient
	applier *applier
	status  *status
	log     *slog.Logger

	cur      *configState // owned by the loop goroutine after Start
	needFull bool

	cancel context.CancelFunc
	done   chan struct{}
}

// newSyncer returns a Syncer that starts from cur (the snapshot's state, or
// nil).
func newSyncer(c *GateClient, a *applier, st *status, log *slog.Logger, cur *configState) *Syncer {
	return &Syncer{client: c, applier: a, status: st, log: log, cur: cur, needFull: true}
}

// Start runs the loop until ctx is done or Shutdown is called.
func (s *Syncer) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.run(ctx)
}

// Shutdown stops the loop and waits for it.
func (s *Syncer) Shutdown() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

func (s *Syncer) run(ctx context.Context) {
	defer close(s.done)
	b := NewBackoff(syncMinBackoff, syncMaxBackoff)
	var lastErr string
	for ctx.Err() == nil {
		start := time.Now()
		changed, err := s.sync1(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			b.Reset()
			s.status.succeeded(time.Now())
			if lastErr != "" {
				s.log.Info("cloud gate reachable again")
				lastErr = ""
			}
			if !changed && time.Since(start) < minPollInterval {
				sleep(ctx, minPollInterval)
			}
			continue
		}
		d := s.delay(b, err)
		s.status.failed(err, time.Now(), time.Now().Add(d))
		lastErr = s.logFailure(err, lastErr, d)
		sleep(ctx, d)
	}
}

// delay picks the wait after err.
func (s *Syncer) delay(b *Backoff, err error) time.Duration {
	d := b.Next()
	if errors.Is(err, ErrUnauthorized) {
		d = max(d, unauthorizedRetry)
	}
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = se.RetryAfter
	}
	return d
}

// logFailure logs err unless it repeats the previous one, and returns its
// text as the new previous error.
func (s *Syncer) logFailure(err error, last string, d time.Duration) string {
	msg := err.Error()
	if msg == last {
		s.log.Debug("sync still failing", "err", err, "retryIn", d.Round(time.Millisecond))
		return msg
	}
	if errors.Is(err, ErrUnauthorized) {
		s.log.Error("the cloud gate refused this gateway's cloud token; still serving the last good configuration. Provision a new cloud-token (cloudgate gateway create) to reconnect", "err", err, "retryIn", d.Round(time.Second))
		return msg
	}
	s.log.Warn("sync with the cloud gate failed; still serving the last good configuration", "err", err, "retryIn", d.Round(time.Millisecond))
	return msg
}

// sync1 makes one /sync request and applies its answer. It reports whether
// a new configuration was applied.
func (s *Syncer) sync1(ctx context.Context) (bool, error) {
	var since int64
	if !s.needFull && s.cur != nil {
		since = s.cur.Revision
	}
	sr, err := s.client.Sync(ctx, since)
	if err != nil {
		return false, err
	}
	if sr == nil {
		return false, nil
	}
	base := s.cur
	if sr.Full {
		base = nil
	}
	next, err := merge(base, sr)
	if err == nil {
		err = s.applier.apply(next, SourceGate)
	}
	if err != nil {
		s.needFull = true // start over from a full answer next time
		return false, err
	}
	s.cur, s.needFull = next, false
	return true, nil
}
