package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Credential kinds kept in the state.
const (
	CredentialCloudToken = "cloud-token"
	CredentialLicense    = "license"
)

// ErrNoCredential is returned by LoadCredential when none of that kind is
// stored.
var ErrNoCredential = errors.New("persist: no credential of that kind")

// Stored value: issuedAt unix ns (int64, big-endian) | text.
const credentialHeaderSize = 8

func checkKind(kind string) error {
	if kind != CredentialCloudToken && kind != CredentialLicense {
		return fmt.Errorf("credential kind %q: want %q or %q", kind, CredentialCloudToken, CredentialLicense)
	}
	return nil
}

// SaveCredential keeps a copy of a provisioning credential (the Cloud Token
// or the license, as text) so the gateway restarts without its provisioning
// source. It replaces the stored one only when issuedAt is strictly newer;
// otherwise it keeps the stored one and returns replaced == false. The
// caller verifies the credential before saving it.
func (db *DB) SaveCredential(kind, text string, issuedAt time.Time) (replaced bool, err error) {
	if err := checkKind(kind); err != nil {
		return false, fmt.Errorf("save credential: %w", err)
	}
	val := make([]byte, credentialHeaderSize, credentialHeaderSize+len(text))
	binary.BigEndian.PutUint64(val, uint64(issuedAt.UnixNano()))
	val = append(val, text...)
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCredentials)
		if cur := b.Get([]byte(kind)); len(cur) >= credentialHeaderSize {
			if int64(binary.BigEndian.Uint64(cur)) >= issuedAt.UnixNano() {
				return nil
			}
		}
		replaced = true
		return b.Put([]byte(kind), val)
	})
	if err != nil {
		return false, fmt.Errorf("save credential %s: %w", kind, classify(err))
	}
	return replaced, nil
}

// LoadCredential returns the stored credential of kind, or ErrNoCredential.
func (db *DB) LoadCredential(kind string) (text string, issuedAt time.Time, err error) {
	if err := checkKind(kind); err != nil {
		return "", time.Time{}, fmt.Errorf("load credential: %w", err)
	}
	err = db.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCredentials).Get([]byte(kind))
		if len(cur) < credentialHeaderSize {
			return ErrNoCredential
		}
		issuedAt = time.Unix(0, int64(binary.BigEndian.Uint64(cur)))
		text = string(cur[credentialHeaderSize:])
		return nil
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("load credential %s: %w", kind, err)
	}
	return text, issuedAt, nil
}
