package controlplane

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/persist"
)

// Reporter defaults.
const (
	// DefaultQueueSize bounds the in-memory queue between the request path
	// and the spool writer.
	DefaultQueueSize = 16384
	// writeBatch is the most records one spool transaction holds.
	writeBatch = 1024
	// writeWindow is how long the writer collects records before it commits
	// them: the most a power cut can lose.
	writeWindow = 100 * time.Millisecond
)

// Reporter implements gateway.Recorder: it queues each request's record in a
// bounded channel and a writer goroutine commits them to the spool in
// batches (one fsync per batch).
//
// Overflow policy: Record never blocks. When the queue is full the record is
// dropped and counted (QueueDropped); when the spool write fails (disk full)
// the batch's records are counted as SpoolFailed; when the spool is at its
// bound persist drops its oldest records, counted as SpoolDropped. The sum is
// reported to the gate with the next acknowledged batch.
type Reporter struct {
	db     *persist.DB
	log    *slog.Logger
	ch     chan *analytics.Record
	notify chan struct{} // capacity 1: "the spool has new records"

	requests     atomic.Int64
	queueDropped atomic.Int64
	spoolFailed  atomic.Int64
	spoolDropped atomic.Int64
	rejected     atomic.Int64 // records the gate refused as invalid (see Uploader)
	spoolErr     atomic.Pointer[string]

	cancel context.CancelFunc
	done   chan struct{}
}

// NewReporter returns a Reporter writing to db with a queue of queueSize
// records (DefaultQueueSize when <= 0).
func NewReporter(db *persist.DB, log *slog.Logger, queueSize int) *Reporter {
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	return &Reporter{db: db, log: log, ch: make(chan *analytics.Record, queueSize), notify: make(chan struct{}, 1)}
}

// Record queues r for the spool; it never blocks (see the overflow policy).
func (rp *Reporter) Record(r *analytics.Record) {
	rp.requests.Add(1)
	select {
	case rp.ch <- r:
	default:
		rp.queueDropped.Add(1)
	}
}

// Start runs the writer until Shutdown.
func (rp *Reporter) Start() {
	var ctx context.Context
	ctx, rp.cancel = context.WithCancel(context.Background())
	rp.done = make(chan struct{})
	go rp.run(ctx)
}

// Shutdown stops the writer after it has committed everything queued so far
// and waits for it. Records arriving afterwards stay in the queue: call it
// once the listeners are closed.
func (rp *Reporter) Shutdown() {
	if rp.cancel == nil {
		return
	}
	rp.cancel()
	<-rp.done
}

// memDropped counts the records lost outside the spool's own accounting:
// never spooled, or refused by the gate.
func (rp *Reporter) memDropped() int64 {
	return rp.queueDropped.Load() + rp.spoolFailed.Load() + rp.rejected.Load()
}

func (rp *Reporter) run(ctx context.Context) {
	defer close(rp.done)
	batch := make([][]byte, 0, writeBatch)
	for {
		select {
		case r := <-rp.ch:
			batch = rp.collect(ctx, append(batch, rp.encode(r)))
			rp.write(batch)
			batch = batch[:0]
		case <-ctx.Done():
			rp.drain(batch)
			return
		}
	}
}

// collect adds records to batch until it is full, the window ends or ctx is
// done.
func (rp *Reporter) collect(ctx context.Context, batch [][]byte) [][]byte {
	t := time.NewTimer(writeWindow)
	defer t.Stop()
	for len(batch) < writeBatch {
		select {
		case r := <-rp.ch:
			batch = append(batch, rp.encode(r))
		case <-t.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// drain commits whatever is still queued (shutdown).
func (rp *Reporter) drain(batch [][]byte) {
	for {
		select {
		case r := <-rp.ch:
			batch = append(batch, rp.encode(r))
			if len(batch) == writeBatch {
				rp.write(batch)
				batch = batch[:0]
			}
		default:
			rp.write(batch)
			return
		}
	}
}

// encode writes r as JSON; AppendJSON is json.Marshal's output without its
// reflection and allocations.
func (rp *Reporter) encode(r *analytics.Record) []byte {
	return r.AppendJSON(nil)
}

// write commits batch to the spool, counting what could not be kept.
func (rp *Reporter) write(batch [][]byte) {
	if len(batch) == 0 {
		return
	}
	dropped, err := rp.db.AppendReports(batch)
	if err != nil {
		rp.spoolFailed.Add(int64(len(batch)))
		msg := err.Error()
		if prev := rp.spoolErr.Swap(&msg); prev == nil || *prev != msg {
			rp.log.Error("could not spool analytics records (disk full?); requests are still served, the lost records are counted and reported to the gate", "records", len(batch), "err", err)
		}
		return
	}
	if prev := rp.spoolErr.Swap(nil); prev != nil {
		rp.log.Info("spooling analytics records again", "lostWhileFailing", rp.spoolFailed.Load())
	}
	if dropped > 0 {
		rp.spoolDropped.Add(int64(dropped))
	}
	select {
	case rp.notify <- struct{}{}:
	default:
	}
}
