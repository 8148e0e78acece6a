package persist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDamageFoundAtRunTime: a panic inside a transaction (what bbolt does
// on some damaged pages) becomes ErrDamaged, the gateway's process goes on,
// and the next Open sets the file aside.
func TestDamageFoundAtRunTime(t *testing.T) {
	db, path := openTest(t, nil)
	mustAppend(t, db, records(0, 3))
	err := db.update(func(*bolt.Tx) error { panic("page 4 already freed") })
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "page 4 already freed") {
		t.Fatalf("update that panicked = %v, want ErrDamaged", err)
	}
	// The transaction was rolled back: the writer lock is free again.
	mustAppend(t, db, records(3, 1))
	db = reopen(t, db, nil)
	msg := db.Recovered()
	if !strings.Contains(msg, "earlier run found it damaged: page 4 already freed") {
		t.Fatalf("Recovered() = %q", msg)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("set-aside files: %v", aside)
	}
	if _, err := os.Stat(path + damagedSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("damaged marker still there: %v", err)
	}
	if st := db.SpoolStats(); st.Records != 0 {
		t.Fatalf("fresh state has %d records", st.Records)
	}
	db = reopen(t, db, nil)
	if msg := db.Recovered(); msg != "" {
		t.Fatalf("second reopen: Recovered() = %q", msg)
	}
}
