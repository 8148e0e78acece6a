package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/persist"
)

// Uploader timing and sizes.
const (
	uploadBatch      = 1000
	uploadMinBackoff = time.Second
	uploadMaxBackoff = 10 * time.Second // so a returning gate gets the backlog within seconds
	uploadIdle       = 2 * time.Second  // how often an idle uploader looks at the spool anyway
)

// Uploader drains the report spool to the gate's /reports: oldest batch
// first, gzip, the batch id as Idempotency-Key, and the batch is deleted
// from the spool only after a 2xx acknowledgement. Failures back off
// exponentially with jitter and honour Retry-After.
type Uploader struct {
	rep       *Reporter
	client    *GateClient
	gatewayID string
	log       *slog.Logger

	errors      atomic.Int64
	failing     atomic.Bool   // the last upload attempt failed
	sentDropped int64         // reporter drops already acknowledged by the gate
	pending     *pendingBatch // the batch being retried; nil between batches
	limit       int           // records per batch; shrinks when the gate refuses a batch as bad or too large
	// sentDropped and pending belong to whoever calls upload1: the loop
	// goroutine, then Flush after Shutdown.

	cancel context.CancelFunc
	done   chan struct{}
}

// newUploader returns an Uploader for rep's spool.
func newUploader(rep *Reporter, c *GateClient, gatewayID string, log *slog.Logger) *Uploader {
	return &Uploader{rep: rep, client: c, gatewayID: gatewayID, log: log, limit: uploadBatch}
}

// Start runs the upload loop until Shutdown.
func (u *Uploader) Start(ctx context.Context) {
	ctx, u.cancel = context.WithCancel(ctx)
	u.done = make(chan struct{})
	go u.run(ctx)
}

// Shutdown stops the loop and waits for it.
func (u *Uploader) Shutdown() {
	if u.cancel == nil {
		return
	}
	u.cancel()
	<-u.done
}

func (u *Uploader) run(ctx context.Context) {
	defer close(u.done)
	b := NewBackoff(uploadMinBackoff, uploadMaxBackoff)
	var lastErr string
	for ctx.Err() == nil {
		n, err := u.upload1(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errSplit) {
			continue
		}
		if err != nil {
			d := b.Next()
			var se *StatusError
			switch {
			case errors.As(err, &se) && se.RetryAfter > 0:
				d = se.RetryAfter
			case errors.Is(err, ErrUnauthorized):
				d = max(d, unauthorizedRetry) // the token will not get better by itself
			}
			lastErr = u.logFailure(err, lastErr, d)
			sleep(ctx, d)
			continue
		}
		b.Reset()
		if lastErr != "" {
			u.log.Info("report upload works again")
			lastErr = ""
		}
		if n == 0 {
			u.idle(ctx)
		}
	}
}

func (u *Uploader) idle(ctx context.Context) {
	t := time.NewTimer(uploadIdle)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-u.rep.notify:
	case <-t.C:
	}
}

func (u *Uploader) logFailure(err error, last string, d time.Duration) string {
	u.errors.Add(1)
	if msg := err.Error(); msg != last {
		u.log.Warn("report upload failed; the records stay in the spool", "err", err, "retryIn", d.Round(time.Millisecond))
		return msg
	}
	return last
}

// reportBatch is wire.ReportBatch with the records kept as the spooled JSON,
// so they are not decoded and encoded again.
type reportBatch struct {
	BatchID   string            `json:"batchId"`
	GatewayID string            `json:"gatewayId"`
	Dropped   int64             `json:"dropped,omitempty"`
	Records   []json.RawMessage `json:"records"`
}

// pendingBatch is a batch being sent: kept as is until the gate
// acknowledges it, so every retry carries the same records, dropped count and
// Idempotency-Key.
type pendingBatch struct {
	batch      persist.ReportBatch
	body       []byte
	memDropped int64
}

// upload1 sends the oldest spooled batch, if any, and returns how many
// records the gate acknowledged.
func (u *Uploader) upload1(ctx context.Context) (int, error) {
	if u.pending == nil {
		p, err := u.nextBatch()
		if err != nil || p == nil {
			return 0, err
		}
		u.pending = p
	}
	p := u.pending
	if err := u.client.PostReports(ctx, p.batch.ID, p.body); err != nil {
		if refused(err) {
			return u.refusedBatch(p, err)
		}
		if ctx.Err() == nil { // an upload cut short by shutdown says nothing of the gate
			u.failing.Store(true)
		}
		return 0, err
	}
	u.failing.Store(false)
	u.pending = nil
	u.limit = min(u.limit*2, uploadBatch)
	u.sentDropped = p.memDropped
	if err := u.rep.db.AckReports(p.batch); err != nil {
		return 0, fmt.Errorf("remove acknowledged batch %s from the spool: %w", p.batch.ID, err)
	}
	return len(p.batch.Records), nil
}

// nextBatch reads and encodes the oldest spooled batch; nil when the spool
// is empty.
func (u *Uploader) nextBatch() (*pendingBatch, error) {
	batch, err := u.rep.db.PeekReports(u.limit)
	if err != nil {
		return nil, fmt.Errorf("read the spool: %w", err)
	}
	if len(batch.Records) == 0 {
		return nil, nil
	}
	// persist counts what the spool dropped; the reporter what never
	// reached it.
	memDropped := u.rep.memDropped()
	body := reportBatch{BatchID: batch.ID, GatewayID: u.gatewayID, Dropped: batch.Dropped + memDropped - u.sentDropped, Records: make([]json.RawMessage, len(batch.Records))}
	for i, r := range batch.Records {
		body.Records[i] = r
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode report batch %s: %w", batch.ID, err)
	}
	return &pendingBatch{batch: batch, body: data, memDropped: memDropped}, nil
}

// refused reports whether the gate will never accept this batch as it is
// (400 names a bad record, 413 a body too large): retrying it unchanged
// would block the spool forever.
func refused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Status == http.StatusBadRequest || se.Status == http.StatusRequestEntityTooLarge)
}

// errSplit says a refused batch is being retried in halves: no backoff.
var errSplit = errors.New("retrying in smaller batches")

// refusedBatch narrows a refused batch down: a batch of several records is
// retried in halves (errSplit); a single refused record is discarded and
// counted as dropped (so the gate learns of it), and the spool moves on.
func (u *Uploader) refusedBatch(p *pendingBatch, err error) (int, error) {
	u.pending = nil
	if n := len(p.batch.Records); n > 1 {
		u.limit = max(1, n/2)
		u.log.Warn("the gate refused a batch; retrying in smaller batches to find the record it refuses", "records", n, "err", err)
		return 0, errSplit
	}
	if aerr := u.rep.db.AckReports(p.batch); aerr != nil {
		return 0, fmt.Errorf("discard refused record: %w", aerr)
	}
	u.rep.rejected.Add(1)
	u.log.Error("the gate refused an analytics record; it was discarded and counted as dropped", "record", truncate(string(p.batch.Records[0]), 300), "err", err)
	return 1, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Flush uploads what the spool holds until it is empty, an upload fails or
// ctx is done (the bounded last attempt at shutdown).
func (u *Uploader) Flush(ctx context.Context) error {
	for {
		n, err := u.upload1(ctx)
		if errors.Is(err, errSplit) {
			continue
		}
		if err != nil || n == 0 {
			return err
		}
	}
}
