package persist

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SaveCounters replaces the counters stored under name (the quota policy's
// windows) with m, in one transaction: a key not in m is removed. An empty
// name is an error.
func (db *DB) SaveCounters(name string, m map[string][]byte) error {
	if name == "" {
		return errors.New("save counters: empty bucket name")
	}
	err := db.update(func(tx *bolt.Tx) error {
		parent := tx.Bucket(bucketCounters)
		if err := parent.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		b, err := parent.CreateBucket([]byte(name))
		if err != nil {
			return err
		}
		for k, v := range m {
			if err := b.Put([]byte(k), v); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save counters %s: %w", name, classify(err))
	}
	return nil
}

// LoadCounters returns the counters stored under name; an empty, non-nil
// map when there are none.
func (db *DB) LoadCounters(name string) (map[string][]byte, error) {
	m := map[string][]byte{}
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters).Bucket([]byte(name))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			m[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load counters %s: %w", name, err)
	}
	return m, nil
}
