package persist

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrStaleBatch is returned by AckReports for a batch that did not come
// from this state file's PeekReports.
var ErrStaleBatch = errors.New("persist: batch is not from this spool")

// ReportBatch is a run of the oldest spooled records, returned by
// PeekReports and handed back to AckReports once the gate has stored it.
type ReportBatch struct {
	// ID is stable for the same records: it is derived from the spool's
	// epoch (random, chosen when the state file was created) and the first
	// and last sequence numbers, so a retried upload carries the same
	// Idempotency-Key. Empty when the batch holds nothing at all.
	ID string
	// First and Last are the sequence numbers of the first and last entry
	// the batch covers (AckReports deletes that range); both zero when the
	// spool is empty. A damaged entry in the range is not in Records.
	First, Last uint64
	// Records are the encoded records, oldest first.
	Records [][]byte
	// Dropped counts records dropped (spool full, record too large) and
	// not yet acknowledged as reported; send it with the batch.
	Dropped int64

	epoch          string
	droppedThrough int64
}

// SpoolStats describes the spool; it is kept in memory and costs no disk
// access.
type SpoolStats struct {
	Records int64 // records waiting
	Bytes   int64 // their size in bytes
	// Oldest is when the oldest waiting record was spooled (zero when
	// empty); OldestAge is the time since.
	Oldest    time.Time
	OldestAge time.Duration
	// Dropped is what was dropped and not yet acknowledged as reported to
	// the gate; DroppedTotal counts every drop since the state was created
	// (a Prometheus counter).
	Dropped      int64
	DroppedTotal int64
}

// spoolState is the spool's persisted bookkeeping.
type spoolState struct {
	records, bytes                int64
	droppedTotal, droppedReported int64
	oldest                        int64 // unix ns of the first record; 0 when empty
}

// Spool bucket keys.
var (
	keyEpoch           = []byte("epoch")
	keyRecords         = []byte("records")
	keyBytes           = []byte("bytes")
	keyDroppedTotal    = []byte("dropped-total")
	keyDroppedReported = []byte("dropped-reported")
)

// reportsFillPercent packs spool pages: keys only ever grow, so bbolt's
// default half-full split would double the file for nothing.
const reportsFillPercent = 0.95

// A spooled value is: spooled-at unix ns (u64, big-endian) | record.
const recordHeaderSize = 8

func newSpoolEpoch(tx *bolt.Tx) error {
	b := tx.Bucket(bucketSpool)
	if b.Get(keyEpoch) != nil {
		return nil
	}
	e := make([]byte, 8)
	if _, err := rand.Read(e); err != nil {
		return err
	}
	return b.Put(keyEpoch, e)
}

func readSpoolState(tx *bolt.Tx) spoolState {
	b := tx.Bucket(bucketSpool)
	get := func(k []byte) int64 {
		v := b.Get(k)
		if len(v) != 8 {
			return 0
		}
		return int64(binary.BigEndian.Uint64(v))
	}
	return spoolState{records: get(keyRecords), bytes: get(keyBytes),
		droppedTotal: get(keyDroppedTotal), droppedReported: get(keyDroppedReported),
		oldest: oldestSpooled(tx)}
}

func writeSpoolState(tx *bolt.Tx, st *spoolState) error {
	b := tx.Bucket(bucketSpool)
	put := func(k []byte, v int64) error {
		return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(v)))
	}
	st.oldest = oldestSpooled(tx)
	return errors.Join(put(keyRecords, st.records), put(keyBytes, st.bytes),
		put(keyDroppedTotal, st.droppedTotal), put(keyDroppedReported, st.droppedReported))
}

func oldestSpooled(tx *bolt.Tx) int64 {
	_, v := tx.Bucket(bucketReports).Cursor().First()
	if len(v) < recordHeaderSize {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// AppendReports adds records, each an encoded JSON record, to the spool in
// one transaction: one fsync per call, so batch them. When the spool would
// exceed MaxSpoolRecords or MaxSpoolBytes the oldest records (already
// spooled ones first, then the oldest of recs) are dropped; records larger
// than MaxRecordBytes are dropped too. dropped counts both, and they are
// added to the persisted dropped counter. On error (a full disk wraps
// ErrNoSpace) nothing of recs is stored and nothing already stored is
// lost; the caller counts len(recs) as not spooled.
func (db *DB) AppendReports(recs [][]byte) (dropped int, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	db.spoolMu.Lock()
	defer db.spoolMu.Unlock()
	keep, dropped := db.fitBatch(recs)
	now := db.opts.Now().UnixNano()
	var st spoolState
	err = db.update(func(tx *bolt.Tx) error {
		st = readSpoolState(tx)
		b := tx.Bucket(bucketReports)
		b.FillPercent = reportsFillPercent
		evicted, err := db.evict(b, &st, keep)
		if err != nil {
			return err
		}
		dropped += evicted
		if err := putRecords(b, &st, keep, now); err != nil {
			return err
		}
		st.droppedTotal += int64(dropped)
		return writeSpoolState(tx, &st)
	})
	if err != nil {
		return 0, fmt.Errorf("append %d reports: %w", len(recs), classify(err))
	}
	db.setStats(st)
	return dropped, nil
}

// fitBatch drops records over MaxRecordBytes, then the oldest of recs until
// recs alone fits the bounds.
func (db *DB) fitBatch(recs [][]byte) (keep [][]byte, dropped int) {
	var size int64
	keep = make([][]byte, 0, len(recs))
	for _, r := range recs {
		if len(r) > db.opts.MaxRecordBytes {
			dropped++
			continue
		}
		keep = append(keep, r)
		size += int64(len(r))
	}
	for len(keep) > 0 && (int64(len(keep)) > db.opts.MaxSpoolRecords || size > db.opts.MaxSpoolBytes) {
		size -= int64(len(keep[0]))
		keep = keep[1:]
		dropped++
	}
	return keep, dropped
}

// evict deletes the oldest spooled records until incoming fits the bounds.
func (db *DB) evict(b *bolt.Bucket, st *spoolState, incoming [][]byte) (int, error) {
	var size int64
	for _, r := range incoming {
		size += int64(len(r))
	}
	n := int64(len(incoming))
	evicted := 0
	c := b.Cursor()
	for st.records+n > db.opts.MaxSpoolRecords || st.bytes+size > db.opts.MaxSpoolBytes {
		k, v := c.First()
		if k == nil {
			break // counters drifted from the bucket; nothing left to evict
		}
		if err := c.Delete(); err != nil {
			return evicted, err
		}
		st.records--
		st.bytes -= int64(max(len(v)-recordHeaderSize, 0))
		evicted++
	}
	return evicted, nil
}

func putRecords(b *bolt.Bucket, st *spoolState, recs [][]byte, now int64) error {
	for _, r := range recs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v := make([]byte, recordHeaderSize, recordHeaderSize+len(r))
		binary.BigEndian.PutUint64(v, uint64(now))
		if err := b.Put(seqKey(seq), append(v, r...)); err != nil {
			return err
		}
		st.records++
		st.bytes += int64(len(r))
	}
	return nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// PeekReports returns up to limit (at least 1) of the oldest records (and at most
// MaxBatchBytes of them, but at least one) without removing them. Peeking
// again before an ack returns the same batch with the same ID, unless
// overflow dropped some of its records meanwhile. An empty spool gives a
// batch without records; its ID is non-empty only when Dropped > 0, so
// that the drop count can still be reported.
func (db *DB) PeekReports(limit int) (ReportBatch, error) {
	batch := ReportBatch{epoch: db.epoch}
	err := db.view(func(tx *bolt.Tx) error {
		st := readSpoolState(tx)
		batch.Dropped = st.droppedTotal - st.droppedReported
		batch.droppedThrough = st.droppedTotal
		db.collect(tx.Bucket(bucketReports), max(limit, 1), &batch)
		return nil
	})
	if err != nil {
		return ReportBatch{}, fmt.Errorf("peek reports: %w", err)
	}
	switch {
	case len(batch.Records) > 0:
		batch.ID = fmt.Sprintf("%s-%d-%d", db.epoch, batch.First, batch.Last)
	case batch.Dropped > 0:
		batch.ID = fmt.Sprintf("%s-dropped-%d", db.epoch, batch.droppedThrough)
	}
	return batch, nil
}

func (db *DB) collect(b *bolt.Bucket, limit int, batch *ReportBatch) {
	size := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(batch.Records) < limit; k, v = c.Next() {
		if len(k) != 8 {
			continue // not a spool key: never written by this package
		}
		var rec []byte // nil for a damaged entry: not sent, deleted with the batch
		if len(v) >= recordHeaderSize {
			rec = v[recordHeaderSize:]
		}
		if len(batch.Records) > 0 && size+len(rec) > db.opts.MaxBatchBytes {
			break
		}
		seq := binary.BigEndian.Uint64(k)
		if batch.First == 0 {
			batch.First = seq
		}
		batch.Last = seq
		if rec != nil {
			batch.Records = append(batch.Records, bytes.Clone(rec))
			size += len(rec)
		}
	}
}

// AckReports removes the records of batch (those still there) and marks
// its Dropped count as reported. Acknowledging the same batch twice is
// harmless.
func (db *DB) AckReports(batch ReportBatch) error {
	if batch.epoch != db.epoch {
		return fmt.Errorf("ack reports %s: %w", batch.ID, ErrStaleBatch)
	}
	db.spoolMu.Lock()
	defer db.spoolMu.Unlock()
	var st spoolState
	err := db.update(func(tx *bolt.Tx) error {
		st = readSpoolState(tx)
		if err := deleteRange(tx.Bucket(bucketReports), &st, batch); err != nil {
			return err
		}
		st.droppedReported = max(st.droppedReported, batch.droppedThrough)
		return writeSpoolState(tx, &st)
	})
	if err != nil {
		return fmt.Errorf("ack reports %s: %w", batch.ID, classify(err))
	}
	db.setStats(st)
	return nil
}

func deleteRange(b *bolt.Bucket, st *spoolState, batch ReportBatch) error {
	if len(batch.Records) == 0 {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(seqKey(batch.First)); k != nil && bytes.Compare(k, seqKey(batch.Last)) <= 0; k, v = c.Seek(seqKey(batch.First)) {
		if err := c.Delete(); err != nil {
			return err
		}
		st.records--
		st.bytes -= int64(max(len(v)-recordHeaderSize, 0))
	}
	return nil
}

func (db *DB) setStats(st spoolState) {
	db.statsMu.Lock()
	db.stats = st
	db.statsMu.Unlock()
}

// SpoolStats returns the spool's counters from memory.
func (db *DB) SpoolStats() SpoolStats {
	db.statsMu.Lock()
	st := db.stats
	db.statsMu.Unlock()
	s := SpoolStats{Records: st.records, Bytes: st.bytes,
		Dropped: st.droppedTotal - st.droppedReported, DroppedTotal: st.droppedTotal}
	if st.oldest != 0 {
		s.Oldest = time.Unix(0, st.oldest)
		s.OldestAge = max(db.opts.Now().Sub(s.Oldest), 0)
	}
	return s
}
