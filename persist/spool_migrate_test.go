package persist

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// legacySpool describes a format 1 spool written by the code before blocks.
type legacySpool struct {
	epoch                   []byte
	first                   uint64    // sequence of the oldest record (earlier ones were acked)
	batches                 []int     // records per append, in order
	spooled                 []int64   // each batch's spooled-at, unix ns
	damagedAfter            int       // a damaged entry follows this many records; -1: none
	droppedTotal, droppedAt int64     // the dropped counters
	recLen                  int       // bytes per record
	want                    [][]byte  // the good records, oldest first (filled in)
	wantSeqs                []uint64  // their sequence numbers
	wantOldest              time.Time // spooled-at of the first
	lastSeq                 uint64    // the bucket's sequence
}

func legacyRecord(i, n int) []byte {
	r := fmt.Appendf(nil, `{"n":%d,"pad":"`, i)
	for len(r) < n-2 {
		r = append(r, 'x')
	}
	return append(r, `"}`...)
}

// writeLegacyFile writes a format 1 state file with bbolt directly: one
// record per key in "reports", value = spooled-at | record.
func writeLegacyFile(t *testing.T, path string, ls *legacySpool) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	u64 := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketSnapshot, bucketCredentials, bucketReportsV1, bucketSpool, bucketCounters} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		reports, spool := tx.Bucket(bucketReportsV1), tx.Bucket(bucketSpool)
		seq, n, size, damagedAfter := ls.first, 0, int64(0), ls.damagedAfter
		put := func(v []byte) error {
			err := reports.Put(seqKey(seq), v)
			seq++
			n++
			return err
		}
		for bi, count := range ls.batches {
			for range count {
				if len(ls.want) == damagedAfter {
					if err := put([]byte{1, 2, 3}); err != nil {
						return err
					}
					damagedAfter = -1
				}
				rec := legacyRecord(len(ls.want), ls.recLen)
				ls.want, ls.wantSeqs = append(ls.want, rec), append(ls.wantSeqs, seq)
				size += int64(len(rec))
				if err := put(append(u64(ls.spooled[bi]), rec...)); err != nil {
					return err
				}
			}
		}
		ls.wantOldest, ls.lastSeq = time.Unix(0, ls.spooled[0]), seq-1
		return joinErrs(reports.SetSequence(seq-1),
			tx.Bucket(bucketMeta).Put(keyFileFormat, []byte{1}),
			spool.Put(keyEpoch, ls.epoch), spool.Put(keyRecords, u64(int64(n))), spool.Put(keyBytes, u64(size)),
			spool.Put(keyDroppedTotal, u64(ls.droppedTotal)), spool.Put(keyDroppedReported, u64(ls.droppedAt)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

func joinErrs(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// interruptMigration runs one migration transaction, as if the process
// died after it.
func interruptMigration(t *testing.T, path string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bucketReports); err != nil {
			return err
		}
		done, err := migrateChunk(tx)
		if err == nil && done {
			err = fmt.Errorf("the migration finished in one transaction; the test wants it cut short")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolMigrateFormat1 opens files written in the format before blocks:
// every record is kept with its sequence number, order and spooled-at time,
// the counters carry over, the old bucket is gone, and numbering goes on.
func TestSpoolMigrateFormat1(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UnixNano()
	cases := []struct {
		name        string
		ls          legacySpool
		interrupted bool
	}{
		{"small spool", legacySpool{first: 1, batches: []int{3, 1, 500}, spooled: []int64{t0, t0 + 1, t0 + 2},
			damagedAfter: -1, recLen: 60}, false},
		{"several transactions, after acks and drops, with a damaged entry",
			legacySpool{first: 41, batches: []int{3000, 5000}, spooled: []int64{t0, t0 + 5e9},
				damagedAfter: 2999, droppedTotal: 7, droppedAt: 3, recLen: 600}, false},
		{"cut short by a crash", legacySpool{first: 41, batches: []int{3000, 5000}, spooled: []int64{t0, t0 + 5e9},
			damagedAfter: -1, recLen: 600}, true},
		{"empty", legacySpool{first: 9, spooled: []int64{0}, damagedAfter: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls := tc.ls
			ls.epoch = []byte{1, 2, 3, 4, 5, 6, 7, 8}
			path := filepath.Join(t.TempDir(), "state.db")
			writeLegacyFile(t, path, &ls)
			if tc.interrupted {
				interruptMigration(t, path)
			}
			db := openPath(t, path, &Options{Now: func() time.Time { return time.Unix(0, t0+10e9) }})
			if msg := db.Recovered(); msg != "" {
				t.Fatalf("Recovered() = %q", msg)
			}
			checkMigrated(t, db, &ls)
		})
	}
}

func checkMigrated(t *testing.T, db *DB, ls *legacySpool) {
	t.Helper()
	st := db.SpoolStats()
	if st.Records != int64(len(ls.want)) || st.DroppedTotal != ls.droppedTotal || st.Dropped != ls.droppedTotal-ls.droppedAt {
		t.Fatalf("stats = %+v; want %d records, dropped %d of %d", st, len(ls.want), ls.droppedTotal-ls.droppedAt, ls.droppedTotal)
	}
	if len(ls.want) > 0 && !st.Oldest.Equal(ls.wantOldest) {
		t.Fatalf("oldest %v, want %v", st.Oldest, ls.wantOldest)
	}
	var seq uint64
	for i := 0; i < len(ls.want); {
		b := mustPeek(t, db, 1000)
		if b.First != ls.wantSeqs[i] {
			t.Fatalf("batch at record %d starts at sequence %d, want %d", i, b.First, ls.wantSeqs[i])
		}
		if want := fmt.Sprintf("%s-%d-%d", hex.EncodeToString(ls.epoch), b.First, b.Last); b.ID != want {
			t.Fatalf("batch id %q, want %q", b.ID, want)
		}
		for _, r := range b.Records {
			if string(r) != string(ls.want[i]) {
				t.Fatalf("record %d = %.40s…, want %.40s…", i, r, ls.want[i])
			}
			seq = ls.wantSeqs[i]
			i++
		}
		if b.Last != seq {
			t.Fatalf("batch ends at %d, its last record is %d", b.Last, seq)
		}
		if err := db.AckReports(b); err != nil {
			t.Fatal(err)
		}
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketReportsV1) != nil {
			return fmt.Errorf("the format 1 bucket is still there")
		}
		if f := tx.Bucket(bucketMeta).Get(keyFileFormat); len(f) != 1 || f[0] != fileFormat {
			return fmt.Errorf("file format %v, want %d", f, fileFormat)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, db, records(0, 1))
	if b := mustPeek(t, db, 1); b.First != ls.lastSeq+1 {
		t.Fatalf("the next record has sequence %d, want %d", b.First, ls.lastSeq+1)
	}
}

// TestSpoolMigrateAfterDowngrade: an older edgegate that ran on a converted
// file (an appliance that booted its previous image) left format 1 records
// numbered from 1 again beside the blocks; the next Open keeps them all,
// after the blocks, with fresh sequence numbers.
func TestSpoolMigrateAfterDowngrade(t *testing.T) {
	db, path := openTest(t, nil)
	mustAppend(t, db, records(0, 5))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		old, err := tx.CreateBucket(bucketReportsV1)
		if err != nil {
			return err
		}
		for i, rec := range records(5, 3) {
			seq, err := old.NextSequence()
			if err != nil {
				return err
			}
			v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
			if err := old.Put(seqKey(seq), append(v, rec...)); err != nil {
				return err
			}
			if i == 0 && seq != 1 {
				return fmt.Errorf("the old bucket numbered from %d", seq)
			}
		}
		return tx.Bucket(bucketSpool).Put(keyRecords, binary.BigEndian.AppendUint64(nil, 8))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	b := mustPeek(t, db, 100)
	if b.First != 1 || b.Last != 8 {
		t.Fatalf("peek covers %d-%d, want 1-8", b.First, b.Last)
	}
	wantRecords(t, b, 0, 8)
	if st := db.SpoolStats(); st.Records != 8 {
		t.Fatalf("stats = %+v", st)
	}
}
