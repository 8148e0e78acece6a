package controlplane

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/persist"
)

// Reporter defaults.
const (
	// DefaultQueueSize bounds the records held in memory between the
	// request path and the spool writer.
	DefaultQueueSize = 16384
	// writeBatch is the most records one spool transaction holds.
	writeBatch = 1024
	// blockBytes ends a block early when its records are large.
	blockBytes = 1 << 20
	// maxBufferedBytes bounds the encoded records held in memory, whatever
	// their number (a record can be large: long URIs and user agents).
	maxBufferedBytes = 32 << 20
	// writeWindow is how long a block collects records before it is
	// committed: the most a power cut can lose.
	writeWindow = 100 * time.Millisecond
)

// Reporter implements gateway.Recorder. Record encodes the request's record
// straight into the block being filled (a byte buffer under a mutex: no
// allocation, no goroutine hand-off per request); the writer goroutine
// commits each block to the spool in one transaction (one fsync) when it is
// full (writeBatch records or blockBytes) or writeWindow after its first
// record, whichever comes first. It is woken twice per block at most, not
// per record.
//
// Overflow policy: Record never blocks. When queueSize records or
// maxBufferedBytes of them already wait in memory (the disk is slower than
// the traffic) the record is dropped and counted (QueueDropped); when the
// spool write fails (disk full) the block's records are counted as
// SpoolFailed; when the spool is at its bound persist drops its oldest
// records, counted as SpoolDropped. The sum is reported to the gate with
// the next acknowledged batch.
type Reporter struct {
	db     *persist.DB
	log    *slog.Logger
	limit  int           // queueSize: records buffered at most
	kick   chan struct{} // capacity 1: "a block started or filled"
	notify chan struct{} // capacity 1: "the spool has new records"

	mu       sync.Mutex
	cur      *reportBlock   // being filled; nil when none
	full     []*reportBlock // waiting for the writer, oldest first
	spare    []*reportBlock // emptied blocks kept for reuse
	buffered int            // records in cur and full
	bufBytes int            // their encoded size
	lastSize int            // encoded size of the last block handed to the writer

	requests     atomic.Int64
	queueDropped atomic.Int64
	spoolFailed  atomic.Int64
	spoolDropped atomic.Int64
	rejected     atomic.Int64 // records the gate refused as invalid (see Uploader)
	spoolErr     atomic.Pointer[string]

	cancel context.CancelFunc
	done   chan struct{}
}

// reportBlock is a run of encoded records: record i is
// buf[ends[i-1]:ends[i]].
type reportBlock struct {
	buf    []byte
	ends   []int
	opened time.Time // when its first record arrived
	recs   [][]byte  // scratch: the records as slices for AppendReports
}

func (b *reportBlock) records() [][]byte {
	if cap(b.recs) < len(b.ends) { // one allocation, kept with the block
		b.recs = make([][]byte, 0, cap(b.ends))
	}
	b.recs = b.recs[:0]
	start := 0
	for _, end := range b.ends {
		b.recs = append(b.recs, b.buf[start:end:end])
		start = end
	}
	return b.recs
}

// NewReporter returns a Reporter writing to db that holds at most
// queueSize records in memory (DefaultQueueSize when <= 0).
func NewReporter(db *persist.DB, log *slog.Logger, queueSize int) *Reporter {
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	return &Reporter{db: db, log: log, limit: queueSize,
		kick: make(chan struct{}, 1), notify: make(chan struct{}, 1)}
}

// Record encodes r into the current block; it never blocks and does not
// keep r (see the overflow policy).
func (rp *Reporter) Record(r *analytics.Record) {
	rp.requests.Add(1)
	rp.mu.Lock()
	if rp.buffered >= rp.limit || rp.bufBytes >= maxBufferedBytes {
		rp.mu.Unlock()
		rp.queueDropped.Add(1)
		return
	}
	b := rp.cur
	started := b == nil
	if started {
		b = rp.takeSpare()
		b.opened = time.Now()
		rp.cur = b
	}
	n := len(b.buf)
	b.buf = r.AppendJSON(b.buf)
	b.ends = append(b.ends, len(b.buf))
	rp.buffered++
	rp.bufBytes += len(b.buf) - n
	filled := len(b.ends) >= min(writeBatch, rp.limit) || len(b.buf) >= blockBytes
	if filled {
		rp.full = append(rp.full, b)
		rp.cur = nil
	}
	rp.mu.Unlock()
	if started || filled {
		select {
		case rp.kick <- struct{}{}:
		default:
		}
	}
}

// takeSpare returns an empty block; rp.mu is held. A new block (the
// writer is behind, or this is the first) gets room for a block like the
// last one written, so that Record does not grow it step by step
// (copying what it holds each time) on the request path.
func (rp *Reporter) takeSpare() *reportBlock {
	if n := len(rp.spare); n > 0 {
		b := rp.spare[n-1]
		rp.spare = rp.spare[:n-1]
		return b
	}
	size := min(max(rp.lastSize+rp.lastSize/4, minBlockCap), blockBytes)
	return &reportBlock{buf: make([]byte, 0, size), ends: make([]int, 0, min(rp.limit, writeBatch))}
}

// minBlockCap is the least room a new block starts with.
const minBlockCap = 16 << 10

// maxSpare bounds the emptied blocks kept for reuse (each up to
// blockBytes): the writer needs one while the request path fills another.
const maxSpare = 2

// recycle empties b and keeps it for reuse, up to maxSpare blocks.
func (rp *Reporter) recycle(b *reportBlock) {
	b.buf, b.ends, b.recs = b.buf[:0], b.ends[:0], b.recs[:0]
	rp.mu.Lock()
	if len(rp.spare) < maxSpare {
		rp.spare = append(rp.spare, b)
	}
	rp.mu.Unlock()
}

// Start runs the writer until Shutdown.
func (rp *Reporter) Start() {
	var ctx context.Context
	ctx, rp.cancel = context.WithCancel(context.Background())
	rp.done = make(chan struct{})
	go rp.run(ctx)
}

// Shutdown stops the writer after it has committed everything recorded so
// far and waits for it. Records arriving afterwards stay in memory: call it
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
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		b, wait := rp.next(false)
		if b != nil {
			rp.write(b)
			continue
		}
		var timeout <-chan time.Time
		if wait > 0 {
			t.Reset(wait)
			timeout = t.C
		}
		select {
		case <-rp.kick:
		case <-timeout:
		case <-ctx.Done():
			for b, _ := rp.next(true); b != nil; b, _ = rp.next(true) {
				rp.write(b)
			}
			return
		}
		t.Stop()
	}
}

// next returns the oldest block due for writing: a full one, or the block
// being filled once its window is over (or at once when flush is set).
// Without one it returns how long until the current block is due (0: no
// block is open; wait for a kick).
func (rp *Reporter) next(flush bool) (*reportBlock, time.Duration) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.full) == 0 && rp.cur != nil {
		wait := writeWindow - time.Since(rp.cur.opened)
		if !flush && wait > 0 {
			return nil, wait
		}
		rp.full = append(rp.full, rp.cur)
		rp.cur = nil
	}
	if len(rp.full) == 0 {
		return nil, 0
	}
	b := rp.full[0]
	n := copy(rp.full, rp.full[1:])
	rp.full[n] = nil
	rp.full = rp.full[:n]
	rp.buffered -= len(b.ends)
	rp.bufBytes -= len(b.buf)
	rp.lastSize = len(b.buf)
	return b, 0
}

// write commits b to the spool, counting what could not be kept, and
// recycles it.
func (rp *Reporter) write(b *reportBlock) {
	defer rp.recycle(b)
	n := len(b.ends)
	if n == 0 {
		return
	}
	dropped, err := rp.db.AppendReports(b.records())
	if err != nil {
		rp.spoolFailed.Add(int64(n))
		msg := err.Error()
		if prev := rp.spoolErr.Swap(&msg); prev == nil || *prev != msg {
			rp.log.Error("could not spool analytics records (disk full?); requests are still served, the lost records are counted and reported to the gate", "records", n, "err", err)
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
