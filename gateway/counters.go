package gateway

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// maxKeysPerBucket bounds the identities (subscriptions or client IPs) one
// rate-limit, quota or spike-arrest step tracks. Beyond it, expired windows
// are swept; if all are live, the bucket is cleared (the policy fails open
// for one window rather than grow without bound).
const maxKeysPerBucket = 100_000

// window is a fixed-window counter.
type window struct {
	start int64 // Unix ms the window began
	count int64
}

// bucket holds the windows of one policy step, by identity.
type bucket struct {
	mu      sync.Mutex
	windows map[string]*window
	persist bool // quota: saved through the CounterStore
	dirty   bool // counted since the last save
}

// take counts one request for id in the window of length periodMs
// containing now, and returns the count (including this one) and the
// window's end. It refuses (ok false, count unchanged) past limit.
func (b *bucket) take(id string, now, periodMs, limit int64) (count, reset int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.windows[id]
	if w == nil {
		if len(b.windows) >= maxKeysPerBucket {
			b.sweep(now, periodMs)
		}
		w = &window{start: now}
		b.windows[strings.Clone(id)] = w
	}
	if now >= w.start+periodMs {
		w.start, w.count = now, 0
	}
	if w.count >= limit {
		return w.count, w.start + periodMs, false
	}
	w.count++
	b.dirty = true
	return w.count, w.start + periodMs, true
}

func (b *bucket) sweep(now, periodMs int64) {
	for k, w := range b.windows {
		if now >= w.start+periodMs {
			delete(b.windows, k)
		}
	}
	if len(b.windows) >= maxKeysPerBucket {
		clear(b.windows)
	}
}

// quotaStore holds every bucket by a name stable across recompiles (API id
// and the step's field path), so counters survive configuration changes,
// and quota buckets survive restarts through the CounterStore.
type quotaStore struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	store   CounterStore
	log     *slog.Logger
}

// counterBucket is the CounterStore bucket quota counters are saved in.
const counterBucket = "quota"

func newQuotaStore(cs CounterStore, log *slog.Logger) (*quotaStore, error) {
	q := &quotaStore{buckets: map[string]*bucket{}, store: cs, log: log}
	if cs == nil {
		return q, nil
	}
	m, err := cs.LoadCounters(counterBucket)
	if err != nil {
		return nil, fmt.Errorf("load quota counters: %w", err)
	}
	for k, v := range m {
		name, id, ok := strings.Cut(k, "\x00")
		if !ok || len(v) != 16 {
			log.Warn("skipping a malformed quota counter", "key", k)
			continue
		}
		b := q.bucket(name, true)
		b.windows[id] = &window{start: int64(binary.BigEndian.Uint64(v)), count: int64(binary.BigEndian.Uint64(v[8:]))}
	}
	return q, nil
}

// bucket returns the named bucket, creating it.
func (q *quotaStore) bucket(name string, persist bool) *bucket {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.buckets[name]
	if b == nil {
		b = &bucket{windows: map[string]*window{}}
		q.buckets[name] = b
	}
	b.persist = b.persist || persist
	return b
}

// save writes the persistent buckets to the CounterStore when any counted
// since the last save (no write, and no fsync on flash, when idle).
func (q *quotaStore) save() error {
	if q.store == nil {
		return nil
	}
	m := map[string][]byte{}
	dirty := false
	q.mu.Lock()
	var saved []*bucket
	for name, b := range q.buckets {
		if !b.persist {
			continue
		}
		b.mu.Lock()
		dirty = dirty || b.dirty
		b.dirty = false // counts from now on make it dirty again
		saved = append(saved, b)
		for id, w := range b.windows {
			v := make([]byte, 16)
			binary.BigEndian.PutUint64(v, uint64(w.start))
			binary.BigEndian.PutUint64(v[8:], uint64(w.count))
			m[name+"\x00"+id] = v
		}
		b.mu.Unlock()
	}
	q.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := q.store.SaveCounters(counterBucket, m); err != nil {
		for _, b := range saved {
			b.mu.Lock()
			b.dirty = true // retry at the next save
			b.mu.Unlock()
		}
		return fmt.Errorf("save quota counters: %w", err)
	}
	return nil
}
