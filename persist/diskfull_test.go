package persist

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

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

// TestDiskFull fills a small tmpfs under the state file. Where no tmpfs can
// be mounted (no root, no CAP_SYS_ADMIN) it says so and runs the
// file-size-limit variant instead.
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := mountSmallFS(dir); err != nil {
		t.Logf("cannot mount a 2 MiB tmpfs (%v): using RLIMIT_FSIZE in a child process instead", err)
		runFileSizeChild(t)
		return
	}
	t.Cleanup(func() {
		if err := unmountSmallFS(dir); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	db := openPath(t, filepath.Join(dir, "state.db"), nil)
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

// TestDiskFullFileSizeLimit runs the disk-full scenario with a file size
// limit (RLIMIT_FSIZE) instead of a full filesystem, in a child process so
// the limit touches nothing else.
func TestDiskFullFileSizeLimit(t *testing.T) {
	runFileSizeChild(t)
}

const fsizeChildEnv = "PERSIST_FSIZE_CHILD" // directory of the state file

// runFileSizeChild runs fileSizeChild in a child process, then checks the
// file it left.
func runFileSizeChild(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("file-size-limit child: %v\n%s", err, out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
	_, kept, ok := strings.Cut(strings.TrimSpace(string(out)), "kept ")
	n, err := strconv.Atoi(kept)
	if !ok || err != nil {
		t.Fatalf("child output %q: want \"... kept N\"", out)
	}
	db := openPath(t, filepath.Join(dir, "state.db"), nil)
	if msg := db.Recovered(); msg != "" {
		t.Fatalf("the file was damaged: %s", msg)
	}
	if err := checkConsistency(db.bolt); err != nil {
		t.Fatal(err)
	}
	checkSpool(t, db, n)
}

// fileSizeChild limits the state file's size, appends until that fails,
// lifts the limit and appends again. It prints how many failed and how
// many records were kept.
func fileSizeChild(dir string) error {
	signal.Ignore(syscall.SIGXFSZ) // get EFBIG instead of dying
	db, err := Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		return err
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
			return err
		}
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return err
	}
	info, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	limit := old
	limit.Cur = uint64(info.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		return err
	}
	failures := 0
	for range 50 {
		if err := appendBatch(); err != nil {
			if !errors.Is(err, ErrNoSpace) {
				return fmt.Errorf("append at the size limit: %w, want ErrNoSpace", err)
			}
			failures++
		}
	}
	if failures == 0 {
		return errors.New("no append failed at the size limit")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return err
	}
	for range 3 {
		if err := appendBatch(); err != nil {
			return fmt.Errorf("append after the limit was lifted: %w", err)
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Printf("%d of 50 appends failed at the size limit; kept %d\n", failures, next)
	return nil
}
