package persist

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func records(from, n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = []byte(fmt.Sprintf(`{"requestId":"r-%06d","status":200}`, from+i))
	}
	return recs
}

func mustAppend(t *testing.T, db *DB, recs [][]byte) int {
	t.Helper()
	dropped, err := db.AppendReports(recs)
	if err != nil {
		t.Fatalf("AppendReports: %v", err)
	}
	return dropped
}

func mustPeek(t *testing.T, db *DB, n int) ReportBatch {
	t.Helper()
	b, err := db.PeekReports(n)
	if err != nil {
		t.Fatalf("PeekReports: %v", err)
	}
	return b
}

func TestSpoolOrderAckAndStableID(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	db, _ := openTest(t, &Options{Now: clock.Now})
	if b := mustPeek(t, db, 10); b.ID != "" || len(b.Records) != 0 {
		t.Fatalf("empty spool peek = %+v", b)
	}
	mustAppend(t, db, records(0, 5))
	clock.t = clock.t.Add(time.Second)
	mustAppend(t, db, records(5, 5))
	clock.t = clock.t.Add(time.Second)

	st := db.SpoolStats()
	if st.Records != 10 || st.OldestAge != 2*time.Second || st.Bytes != int64(10*len(records(0, 1)[0])) {
		t.Fatalf("stats = %+v", st)
	}
	b1 := mustPeek(t, db, 4)
	b2 := mustPeek(t, db, 4)
	if b1.ID == "" || b1.ID != b2.ID || b1.First != 1 || b1.Last != 4 {
		t.Fatalf("peeks %q (%d-%d) and %q: want the same non-empty id for 1-4", b1.ID, b1.First, b1.Last, b2.ID)
	}
	for i, r := range b1.Records {
		if want := string(records(i, 1)[0]); string(r) != want {
			t.Fatalf("record %d = %s, want %s", i, r, want)
		}
	}
	// The id survives a restart.
	db = reopen(t, db, &Options{Now: clock.Now})
	b3 := mustPeek(t, db, 4)
	if b3.ID != b1.ID {
		t.Fatalf("id after reopen %q, want %q", b3.ID, b1.ID)
	}
	if err := db.AckReports(b3); err != nil {
		t.Fatal(err)
	}
	if err := db.AckReports(b3); err != nil {
		t.Fatalf("second ack: %v", err)
	}
	rest := mustPeek(t, db, 100)
	if rest.First != 5 || rest.Last != 10 || len(rest.Records) != 6 || rest.ID == b1.ID {
		t.Fatalf("after ack: %d-%d (%d records), id %q", rest.First, rest.Last, len(rest.Records), rest.ID)
	}
	if st := db.SpoolStats(); st.Records != 6 || st.OldestAge != 2*time.Second {
		t.Fatalf("stats after ack = %+v", st)
	}
	if err := db.AckReports(rest); err != nil {
		t.Fatal(err)
	}
	if st := db.SpoolStats(); st.Records != 0 || st.Bytes != 0 || !st.Oldest.IsZero() {
		t.Fatalf("stats when empty = %+v", st)
	}
	// Sequence numbers are not reused after the spool empties.
	mustAppend(t, db, records(10, 1))
	if b := mustPeek(t, db, 1); b.First != 11 {
		t.Fatalf("next sequence %d, want 11", b.First)
	}
}

func TestSpoolAckForeignBatch(t *testing.T) {
	db1, _ := openTest(t, nil)
	db2, _ := openTest(t, nil)
	mustAppend(t, db1, records(0, 2))
	if err := db2.AckReports(mustPeek(t, db1, 2)); !errors.Is(err, ErrStaleBatch) {
		t.Fatalf("ack on another file = %v, want ErrStaleBatch", err)
	}
	if err := db2.AckReports(ReportBatch{}); !errors.Is(err, ErrStaleBatch) {
		t.Fatalf("ack of a made-up batch = %v, want ErrStaleBatch", err)
	}
}

func TestSpoolBatchBytesBound(t *testing.T) {
	rec := records(0, 1)[0]
	db, _ := openTest(t, &Options{MaxBatchBytes: 3 * len(rec)})
	mustAppend(t, db, records(0, 10))
	if b := mustPeek(t, db, 100); len(b.Records) != 3 {
		t.Fatalf("batch of %d records, want 3 (MaxBatchBytes)", len(b.Records))
	}
}

func TestSpoolDropOldest(t *testing.T) {
	recLen := len(records(0, 1)[0])
	cases := []struct {
		name        string
		opts        Options
		batches     []int // sizes appended in order
		wantDropped []int
		wantFirst   uint64 // sequence of the oldest record kept
		wantRecords int
	}{
		{"record bound", Options{MaxSpoolRecords: 10}, []int{6, 6, 3}, []int{0, 2, 3}, 6, 10},
		{"byte bound", Options{MaxSpoolBytes: int64(8 * recLen)}, []int{5, 5}, []int{0, 2}, 3, 8},
		{"batch larger than the bound", Options{MaxSpoolRecords: 4}, []int{2, 7}, []int{0, 5}, 3, 4},
		{"record bound, whole blocks", Options{MaxSpoolRecords: 6}, []int{3, 3, 6}, []int{0, 0, 6}, 7, 6},
		{"byte bound, whole blocks", Options{MaxSpoolBytes: int64(6 * recLen)}, []int{3, 3, 6}, []int{0, 0, 6}, 7, 6},
		{"byte bound, whole and part", Options{MaxSpoolBytes: int64(7 * recLen)}, []int{2, 3, 2, 4}, []int{0, 0, 0, 4}, 5, 7},
		{"record too large", Options{MaxRecordBytes: recLen - 1}, []int{3}, []int{3}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTest(t, &tc.opts)
			next, total := 0, 0
			for i, n := range tc.batches {
				got := mustAppend(t, db, records(next, n))
				if got != tc.wantDropped[i] {
					t.Fatalf("batch %d dropped %d, want %d", i, got, tc.wantDropped[i])
				}
				next += n
				total += got
			}
			b := mustPeek(t, db, 1000)
			if len(b.Records) != tc.wantRecords || b.First != tc.wantFirst || b.Dropped != int64(total) {
				t.Fatalf("peek: %d records from %d, dropped %d; want %d from %d, dropped %d",
					len(b.Records), b.First, b.Dropped, tc.wantRecords, tc.wantFirst, total)
			}
			st := db.SpoolStats()
			if st.Records != int64(tc.wantRecords) || st.Dropped != int64(total) || st.DroppedTotal != int64(total) {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestSpoolDroppedCounterPersists(t *testing.T) {
	opts := &Options{MaxSpoolRecords: 3}
	db, _ := openTest(t, opts)
	mustAppend(t, db, records(0, 5)) // drops 2
	db = reopen(t, db, opts)
	if st := db.SpoolStats(); st.Dropped != 2 || st.DroppedTotal != 2 || st.Records != 3 {
		t.Fatalf("stats after reopen = %+v", st)
	}
	b := mustPeek(t, db, 1)
	mustAppend(t, db, records(5, 1)) // drops 1 more after the peek
	if err := db.AckReports(b); err != nil {
		t.Fatal(err)
	}
	// Only what the batch reported is marked reported.
	db = reopen(t, db, opts)
	if st := db.SpoolStats(); st.Dropped != 1 || st.DroppedTotal != 3 {
		t.Fatalf("stats after ack = %+v, want dropped 1 of 3", st)
	}
	// Drops can be reported with an empty spool.
	for {
		b := mustPeek(t, db, 100)
		if err := db.AckReports(b); err != nil {
			t.Fatal(err)
		}
		if len(b.Records) == 0 {
			break
		}
	}
	if st := db.SpoolStats(); st.Dropped != 0 || st.DroppedTotal != 3 || st.Records != 0 {
		t.Fatalf("final stats = %+v", st)
	}
}

func TestSpoolEmptyBatchWithDrops(t *testing.T) {
	rec := records(0, 1)[0]
	db, _ := openTest(t, &Options{MaxRecordBytes: len(rec) - 1})
	mustAppend(t, db, [][]byte{rec})
	b := mustPeek(t, db, 10)
	if len(b.Records) != 0 || b.Dropped != 1 || b.ID == "" {
		t.Fatalf("peek = %+v; want no records, 1 dropped, an id", b)
	}
	if err := db.AckReports(b); err != nil {
		t.Fatal(err)
	}
	if b := mustPeek(t, db, 10); b.ID != "" || b.Dropped != 0 {
		t.Fatalf("after ack: %+v", b)
	}
}

// TestSpoolConcurrent appends from several goroutines while an uploader
// peeks and acks: every record is either acked once or still spooled, and
// the in-memory stats match the file.
func TestSpoolConcurrent(t *testing.T) {
	db, _ := openTest(t, nil)
	const writers, batches, size = 4, 25, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				if _, err := db.AppendReports(records((w*batches+b)*size, size)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	acked := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			b, err := db.PeekReports(15)
			if err == nil {
				err = db.AckReports(b)
			}
			if err != nil {
				errs <- err
				return
			}
			for _, r := range b.Records {
				acked[string(r)]++
			}
		}
	}()
	wg.Wait()
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	left := mustPeek(t, db, 10_000)
	for _, r := range left.Records {
		acked[string(r)]++
	}
	for r, n := range acked {
		if n != 1 {
			t.Fatalf("record %s seen %d times", r, n)
		}
	}
	if len(acked) != writers*batches*size {
		t.Fatalf("%d distinct records, want %d", len(acked), writers*batches*size)
	}
	if st := db.SpoolStats(); st.Records != int64(len(left.Records)) {
		t.Fatalf("stats say %d records, the spool has %d", st.Records, len(left.Records))
	}
}
