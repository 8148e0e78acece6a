package persist

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// filledFile creates a cleanly closed state file with a snapshot and enough
// spooled records for the reports bucket to be a multi-level b-tree: 200
// blocks of 10 small records (each a bucket inlined in the spool's leaves).
func filledFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSnapshot(testSnapshot(9, 20)); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		mustAppend(t, db, records(i*10, 10))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// reportsLayout returns the page size, the reports bucket's root page (a
// branch) and its first child (a leaf), read with bbolt.
func reportsLayout(t *testing.T, path string) (pageSize int64, root, leaf uint64) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := bdb.Close(); err != nil {
			t.Error(err)
		}
	}()
	err = bdb.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucketReports).RootPage())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pageSize = int64(bdb.Info().PageSize)
	hdr := readAt(t, path, int64(root)*pageSize, 32)
	if flags := binary.LittleEndian.Uint16(hdr[8:]); flags != branchFlag {
		t.Fatalf("reports root page %d has flags %#x, want a branch", root, flags)
	}
	return pageSize, root, binary.LittleEndian.Uint64(hdr[pageHeaderSize+8:])
}

func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // read-only
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	return buf
}

func xorAt(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	b := readAt(t, path, off, 1)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b[0] ^ mask}, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDamagedFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string // in Recovered()
	}{
		{"truncated to half", func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"truncated inside the meta pages", func(t *testing.T, path string) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}, "damaged"},
		{"random bytes", func(t *testing.T, path string) {
			buf := make([]byte, 256<<10)
			if _, err := rand.Read(buf); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a bbolt file"},
		{"both meta pages flipped", func(t *testing.T, path string) {
			ps, _, _ := reportsLayout(t, path)
			xorAt(t, path, pageHeaderSize+60, 0xff)
			xorAt(t, path, ps+pageHeaderSize+60, 0xff)
		}, "both meta pages damaged"},
		{"branch page id flipped", func(t *testing.T, path string) {
			ps, root, _ := reportsLayout(t, path)
			xorAt(t, path, int64(root)*ps, 0x01)
		}, "header says page"},
		{"child reference flipped far out", func(t *testing.T, path string) {
			ps, root, _ := reportsLayout(t, path)
			xorAt(t, path, int64(root)*ps+pageHeaderSize+8+5, 0x40) // pgid byte 5 of element 0
		}, "out of range"},
		{"leaf element position flipped", func(t *testing.T, path string) {
			ps, _, leaf := reportsLayout(t, path)
			xorAt(t, path, int64(leaf)*ps+pageHeaderSize+4+2, 0x7f) // pos byte 2 of element 0
		}, "past the page end"},
		{"leaf key flipped", func(t *testing.T, path string) {
			ps, _, leaf := reportsLayout(t, path)
			at := int64(leaf)*ps + pageHeaderSize + elementSize // element 1
			pos := binary.LittleEndian.Uint32(readAt(t, path, at+4, 4))
			xorAt(t, path, at+int64(pos), 0x80) // first key byte: out of order
		}, "consistency check found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filledFile(t)
			tc.damage(t, path)
			db, err := Open(path, nil)
			if err != nil {
				t.Fatalf("Open on a damaged file failed: %v", err)
			}
			t.Cleanup(func() {
				if err := db.Close(); err != nil {
					t.Error(err)
				}
			})
			msg := db.Recovered()
			t.Log(msg)
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, ".corrupt-") {
				t.Fatalf("Recovered() = %q, want it to mention %q and the set-aside file", msg, tc.want)
			}
			aside, err := filepath.Glob(path + ".corrupt-*")
			if err != nil || len(aside) != 1 {
				t.Fatalf("set-aside files %v, %v; want one", aside, err)
			}
			// The fresh state works.
			if _, err := db.LoadSnapshot(); !errors.Is(err, ErrNoSnapshot) {
				t.Fatalf("LoadSnapshot on the fresh state = %v", err)
			}
			mustAppend(t, db, records(0, 3))
			if st := db.SpoolStats(); st.Records != 3 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestOpenCleanFileNotRecovered(t *testing.T) {
	path := filledFile(t)
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	if msg := db.Recovered(); msg != "" {
		t.Fatalf("Recovered() = %q on a sound file", msg)
	}
	if s, err := db.LoadSnapshot(); err != nil || s.Revision != 9 {
		t.Fatalf("LoadSnapshot = %v, %v", s, err)
	}
	if st := db.SpoolStats(); st.Records != 2000 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestVerifyAfterUncleanShutdown: a big file (beyond VerifyMaxBytes) is
// verified only when the open marker says the last run did not close it.
func TestVerifyAfterUncleanShutdown(t *testing.T) {
	for _, unclean := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "unclean"}[unclean], func(t *testing.T) {
			path := filledFile(t)
			ps, _, leaf := reportsLayout(t, path)
			at := int64(leaf)*ps + pageHeaderSize + elementSize
			pos := binary.LittleEndian.Uint32(readAt(t, path, at+4, 4))
			xorAt(t, path, at+int64(pos), 0x80)
			if unclean {
				if err := os.WriteFile(path+markerSuffix, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			db, err := Open(path, &Options{VerifyMaxBytes: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := db.Close(); err != nil {
					t.Error(err)
				}
			})
			if got := db.Recovered() != ""; got != unclean {
				t.Fatalf("Recovered() = %q; want set aside: %v", db.Recovered(), unclean)
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	db, path := openTest(t, nil)
	mustAppend(t, db, records(0, 1))
	start := time.Now()
	_, err := Open(path, &Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v", d)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("a locked file was set aside: %v", aside)
	}
	if st := db.SpoolStats(); st.Records != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestCloseRemovesMarker(t *testing.T) {
	db, path := openTest(t, nil)
	if _, err := os.Stat(path + markerSuffix); err != nil {
		t.Fatalf("no open marker while open: %v", err)
	}
	db = reopen(t, db, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + markerSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after Close: %v", err)
	}
}

// TestVerifyTimeout: a walk that outlasts CheckTimeout leaves the file in
// use, unverified, and says so.
func TestVerifyTimeout(t *testing.T) {
	db, path := openTest(t, nil)
	for i := range 10 {
		recs := make([][]byte, 1000)
		for j := range recs {
			recs[j] = reportRecord(i*1000 + j)
		}
		mustAppend(t, db, recs)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	calls := 0
	ticking := func() time.Time { // every reading of the clock is a second later
		calls++
		return start.Add(time.Duration(calls) * time.Second)
	}
	db2, err := Open(path, &Options{CheckTimeout: time.Millisecond, Now: ticking})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db2.Close(); err != nil {
			t.Error(err)
		}
	}()
	if msg := db2.Recovered(); !strings.Contains(msg, "was not verified") {
		t.Fatalf("Recovered() = %q, want a note that the file was not verified", msg)
	}
	if st := db2.SpoolStats(); st.Records != 10_000 {
		t.Fatalf("stats = %+v, want the 10000 records kept", st)
	}
}

func TestOpenNotAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Open on a directory = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the directory was moved: %v", err)
	}
}
