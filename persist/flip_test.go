package persist

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenRandomFlips damages a sound file with random byte flips in its
// data pages, many times: Open must always succeed, and the state it
// returns must be usable without a crash.
func TestOpenRandomFlips(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	openRandomFlips(t, seed)
}

// TestOpenRandomFlipsFoundSeeds replays seeds that once found a bug: 1795703539499328149
// turned a bucket into a plain value, which passed the structural checks and
// then failed Open with bbolt's "incompatible value".
func TestOpenRandomFlipsFoundSeeds(t *testing.T) {
	for _, seed := range []uint64{1795703539499328149} {
		openRandomFlips(t, seed)
	}
}

func openRandomFlips(t *testing.T, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	orig := filledFile(t)
	sound, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	setAside := 0
	for i := range 40 {
		damaged := bytes.Clone(sound)
		for range 1 + rng.IntN(3) {
			at := 2*pageSize + rng.IntN(len(damaged)-2*pageSize)
			damaged[at] ^= byte(1 + rng.IntN(255))
		}
		path := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, nil)
		if err != nil {
			t.Fatalf("flip %d: Open: %v", i, err)
		}
		if db.Recovered() != "" {
			setAside++
		}
		useState(t, db)
		if err := db.Close(); err != nil {
			t.Fatalf("flip %d: Close: %v", i, err)
		}
	}
	t.Logf("%d of 40 damaged files were set aside; the others verified", setAside)
}

// useState exercises every read and write path once.
func useState(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.LoadSnapshot(); err != nil && !errors.Is(err, ErrNoSnapshot) && !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("LoadSnapshot: %v", err)
	}
	if err := db.SaveSnapshot(testSnapshot(10, 2)); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	mustAppend(t, db, records(0, 50))
	b := mustPeek(t, db, 100)
	if err := db.AckReports(b); err != nil {
		t.Fatalf("AckReports: %v", err)
	}
}

// FuzzWalkFile feeds arbitrary files to the structure walk: it must return,
// never panic.
func FuzzWalkFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.db")
	db, err := Open(path, nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := db.AppendReports(records(0, 200)); err != nil {
		f.Fatal(err)
	}
	if err := db.Close(); err != nil {
		f.Fatal(err)
	}
	sound, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sound)
	f.Add(sound[:8192])
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close() // read-only
		err = walkFile(fh, time.Now().Add(time.Minute), time.Now)
		if errors.Is(err, errWalkTimeout) {
			t.Fatal("walk of a small file timed out")
		}
	})
}
