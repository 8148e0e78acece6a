package persist

import (
	"path/filepath"
	"testing"
	"time"
)

// openTest opens a state file in a fresh temporary directory and closes it
// when the test ends.
func openTest(t *testing.T, opts *Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	return openPath(t, path, opts), path
}

// openPath opens the state file at path and closes it when the test ends.
func openPath(t *testing.T, path string, opts *Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// reopen closes db and opens the same file again.
func reopen(t *testing.T, db *DB, opts *Options) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db2, err := Open(db.Path(), opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() {
		if err := db2.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db2
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }
