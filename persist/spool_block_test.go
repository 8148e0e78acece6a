package persist

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// blockFirsts lists the first sequence number of every spool block.
func blockFirsts(t *testing.T, db *DB) []uint64 {
	t.Helper()
	var firsts []uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReports).ForEach(func(k, _ []byte) error {
			firsts = append(firsts, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return firsts
}

// wantRecords checks that batch holds records from..from+n-1 of records().
func wantRecords(t *testing.T, b ReportBatch, from, n int) {
	t.Helper()
	if len(b.Records) != n {
		t.Fatalf("batch of %d records, want %d", len(b.Records), n)
	}
	for i, r := range b.Records {
		if want := records(from+i, 1)[0]; !bytes.Equal(r, want) {
			t.Fatalf("record %d = %s, want %s", i, r, want)
		}
	}
}

// wantBlocks checks the first sequence numbers of the spool's blocks.
func wantBlocks(t *testing.T, db *DB, firsts ...uint64) {
	t.Helper()
	if got := blockFirsts(t, db); !slices.Equal(got, firsts) {
		t.Fatalf("blocks start at %v, want %v", got, firsts)
	}
}

// wantSpooled checks the spool's counters for n records made by records().
func wantSpooled(t *testing.T, db *DB, n int64) {
	t.Helper()
	if st := db.SpoolStats(); st.Records != n || st.Bytes != n*int64(len(records(0, 1)[0])) {
		t.Fatalf("stats = %+v, want %d records", st, n)
	}
}

// TestSpoolBlockLayout: a large append is split into blocks; peeks stop
// inside a block; an ack deletes whole blocks and rewrites a partly acked
// one under its new first sequence number.
func TestSpoolBlockLayout(t *testing.T) {
	db, _ := openTest(t, nil)
	mustAppend(t, db, records(0, 600))
	mustAppend(t, db, records(600, 10))
	wantBlocks(t, db, 1, 257, 513, 601)
	b := mustPeek(t, db, 300)
	if b.First != 1 || b.Last != 300 {
		t.Fatalf("peek covers %d-%d, want 1-300", b.First, b.Last)
	}
	wantRecords(t, b, 0, 300)
	for range 2 { // acking twice is harmless
		if err := db.AckReports(b); err != nil {
			t.Fatal(err)
		}
		wantBlocks(t, db, 301, 513, 601)
	}
	rest := mustPeek(t, db, 1000)
	if rest.First != 301 || rest.Last != 610 {
		t.Fatalf("rest covers %d-%d, want 301-610", rest.First, rest.Last)
	}
	wantRecords(t, rest, 300, 310)
	wantSpooled(t, db, 310)
	// Records handed out do not share capacity: appending to one leaves
	// the next intact.
	_ = append(rest.Records[0], "xxxxxxxx"...)
	wantRecords(t, rest, 300, 310)
}

// TestSpoolBlockBytesBound: a block holds at most maxBlockBytes of
// records; a larger record gets a block of its own.
func TestSpoolBlockBytesBound(t *testing.T) {
	big := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	db, _ := openTest(t, nil)
	recs := [][]byte{big(100<<10, 'a'), big(100<<10, 'b'), big(100<<10, 'c'), big(300<<10, 'd'), big(10, 'e')}
	mustAppend(t, db, recs)
	wantBlocks(t, db, 1, 3, 4, 5)
	b := mustPeek(t, db, 10)
	if len(b.Records) != len(recs) {
		t.Fatalf("%d records, want %d", len(b.Records), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(b.Records[i], recs[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// TestSpoolEvictInsideBlock: dropping fewer records than a block holds
// rewrites the block under its new first sequence number, and the counts
// stay exact.
func TestSpoolEvictInsideBlock(t *testing.T) {
	db, _ := openTest(t, &Options{MaxSpoolRecords: 300})
	mustAppend(t, db, records(0, 300))
	if got := mustAppend(t, db, records(300, 10)); got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
	wantBlocks(t, db, 11, 257, 301)
	if got := mustAppend(t, db, records(310, 260)); got != 260 {
		t.Fatalf("dropped %d, want 260", got)
	}
	wantBlocks(t, db, 271, 301, 311, 567)
	b := mustPeek(t, db, 1000)
	if b.First != 271 || b.Dropped != 270 {
		t.Fatalf("peek from %d, dropped %d; want 271, 270", b.First, b.Dropped)
	}
	wantRecords(t, b, 270, 300)
	wantSpooled(t, db, 300)
}

// damageBlock replaces the block starting at first: flip XORs a byte of
// its value, or plain stores a plain value in place of its bucket.
func damageBlock(t *testing.T, db *DB, first uint64, plain bool) {
	t.Helper()
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		if plain {
			if err := b.DeleteBucket(seqKey(first)); err != nil {
				return err
			}
			return b.Put(seqKey(first), []byte("not a block"))
		}
		child := b.Bucket(seqKey(first))
		v := bytes.Clone(child.Get(blockValueKey))
		v[len(v)-3] ^= 0x20
		return child.Put(blockValueKey, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSpoolDamagedBlock: a block that fails its checksum (or is not a
// block at all) does not stop the spool: its records are skipped, the
// batch that covers it deletes it, and eviction drops it whole.
func TestSpoolDamagedBlock(t *testing.T) {
	cases := []struct {
		name       string
		block      uint64 // first sequence of the damaged block (blocks: 1, 11, 21)
		plain      bool
		wantFrom   []int // records() numbers of what the peek returns, per good block
		wantFirst  uint64
		wantLast   uint64
		wantBefore int64 // stats before the ack (damaged blocks estimated)
	}{
		{"middle block flipped", 11, false, []int{0, 20}, 1, 30, 30},
		{"first block flipped", 1, false, []int{10, 20}, 1, 30, 30},
		{"last block flipped", 21, false, []int{0, 10}, 1, 30, 30},
		{"plain value instead of a block", 11, true, []int{0, 20}, 1, 30, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTest(t, nil)
			for i := range 3 {
				mustAppend(t, db, records(i*10, 10))
			}
			damageBlock(t, db, tc.block, tc.plain)
			b := mustPeek(t, db, 100)
			if b.First != tc.wantFirst || b.Last != tc.wantLast || len(b.Records) != 10*len(tc.wantFrom) {
				t.Fatalf("peek %d-%d with %d records; want %d-%d with %d", b.First, b.Last, len(b.Records),
					tc.wantFirst, tc.wantLast, 10*len(tc.wantFrom))
			}
			for i, from := range tc.wantFrom {
				wantRecords(t, ReportBatch{Records: b.Records[i*10 : i*10+10]}, from, 10)
			}
			if err := db.AckReports(b); err != nil {
				t.Fatal(err)
			}
			if got := blockFirsts(t, db); len(got) != 0 {
				t.Fatalf("blocks left after the ack: %v", got)
			}
			if st := db.SpoolStats(); st.Records != 0 || st.Bytes != 0 {
				t.Fatalf("stats after the ack = %+v", st)
			}
			mustAppend(t, db, records(30, 1))
			if b := mustPeek(t, db, 10); b.First != 31 {
				t.Fatalf("next record has sequence %d, want 31", b.First)
			}
		})
	}
	for _, dc := range []struct {
		name string
		at   func(v []byte) int // the byte to flip
	}{
		{"record flipped", func(v []byte) int { return len(v) - 3 }},
		{"count flipped", func([]byte) int { return 14 }},                         // 10 records claimed as 42
		{"count lowered", func(v []byte) int { v[14] ^= 0x08 ^ 0x20; return 14 }}, // claimed as 2: must not evict more
		{"length flipped", func([]byte) int { return blockFixedHeader + 1 }},
	} {
		t.Run("evicted whole, "+dc.name, func(t *testing.T) {
			db, _ := openTest(t, &Options{MaxSpoolRecords: 30})
			for i := range 3 {
				mustAppend(t, db, records(i*10, 10))
			}
			flipBlockByte(t, db, 1, dc.at)
			if got := mustAppend(t, db, records(30, 5)); got != 10 {
				t.Fatalf("dropped %d, want the damaged block's 10", got)
			}
			b := mustPeek(t, db, 100)
			if b.First != 11 || b.Last != 35 {
				t.Fatalf("peek %d-%d, want 11-35", b.First, b.Last)
			}
			wantRecords(t, b, 10, 25)
			if err := db.AckReports(b); err != nil {
				t.Fatal(err)
			}
			wantSpooled(t, db, 0)
		})
	}
}

// flipBlockByte XORs byte at(v) of the value of the block starting at
// first.
func flipBlockByte(t *testing.T, db *DB, first uint64, at func(v []byte) int) {
	t.Helper()
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		child := tx.Bucket(bucketReports).Bucket(seqKey(first))
		v := bytes.Clone(child.Get(blockValueKey))
		v[at(v)] ^= 0x20
		return child.Put(blockValueKey, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSpoolAckWholeBlocks: an ack deletes the blocks inside its range
// without decoding them, and a damaged block inside the range (even one
// whose header is damaged) is deleted whole; the counters stay exact.
// Blocks start at 1, 11, 21 and 31; the peek takes 25 records.
func TestSpoolAckWholeBlocks(t *testing.T) {
	cases := []struct {
		name      string
		at        func(v []byte) int // byte of block 11 to flip; nil: none
		wantBlock uint64             // the first block left
		wantFrom  int                // records() number of the first record left
	}{
		{"intact", nil, 26, 25},
		{"record flipped", func(v []byte) int { return len(v) - 1 }, 36, 35},
		{"count flipped", func([]byte) int { return 13 }, 36, 35},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTest(t, nil)
			for i := range 4 {
				mustAppend(t, db, records(i*10, 10))
			}
			if tc.at != nil {
				flipBlockByte(t, db, 11, tc.at)
			}
			if err := db.AckReports(mustPeek(t, db, 25)); err != nil {
				t.Fatal(err)
			}
			left := 40 - tc.wantFrom
			if blocks := blockFirsts(t, db); len(blocks) == 0 || blocks[0] != tc.wantBlock {
				t.Fatalf("blocks start at %v, want %d first", blocks, tc.wantBlock)
			}
			wantSpooled(t, db, int64(left))
			wantRecords(t, mustPeek(t, db, 100), tc.wantFrom, left)
		})
	}
}

// FuzzDecodeBlock: any value decodes to an error or to a block that
// encodes back to the same bytes; it never panics.
func FuzzDecodeBlock(f *testing.F) {
	f.Add(encodeBlock(1_700_000_000_000_000_000, records(0, 3)))
	f.Add(encodeBlock(0, [][]byte{{}}))
	f.Add(encodeBlock(5, [][]byte{[]byte("x"), {}, []byte("yz")}))
	f.Add([]byte{blockVersion, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		blk, err := decodeBlock(seqKey(7), v)
		if err != nil {
			return
		}
		n := int(blk.count())
		if got := blk.encodeRange(0, n); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded block differs:\n%x\n%x", got, v)
		}
		var size int64
		for i := range n {
			size += int64(len(blk.rec(i)))
		}
		if size != blk.recBytes(0, n) {
			t.Fatalf("record sizes %d, recBytes %d", size, blk.recBytes(0, n))
		}
	})
}
