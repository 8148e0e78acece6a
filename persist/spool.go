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

// readSpoolState reads the counters; oldest is left zero (writeSpoolState
// and loadSpoolState fill it in).
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
		droppedTotal: get(keyDroppedTotal), droppedReported: get(keyDroppedReported)}
}

// loadSpoolState reads the counters and the oldest record's time.
func loadSpoolState(tx *bolt.Tx) spoolState {
	st := readSpoolState(tx)
	st.oldest = oldestSpooled(tx.Bucket(bucketReports))
	return st
}

// writeSpoolState stores the counters. An empty spool resets the record
// and byte counts, which damaged blocks (whose counts are estimates) may
// have made drift.
func writeSpoolState(tx *bolt.Tx, st *spoolState) error {
	b := tx.Bucket(bucketSpool)
	put := func(k []byte, v int64) error {
		return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(v)))
	}
	st.oldest = oldestSpooled(tx.Bucket(bucketReports))
	if k, _ := tx.Bucket(bucketReports).Cursor().First(); k == nil {
		st.records, st.bytes = 0, 0
	}
	st.records, st.bytes = max(st.records, 0), max(st.bytes, 0)
	return errors.Join(put(keyRecords, st.records), put(keyBytes, st.bytes),
		put(keyDroppedTotal, st.droppedTotal), put(keyDroppedReported, st.droppedReported))
}

// oldestSpooled returns when the first block that has a readable header
// was spooled; 0 when there is none.
func oldestSpooled(b *bolt.Bucket) int64 {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if at, ok := blockSpooledAt(blockValue(b, k, v)); ok && len(k) == 8 {
			return at
		}
	}
	return 0
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
	keep, size, dropped := db.fitBatch(recs)
	now := db.opts.Now().UnixNano()
	var st spoolState
	err = db.update(func(tx *bolt.Tx) error {
		st = readSpoolState(tx)
		b := tx.Bucket(bucketReports)
		b.FillPercent = reportsFillPercent
		evicted, err := db.evict(b, &st, int64(len(keep)), size)
		if err != nil {
			return err
		}
		dropped += int(evicted)
		if err := db.putBlocks(b, &st, keep, now); err != nil {
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
// recs alone fits the bounds; size is the bytes of what it keeps.
func (db *DB) fitBatch(recs [][]byte) (keep [][]byte, size int64, dropped int) {
	keep = recs
	for _, r := range recs {
		if len(r) > db.opts.MaxRecordBytes {
			keep = nil // copy only when something is dropped
			break
		}
		size += int64(len(r))
	}
	if keep == nil {
		size = 0
		keep = make([][]byte, 0, len(recs))
		for _, r := range recs {
			if len(r) > db.opts.MaxRecordBytes {
				dropped++
				continue
			}
			keep = append(keep, r)
			size += int64(len(r))
		}
	}
	for len(keep) > 0 && (int64(len(keep)) > db.opts.MaxSpoolRecords || size > db.opts.MaxSpoolBytes) {
		size -= int64(len(keep[0]))
		keep = keep[1:]
		dropped++
	}
	return keep, size, dropped
}

// evict drops the oldest spooled records until n more records of size
// bytes fit the bounds: whole blocks with one Delete, and the first records
// of a block by rewriting the rest under its new first sequence number. A
// block that goes whole is not decoded: its header's count and length say
// what it held (its records are not read, so their checksum does not
// matter; a damaged block goes whole anyway).
func (db *DB) evict(b *bolt.Bucket, st *spoolState, n, size int64) (int64, error) {
	over := func() bool {
		return st.records+n > db.opts.MaxSpoolRecords || st.bytes+size > db.opts.MaxSpoolBytes
	}
	if !over() {
		return 0, nil
	}
	var evicted int64
	var ops blockOps
	it := newBlockIter(b, 0)
	for over() {
		raw, ok := it.nextRaw()
		if !ok {
			break // counters drifted from the bucket; nothing left to evict
		}
		if cnt, bytes, ok := raw.header(); ok && db.overWithout(st, n, size, cnt-1, bytes) {
			ops.removeRaw(&raw)
			st.records -= cnt
			st.bytes -= bytes
			evicted += cnt
			continue
		}
		evicted += evictFrom(&ops, raw.decode(), st, over)
	}
	return evicted, ops.apply(b)
}

// overWithout reports whether the spool still exceeds its bounds for n
// more records of size bytes once cnt of its records and fewer than bytes
// of their bytes are gone: then all of a block of cnt+1 records and bytes
// bytes must go.
func (db *DB) overWithout(st *spoolState, n, size, cnt, bytes int64) bool {
	return st.records-cnt+n > db.opts.MaxSpoolRecords || st.bytes-bytes+size > db.opts.MaxSpoolBytes
}

// evictFrom drops the first records of blk while over() holds, rewriting
// the rest of it; it returns how many it dropped.
func evictFrom(ops *blockOps, blk spoolBlock, st *spoolState, over func() bool) int64 {
	ops.remove(&blk)
	if blk.damaged {
		st.records -= blk.n
		st.bytes -= blk.size
		return blk.n
	}
	i, cnt := 0, int(blk.count())
	for ; i < cnt && over(); i++ {
		st.records--
		st.bytes -= int64(len(blk.rec(i)))
	}
	if i < cnt {
		ops.put(blk.first+uint64(i), blk.encodeRange(i, cnt))
	}
	return int64(i)
}

// putBlocks stores recs as blocks of at most maxBlockRecords records and
// maxBlockBytes bytes (a larger record alone), taking sequence numbers
// from the bucket. The values are built in db.spoolBuf.
func (db *DB) putBlocks(b *bolt.Bucket, st *spoolState, recs [][]byte, now int64) error {
	buf := db.blockBuffer(recs)
	for len(recs) > 0 {
		n, size := 1, len(recs[0])
		for n < len(recs) && n < maxBlockRecords && size+len(recs[n]) <= maxBlockBytes {
			size += len(recs[n])
			n++
		}
		first := b.Sequence() + 1
		if err := b.SetSequence(first + uint64(n) - 1); err != nil {
			return err
		}
		v := appendBlock(buf[:0:len(buf)], now, recs[:n])
		buf = buf[len(v):]
		if err := putBlock(b, first, v); err != nil {
			return err
		}
		st.records += int64(n)
		st.bytes += int64(size)
		recs = recs[n:]
	}
	return nil
}

// maxSpoolBuf bounds the scratch space AppendReports keeps between calls.
const maxSpoolBuf = 4 << 20

// blockBuffer returns scratch space for the block values of recs: enough
// for one block per record, the most their headers can take.
func (db *DB) blockBuffer(recs [][]byte) []byte {
	need := 0
	for _, r := range recs {
		need += blockFixedHeader + blockLengthSize + len(r)
	}
	if cap(db.spoolBuf) >= need {
		return db.spoolBuf[:cap(db.spoolBuf)]
	}
	buf := make([]byte, need)
	if need <= maxSpoolBuf {
		db.spoolBuf = buf
	}
	return buf
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

// collect gathers the oldest records into batch, across blocks, stopping
// at limit records or MaxBatchBytes, possibly inside a block. A damaged
// block is covered by First..Last (so that the ack deletes it) but adds no
// records.
func (db *DB) collect(b *bolt.Bucket, limit int, batch *ReportBatch) {
	size := 0
	cover := func(first, last uint64) {
		if batch.First == 0 {
			batch.First = first
		}
		batch.Last = last
	}
	it := newBlockIter(b, 0)
	for len(batch.Records) < limit {
		blk, ok := it.next()
		if !ok {
			return
		}
		if blk.damaged {
			cover(blk.first, blk.last())
			continue
		}
		i, cnt := 0, int(blk.count())
		for ; i < cnt && len(batch.Records)+i < limit; i++ {
			if len(batch.Records)+i > 0 && size+len(blk.rec(i)) > db.opts.MaxBatchBytes {
				break
			}
			size += len(blk.rec(i))
		}
		if i == 0 {
			return
		}
		cover(blk.first, blk.first+uint64(i)-1)
		batch.Records = appendRecords(batch.Records, &blk, i)
		if i < cnt {
			return
		}
	}
}

// appendRecords appends copies of the first n records of blk to recs, all
// in one allocation; each record's capacity ends where it does, so that
// appending to one cannot overwrite the next.
func appendRecords(recs [][]byte, blk *spoolBlock, n int) [][]byte {
	data := bytes.Clone(blk.data[:blk.offs[n]])
	for i := range n {
		recs = append(recs, data[blk.offs[i]:blk.offs[i+1]:blk.offs[i+1]])
	}
	return recs
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
		b := tx.Bucket(bucketReports)
		b.FillPercent = reportsFillPercent
		if err := deleteRange(b, &st, batch.First, batch.Last); err != nil {
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

// deleteRange removes the records first..last: blocks inside the range
// with one Delete each (without decoding them: the header's count and
// length say what they held); a block that reaches beyond it is rewritten
// with what remains, under the sequence number of its new first record. A
// damaged block that meets the range is deleted whole.
func deleteRange(b *bolt.Bucket, st *spoolState, first, last uint64) error {
	if last == 0 || last < first {
		return nil
	}
	var ops blockOps
	it := newBlockIter(b, first)
	for {
		raw, ok := it.nextRaw()
		if !ok || raw.first() > last {
			break
		}
		if cnt, bytes, ok := raw.header(); ok && raw.first() >= first && raw.first()+uint64(cnt)-1 <= last {
			ops.removeRaw(&raw)
			st.records -= cnt
			st.bytes -= bytes
			continue
		}
		deleteFrom(&ops, raw.decode(), st, first, last)
	}
	return ops.apply(b)
}

// deleteFrom removes the records first..last from blk, which is damaged
// or not wholly inside the range, keeping the rest of it.
func deleteFrom(ops *blockOps, blk spoolBlock, st *spoolState, first, last uint64) {
	if blk.last() < first {
		return
	}
	ops.remove(&blk)
	if blk.damaged {
		st.records -= blk.n
		st.bytes -= blk.size
		return
	}
	lo := int(max(first, blk.first) - blk.first)
	hi := int(min(last, blk.last()) - blk.first + 1)
	cnt := int(blk.count())
	st.records -= int64(hi - lo)
	st.bytes -= blk.recBytes(lo, hi)
	if lo > 0 {
		ops.put(blk.first, blk.encodeRange(0, lo))
	}
	if hi < cnt {
		ops.put(blk.first+uint64(hi), blk.encodeRange(hi, cnt))
	}
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
