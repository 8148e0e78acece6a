package persist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	bolt "go.etcd.io/bbolt"
)

func testSnapshot(rev int64, apis int) *Snapshot {
	s := &Snapshot{Revision: rev, Source: "gate", Organization: "acme", Environment: "prod",
		SavedAt: time.Unix(1_700_000_000, 0)}
	for i := range apis {
		s.APIs = append(s.APIs, json.RawMessage(apiJSON(i)))
	}
	s.Subscriptions = []wire.Subscription{{ID: "sub-1", API: "api-0", Plan: "plan-key", Application: "app-1",
		Key: "k-123", Status: wire.SubAccepted}}
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	db, _ := openTest(t, nil)
	if _, err := db.LoadSnapshot(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("empty LoadSnapshot: got %v, want ErrNoSnapshot", err)
	}
	want := testSnapshot(7, 3)
	if err := db.SaveSnapshot(want); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, nil)
	got, err := db.LoadSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	want.Format = SnapshotFormat
	if !snapshotsEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestSnapshotSavedAtDefault(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 5)}
	db, _ := openTest(t, &Options{Now: clock.Now})
	s := testSnapshot(1, 1)
	s.SavedAt = time.Time{}
	if err := db.SaveSnapshot(s); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !got.SavedAt.Equal(clock.t) {
		t.Fatalf("SavedAt = %v, want %v", got.SavedAt, clock.t)
	}
}

func TestSnapshotRejectsOtherFormat(t *testing.T) {
	db, _ := openTest(t, nil)
	s := testSnapshot(1, 1)
	s.Format = SnapshotFormat + 1
	if err := db.SaveSnapshot(s); err == nil {
		t.Fatal("SaveSnapshot of an unknown format succeeded")
	}
}

// damage rewrites the stored record under key with f applied.
func damage(t *testing.T, db *DB, key []byte, f func(rec []byte)) {
	t.Helper()
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshot)
		rec := bytes.Clone(b.Get(key))
		if rec == nil {
			return fmt.Errorf("no record %s", key)
		}
		f(rec)
		return b.Put(key, rec)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	flipPayload := func(rec []byte) { rec[len(rec)-10] ^= 0x20 }
	flipRevision := func(rec []byte) { rec[17] ^= 0x01 }
	flipSum := func(rec []byte) { rec[30] ^= 0xff }
	unknownFormat := func(rec []byte) { rec[9] = 9 }
	badMagic := func(rec []byte) { rec[0] = 'X' }
	cases := []struct {
		name     string
		previous bool // a previous good snapshot exists
		f        func([]byte)
		wantMsg  string
	}{
		{"payload flipped, fallback", true, flipPayload, "checksum mismatch"},
		{"revision flipped, fallback", true, flipRevision, "checksum mismatch"},
		{"checksum flipped, no previous", false, flipSum, "checksum mismatch"},
		{"unknown format, fallback", true, unknownFormat, "unknown format 9"},
		{"unknown format, no previous", false, unknownFormat, "unknown format 9"},
		{"bad magic, fallback", true, badMagic, "not a snapshot record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTest(t, nil)
			if tc.previous {
				if err := db.SaveSnapshot(testSnapshot(4, 2)); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.SaveSnapshot(testSnapshot(5, 2)); err != nil {
				t.Fatal(err)
			}
			damage(t, db, keyLatest, tc.f)
			got, err := db.LoadSnapshot()
			if !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("LoadSnapshot error = %v, want ErrCorruptSnapshot with %q", err, tc.wantMsg)
			}
			if !tc.previous {
				if got != nil {
					t.Fatalf("got snapshot %d with no good one stored", got.Revision)
				}
				if _, err := db.LoadSnapshot(); !errors.Is(err, ErrNoSnapshot) {
					t.Fatalf("second LoadSnapshot = %v, want ErrNoSnapshot", err)
				}
				return
			}
			if got == nil || got.Revision != 4 {
				t.Fatalf("fallback snapshot = %+v, want revision 4", got)
			}
			// The fallback was promoted: the next load is clean.
			again, err := db.LoadSnapshot()
			if err != nil || again.Revision != 4 {
				t.Fatalf("second LoadSnapshot = %v, %v; want revision 4, nil", again, err)
			}
		})
	}
}

func TestSnapshotSaveKeepsGoodPrevious(t *testing.T) {
	db, _ := openTest(t, nil)
	for rev := int64(1); rev <= 2; rev++ {
		if err := db.SaveSnapshot(testSnapshot(rev, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// A damaged latest must not push the good previous out.
	damage(t, db, keyLatest, func(rec []byte) { rec[len(rec)-3] ^= 1 })
	if err := db.SaveSnapshot(testSnapshot(3, 1)); err != nil {
		t.Fatal(err)
	}
	damage(t, db, keyLatest, func(rec []byte) { rec[len(rec)-3] ^= 1 })
	got, err := db.LoadSnapshot()
	if !errors.Is(err, ErrCorruptSnapshot) || got == nil || got.Revision != 1 {
		t.Fatalf("LoadSnapshot = %v, %v; want revision 1 and ErrCorruptSnapshot", got, err)
	}
}

func snapshotsEqual(a, b *Snapshot) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// FuzzDecodeSnapshot feeds arbitrary stored bytes to the decoder: it must
// return a snapshot or an ErrCorruptSnapshot error, never panic.
func FuzzDecodeSnapshot(f *testing.F) {
	good, err := encodeSnapshot(testSnapshot(3, 2), time.Unix(1, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:snapshotHeaderSize])
	f.Add([]byte("EGSNAP"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkDecode(t, rec)
		if len(rec) >= snapshotHeaderSize {
			// Fix the checksum so the payload decoder sees the input too.
			sum := snapshotSum(rec)
			copy(rec[26:], sum[:])
			checkDecode(t, rec)
		}
	})
}

func checkDecode(t *testing.T, rec []byte) {
	t.Helper()
	s, err := decodeSnapshot(rec)
	if err != nil && !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("error %v does not wrap ErrCorruptSnapshot", err)
	}
	if (s == nil) == (err == nil) {
		t.Fatalf("got snapshot %v and error %v", s, err)
	}
}

func TestSnapshotRejectsInvalidAPI(t *testing.T) {
	db, _ := openTest(t, nil)
	if err := db.SaveSnapshot(testSnapshot(1, 2)); err != nil {
		t.Fatal(err)
	}
	bad := testSnapshot(2, 2)
	bad.APIs[1] = json.RawMessage(`{"id": "api-1"`)
	if err := db.SaveSnapshot(bad); err == nil || !strings.Contains(err.Error(), "API 1 is not valid JSON") {
		t.Fatalf("SaveSnapshot of invalid JSON = %v", err)
	}
	if s, err := db.LoadSnapshot(); err != nil || s.Revision != 1 {
		t.Fatalf("after a refused save: %v, %v; want revision 1 kept", s, err)
	}
}

func TestSnapshotAPIsDoNotAlias(t *testing.T) {
	db, _ := openTest(t, nil)
	if err := db.SaveSnapshot(testSnapshot(1, 2)); err != nil {
		t.Fatal(err)
	}
	s, err := db.LoadSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	second := string(s.APIs[1])
	s.APIs[0] = append(s.APIs[0], "XXXXXXXX"...)
	if string(s.APIs[1]) != second {
		t.Fatal("appending to one API overwrote the next")
	}
}
