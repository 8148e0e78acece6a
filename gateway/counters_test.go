package gateway

import (
	"errors"
	"io"
	"log/slog"
	"testing"
)

// countingStore is an in-memory CounterStore that counts writes, to check
// that idle periods write nothing (persist.DB cannot tell us that).
type countingStore struct {
	saves int
	fail  bool
	m     map[string][]byte
}

func (s *countingStore) SaveCounters(_ string, m map[string][]byte) error {
	if s.fail {
		return errors.New("disk full")
	}
	s.saves++
	s.m = m
	return nil
}

func (s *countingStore) LoadCounters(string) (map[string][]byte, error) { return s.m, nil }

func TestQuotaSavesOnlyWhenChanged(t *testing.T) {
	cs := &countingStore{}
	q, err := newQuotaStore(cs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b := q.bucket("api:flows[0].request[0]", true)
	steps := []struct {
		take      bool
		fail      bool
		wantSaves int
		wantErr   bool
	}{
		{false, false, 0, false}, // nothing counted: no write
		{true, false, 1, false},
		{false, false, 1, false}, // idle again
		{true, true, 1, true},    // the write fails...
		{false, false, 2, false}, // ...and is retried
	}
	for i, st := range steps {
		if st.take {
			b.take("sub", 1000, 60000, 10)
		}
		cs.fail = st.fail
		err := q.save()
		if (err != nil) != st.wantErr || cs.saves != st.wantSaves {
			t.Fatalf("step %d: err %v, saves %d, want %d", i, err, cs.saves, st.wantSaves)
		}
	}
	q2, err := newQuotaStore(cs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if count, _, _ := q2.bucket("api:flows[0].request[0]", true).take("sub", 2000, 60000, 10); count != 3 {
		t.Fatalf("after reload the count is %d, want 3", count)
	}
}
