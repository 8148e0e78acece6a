package persist

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketReportsV1 is the spool of file format 1: one record per key (the
// record's sequence number), value = spooled-at (int64 ns, big-endian) |
// record. Open moves its records into blocks and then deletes it.
var bucketReportsV1 = []byte("reports")

const (
	legacyHeaderSize = 8
	// migrateChunkBytes bounds the record bytes one migration transaction
	// moves, so that converting a full spool (256 MiB by default) needs
	// neither that much memory nor that much free disk at once: freed
	// pages are reused by the next transaction.
	migrateChunkBytes = 4 << 20
)

// migrateSpool converts a format 1 spool into blocks, in transactions of
// up to migrateChunkBytes. Each moves the oldest records: it writes their
// blocks, with the same sequence numbers and spooled-at times, and deletes
// them from the old bucket; the last one deletes the old bucket and
// records format 2. A crash in between leaves older records in blocks and
// newer ones in the old bucket, and the next Open carries on. Nothing else
// touches the spool until Open returns.
func (db *DB) migrateSpool() error {
	var legacy bool
	if err := db.view(func(tx *bolt.Tx) error {
		legacy = tx.Bucket(bucketReportsV1) != nil
		return nil
	}); err != nil {
		return fmt.Errorf("convert the report spool: %w", err)
	}
	if !legacy {
		return nil
	}
	for done := false; !done; {
		err := db.update(func(tx *bolt.Tx) error {
			var err error
			done, err = migrateChunk(tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("convert the report spool to blocks: %w", classify(err))
		}
	}
	return db.view(func(tx *bolt.Tx) error {
		db.stats = loadSpoolState(tx)
		return nil
	})
}

// migrateChunk moves the oldest records of the format 1 spool into blocks;
// done says the old spool is gone.
func migrateChunk(tx *bolt.Tx) (done bool, err error) {
	old, blocks := tx.Bucket(bucketReportsV1), tx.Bucket(bucketReports)
	blocks.FillPercent = reportsFillPercent
	if blocks.Sequence() < old.Sequence() {
		if err := blocks.SetSequence(old.Sequence()); err != nil {
			return false, err
		}
	}
	st := readSpoolState(tx)
	var (
		keys [][]byte
		run  legacyRun
		size int
	)
	end := lastBlockEnd(blocks)
	c := old.Cursor()
	k, v := c.First()
	for ; k != nil && size < migrateChunkBytes; k, v = c.Next() {
		keys = append(keys, bytes.Clone(k))
		if len(k) != 8 {
			continue // not a spool key: never written by this package
		}
		if len(v) < legacyHeaderSize {
			st.records-- // a damaged entry, counted when it was written
			continue
		}
		seq, at, rec := binary.BigEndian.Uint64(k), int64(binary.BigEndian.Uint64(v)), v[legacyHeaderSize:]
		if seq <= end {
			// An older edgegate ran on this file after it was converted
			// (an appliance that booted its previous image) and numbered
			// from 1 again: its records are newer than the blocks.
			seq = blocks.Sequence() + 1
			if err := blocks.SetSequence(seq); err != nil {
				return false, err
			}
			end = seq
		}
		if !run.fits(seq, at, rec) {
			if err := run.flush(blocks); err != nil {
				return false, err
			}
		}
		run.add(seq, at, rec)
		size += len(rec)
	}
	if err := run.flush(blocks); err != nil {
		return false, err
	}
	for _, key := range keys {
		if err := old.Delete(key); err != nil {
			return false, err
		}
	}
	if k == nil {
		if err := finishMigration(tx); err != nil {
			return false, err
		}
		done = true
	}
	return done, writeSpoolState(tx, &st)
}

// lastBlockEnd returns the sequence number of the last record in blocks, 0
// when there is none.
func lastBlockEnd(b *bolt.Bucket) uint64 {
	k, v := b.Cursor().Last()
	if len(k) != 8 {
		return 0
	}
	if blk, err := decodeBlock(k, blockValue(b, k, v)); err == nil {
		return blk.last()
	}
	return binary.BigEndian.Uint64(k)
}

func finishMigration(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketReportsV1); err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyFileFormat, []byte{fileFormat})
}

// legacyRun gathers format 1 records that can share a block: consecutive
// sequence numbers, the same spooled-at time, within the block bounds.
type legacyRun struct {
	first uint64
	at    int64
	recs  [][]byte
	size  int
}

func (r *legacyRun) fits(seq uint64, at int64, rec []byte) bool {
	return len(r.recs) > 0 && seq == r.first+uint64(len(r.recs)) && at == r.at &&
		len(r.recs) < maxBlockRecords && r.size+len(rec) <= maxBlockBytes
}

func (r *legacyRun) add(seq uint64, at int64, rec []byte) {
	if len(r.recs) == 0 {
		r.first, r.at = seq, at
	}
	r.recs = append(r.recs, rec)
	r.size += len(rec)
}

// flush writes the run as one block (copying the records) and empties it.
func (r *legacyRun) flush(b *bolt.Bucket) error {
	if len(r.recs) == 0 {
		return nil
	}
	err := putBlock(b, r.first, encodeBlock(r.at, r.recs))
	r.recs, r.size = r.recs[:0], 0
	return err
}
