package persist

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	bolt "go.etcd.io/bbolt"
)

// SnapshotFormat is the snapshot format this package writes and reads.
const SnapshotFormat = 1

// Sentinel errors of LoadSnapshot.
var (
	// ErrNoSnapshot means no snapshot was ever saved (or all were set aside).
	ErrNoSnapshot = errors.New("persist: no snapshot")
	// ErrCorruptSnapshot means the stored snapshot failed its checksum or
	// has an unknown format; the error says which.
	ErrCorruptSnapshot = errors.New("persist: corrupt snapshot")
)

// Snapshot is the last good configuration the gateway applied.
type Snapshot struct {
	// Format is SnapshotFormat; SaveSnapshot fills in zero.
	Format       int
	Revision     int64
	Source       string // "gate" or "local"
	Organization string
	Environment  string
	// APIs are Gravitee v4 definitions as received (validated by the caller).
	APIs          []json.RawMessage
	Subscriptions []wire.Subscription
	// SavedAt is when it was saved; SaveSnapshot fills in zero with now.
	SavedAt time.Time
}

// Snapshot bucket keys.
var (
	keyLatest   = []byte("latest")
	keyPrevious = []byte("previous")
	keySetAside = []byte("set-aside") // the last snapshot found corrupt, kept for inspection
)

// snapshotMagic opens every stored snapshot record.
var snapshotMagic = []byte("EGSNAP")

// Record layout: magic | format u32 | revision i64 | savedAt unix ns i64 |
// sha256 over everything before it and the payload | JSON payload.
const snapshotHeaderSize = 6 + 4 + 8 + 8 + sha256.Size

// snapshotMeta is the JSON part of the payload: everything but the APIs,
// which are stored as they came, each with its length, so that loading
// needs no JSON scan of the definitions (the gateway parses them anyway).
type snapshotMeta struct {
	Source        string              `json:"source"`
	Organization  string              `json:"organization"`
	Environment   string              `json:"environment"`
	Subscriptions []wire.Subscription `json:"subscriptions"`
}

// SaveSnapshot stores s atomically, in one transaction, as the latest
// snapshot; the snapshot it replaces is kept as the previous one (unless it
// is itself damaged), so a latest found corrupt later can fall back. s is
// not modified.
func (db *DB) SaveSnapshot(s *Snapshot) error {
	if s.Format != 0 && s.Format != SnapshotFormat {
		return fmt.Errorf("save snapshot: format %d, this edgegate writes %d", s.Format, SnapshotFormat)
	}
	savedAt := s.SavedAt
	if savedAt.IsZero() {
		savedAt = db.opts.Now()
	}
	rec, err := encodeSnapshot(s, savedAt)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshot)
		if cur := b.Get(keyLatest); cur != nil {
			if _, derr := decodeSnapshot(cur); derr == nil {
				if err := b.Put(keyPrevious, bytes.Clone(cur)); err != nil {
					return err
				}
			}
		}
		return b.Put(keyLatest, rec)
	})
	if err != nil {
		return fmt.Errorf("save snapshot revision %d: %w", s.Revision, classify(err))
	}
	return nil
}

// LoadSnapshot returns the latest snapshot. It returns ErrNoSnapshot when
// there is none. When the latest fails its checksum or has an unknown
// format, LoadSnapshot sets it aside and falls back to the previous one:
// it then returns that snapshot AND an error wrapping ErrCorruptSnapshot
// that says what was wrong, so the caller can serve and flag at once. When
// no good snapshot is left it returns nil and that error.
func (db *DB) LoadSnapshot() (*Snapshot, error) {
	var latest, previous []byte
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshot)
		latest, previous = bytes.Clone(b.Get(keyLatest)), bytes.Clone(b.Get(keyPrevious))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	if latest == nil {
		return nil, ErrNoSnapshot
	}
	s, lerr := decodeSnapshot(latest)
	if lerr == nil {
		return s, nil
	}
	return db.fallBack(latest, previous, lerr)
}

// fallBack sets the damaged latest snapshot aside and promotes the previous
// one, if it is good.
func (db *DB) fallBack(latest, previous []byte, lerr error) (*Snapshot, error) {
	prev, perr := (*Snapshot)(nil), error(ErrNoSnapshot)
	if previous != nil {
		prev, perr = decodeSnapshot(previous)
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshot)
		if err := b.Put(keySetAside, latest); err != nil {
			return err
		}
		if perr != nil {
			return errors.Join(b.Delete(keyLatest), b.Delete(keyPrevious))
		}
		return errors.Join(b.Put(keyLatest, previous), b.Delete(keyPrevious))
	})
	note := ""
	if err != nil {
		note = fmt.Sprintf("; setting it aside failed: %v", err)
	}
	if perr != nil {
		return nil, fmt.Errorf("load snapshot: latest %w; no previous snapshot to fall back to (%v)%s", lerr, perr, note)
	}
	return prev, fmt.Errorf("load snapshot: latest %w; fell back to the previous snapshot, revision %d%s", lerr, prev.Revision, note)
}

// encodeSnapshot builds a record; its payload is: meta JSON length (u32) |
// meta JSON | API count (u32) | per API: length (u32) | definition JSON.
func encodeSnapshot(s *Snapshot, savedAt time.Time) ([]byte, error) {
	meta, err := json.Marshal(snapshotMeta{Source: s.Source, Organization: s.Organization,
		Environment: s.Environment, Subscriptions: s.Subscriptions})
	if err != nil {
		return nil, err
	}
	size := snapshotHeaderSize + 8 + len(meta)
	for i, a := range s.APIs {
		if !json.Valid(a) {
			return nil, fmt.Errorf("API %d is not valid JSON", i)
		}
		size += 4 + len(a)
	}
	rec := make([]byte, snapshotHeaderSize, size)
	copy(rec, snapshotMagic)
	binary.BigEndian.PutUint32(rec[6:], SnapshotFormat)
	binary.BigEndian.PutUint64(rec[10:], uint64(s.Revision))
	binary.BigEndian.PutUint64(rec[18:], uint64(savedAt.UnixNano()))
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(meta)))
	rec = append(rec, meta...)
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(s.APIs)))
	for _, a := range s.APIs {
		rec = binary.BigEndian.AppendUint32(rec, uint32(len(a)))
		rec = append(rec, a...)
	}
	sum := snapshotSum(rec)
	copy(rec[26:], sum[:])
	return rec, nil
}

// snapshotSum hashes the record without its checksum field.
func snapshotSum(rec []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(rec[:26]) // hash.Hash never returns an error
	h.Write(rec[snapshotHeaderSize:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// decodeSnapshot verifies and decodes a stored record; every failure wraps
// ErrCorruptSnapshot.
func decodeSnapshot(rec []byte) (*Snapshot, error) {
	if len(rec) < snapshotHeaderSize || !bytes.Equal(rec[:6], snapshotMagic) {
		return nil, fmt.Errorf("%w: not a snapshot record (%d bytes)", ErrCorruptSnapshot, len(rec))
	}
	if f := binary.BigEndian.Uint32(rec[6:]); f != SnapshotFormat {
		return nil, fmt.Errorf("%w: unknown format %d (this edgegate reads %d)", ErrCorruptSnapshot, f, SnapshotFormat)
	}
	rev := int64(binary.BigEndian.Uint64(rec[10:]))
	if sum := snapshotSum(rec); !bytes.Equal(sum[:], rec[26:snapshotHeaderSize]) {
		return nil, fmt.Errorf("%w: revision %d: checksum mismatch", ErrCorruptSnapshot, rev)
	}
	snap, err := decodePayload(rec[snapshotHeaderSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: revision %d: %v", ErrCorruptSnapshot, rev, err)
	}
	snap.Format, snap.Revision = SnapshotFormat, rev
	snap.SavedAt = time.Unix(0, int64(binary.BigEndian.Uint64(rec[18:])))
	return snap, nil
}

// decodePayload splits a verified payload. The APIs share one buffer, each
// capped so that appending to one cannot overwrite the next.
func decodePayload(p []byte) (*Snapshot, error) {
	meta, p, err := cut(p)
	if err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	var m snapshotMeta
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	if len(p) < 4 {
		return nil, errors.New("API count missing")
	}
	n := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if n > len(p)/4 {
		return nil, fmt.Errorf("%d APIs cannot fit in %d bytes", n, len(p))
	}
	s := &Snapshot{Source: m.Source, Organization: m.Organization, Environment: m.Environment,
		Subscriptions: m.Subscriptions, APIs: make([]json.RawMessage, n)}
	for i := range s.APIs {
		if s.APIs[i], p, err = cut(p); err != nil {
			return nil, fmt.Errorf("API %d: %w", i, err)
		}
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d bytes after the last API", len(p))
	}
	return s, nil
}

// cut splits a length-prefixed field off p.
func cut(p []byte) (field, rest []byte, err error) {
	if len(p) < 4 {
		return nil, nil, errors.New("length missing")
	}
	n := uint64(binary.BigEndian.Uint32(p))
	if n > uint64(len(p)-4) {
		return nil, nil, fmt.Errorf("length %d beyond the end", n)
	}
	end := 4 + int(n)
	return p[4:end:end], p[end:], nil
}
