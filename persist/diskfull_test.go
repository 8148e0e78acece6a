//go:build linux

package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// smallFS mounts a 2 MiB tmpfs (the test runs as root, as CI does) and
// unmounts it when the test ends.
func smallFS(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount a small tmpfs (the disk-full test needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDiskFull(t *testing.T) {
	dir := smallFS(t)
	db, err := Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := db.SaveSnapshot(testSnapshot(3, 5)); err != nil {
		t.Fatal(err)
	}
	next := 0
	appendBatch := func() error {
		recs := make([][]byte, 100)
		for i := range recs {
			recs[i] = fmt.Appendf(nil, `{"n":%d,"pad":"%0380d"}`, next+i, 0)
		}
		_, err := db.AppendReports(recs)
		if err == nil {
			next += len(recs)
		}
		return err
	}
	for range 5 {
		if err := appendBatch(); err != nil {
			t.Fatal(err)
		}
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)

	// Appends fail with a countable error once bbolt needs new space.
	failures := 0
	for range 50 {
		err := appendBatch()
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("append on a full disk: %v, want ErrNoSpace", err)
		}
		if failures == 0 {
			t.Logf("first failure: %v", err)
		}
		failures++
	}
	if failures == 0 {
		t.Fatal("no append failed on a full disk")
	}
	checkSpool(t, db, next)
	// A restart on the full disk works: Open writes nothing to a complete file.
	db = reopen(t, db, nil)
	if err := appendBatch(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("append after a restart on the full disk: %v, want ErrNoSpace", err)
	}
	if s, err := db.LoadSnapshot(); err != nil || s.Revision != 3 {
		t.Fatalf("snapshot on a full disk: %v, %v", s, err)
	}

	// Space returns: appends succeed again and nothing was lost.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := appendBatch(); err != nil {
			t.Fatalf("append after space returned: %v", err)
		}
	}
	db = reopen(t, db, nil)
	if msg := db.Recovered(); msg != "" {
		t.Fatalf("the file was damaged: %s", msg)
	}
	if err := checkConsistency(db.bolt); err != nil {
		t.Fatal(err)
	}
	checkSpool(t, db, next)
	t.Logf("%d of 50 appends failed on the full disk; %d records kept", failures, next)
}

// checkSpool checks that the spool holds exactly records 0..n-1, in order.
func checkSpool(t *testing.T, db *DB, n int) {
	t.Helper()
	nums := spooledNumbers(t, db)
	if len(nums) != n {
		t.Fatalf("spool holds %d records, want %d", len(nums), n)
	}
	for i := range n {
		if !nums[i] {
			t.Fatalf("record %d is missing", i)
		}
	}
	if st := db.SpoolStats(); st.Records != int64(n) {
		t.Fatalf("stats = %+v, want %d records", st, n)
	}
}
