package persist

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults used when an Options field is zero.
const (
	DefaultMaxSpoolBytes   = 256 << 20
	DefaultMaxSpoolRecords = 1_000_000
	DefaultMaxRecordBytes  = 1 << 20
	DefaultMaxBatchBytes   = 8 << 20
	DefaultTimeout         = 5 * time.Second
	DefaultFileMode        = os.FileMode(0o600)
	DefaultVerifyMaxBytes  = 64 << 20
	DefaultCheckTimeout    = 10 * time.Second
)

// Options configure a DB. A nil *Options, and the zero value of every field,
// mean the documented default.
type Options struct {
	// MaxSpoolBytes bounds the bytes of report records held in the spool
	// (the records themselves, not the file). Zero means 256 MiB.
	MaxSpoolBytes int64
	// MaxSpoolRecords bounds the number of records in the spool. Zero means
	// 1,000,000. Beyond either bound the oldest records are dropped and
	// counted (see AppendReports).
	MaxSpoolRecords int64
	// MaxRecordBytes is the largest single report record accepted; a larger
	// one is dropped and counted. Zero means 1 MiB.
	MaxRecordBytes int
	// MaxBatchBytes bounds the record bytes PeekReports returns in one batch
	// (a batch always holds at least one record). Zero means 8 MiB, half of
	// the gate's limit on a decompressed /reports body.
	MaxBatchBytes int
	// Timeout is how long Open waits for the file lock held by another
	// process before it fails with an error wrapping ErrLocked. Zero means
	// 5 s. Unlike bbolt, there is no way to wait forever.
	Timeout time.Duration
	// FileMode is the mode of a newly created state file. Zero means 0600.
	FileMode os.FileMode
	// VerifyMaxBytes: a state file up to this size is verified (structure
	// walk and bbolt's consistency check) at every Open; a larger one only
	// after an unclean shutdown. Zero means 64 MiB; negative means only
	// after an unclean shutdown.
	VerifyMaxBytes int64
	// CheckTimeout bounds the structure walk of the verification at Open.
	// When it runs out the file is used unverified and Recovered says so.
	// Zero means 10 s.
	CheckTimeout time.Duration
	// Now is the clock (tests). Nil means time.Now.
	Now func() time.Time
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxSpoolBytes <= 0 {
		r.MaxSpoolBytes = DefaultMaxSpoolBytes
	}
	if r.MaxSpoolRecords <= 0 {
		r.MaxSpoolRecords = DefaultMaxSpoolRecords
	}
	if r.MaxRecordBytes <= 0 {
		r.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if r.MaxBatchBytes <= 0 {
		r.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultTimeout
	}
	if r.FileMode == 0 {
		r.FileMode = DefaultFileMode
	}
	if r.VerifyMaxBytes == 0 {
		r.VerifyMaxBytes = DefaultVerifyMaxBytes
	}
	if r.CheckTimeout <= 0 {
		r.CheckTimeout = DefaultCheckTimeout
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

// ErrLocked is returned by Open when another process holds the state file
// and Options.Timeout ran out.
var ErrLocked = errors.New("persist: state file is locked by another process")

// Bucket names. They are part of the file format.
var (
	bucketMeta        = []byte("meta")
	bucketSnapshot    = []byte("snapshot")
	bucketCredentials = []byte("credentials")
	bucketReports     = []byte("report-blocks") // the spool's blocks (format 2)
	bucketSpool       = []byte("spool")
	bucketCounters    = []byte("counters")
)

// keyFileFormat in the meta bucket holds fileFormat, the layout version of
// the buckets: 1 kept one spooled record per key in "reports", 2 keeps
// blocks of records in "report-blocks" (Open migrates a format 1 file).
var keyFileFormat = []byte("format")

const fileFormat = 2

var allBuckets = [][]byte{bucketMeta, bucketSnapshot, bucketCredentials, bucketReports, bucketSpool, bucketCounters}

// DB is the gateway's state file. Its methods are safe for concurrent use.
type DB struct {
	path      string
	opts      Options
	bolt      *bolt.DB
	recovered string

	// spoolMu serialises spool writes so that the in-memory stats follow
	// commits in order; stats is read by SpoolStats without touching disk.
	spoolMu sync.Mutex
	// spoolBuf is AppendReports' scratch space for block values, reused
	// under spoolMu: bbolt holds a value only until the commit.
	spoolBuf []byte
	statsMu  sync.Mutex
	stats    spoolState
	epoch    string

	closeOnce sync.Once
	closeErr  error
}

// Open opens the state file at path, creating it and its directory if
// needed. A file that is not a sound bbolt database is renamed to
// path+".corrupt-<unix seconds>" and a fresh one is created in its place;
// Recovered then says what happened. Open fails only when the file cannot
// be used at all: locked by another process (ErrLocked), no permission, or
// the directory is not writable.
func Open(path string, opts *Options) (*DB, error) {
	o := opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	db := &DB{path: path, opts: o}
	bdb, notes, err := db.openVerified()
	if err != nil {
		return nil, err
	}
	db.bolt = bdb
	db.recovered = notes
	if err := db.init(); err != nil {
		if !contentDamage(err) {
			return nil, errors.Join(err, bdb.Close())
		}
		// The structure passed the checks but the content is not ours (a
		// flipped byte turned a bucket into a value, bookkeeping that does
		// not decode): set this file aside too, and start afresh.
		if cerr := bdb.Close(); cerr != nil {
			return nil, fmt.Errorf("open state: %w", cerr)
		}
		if db.bolt, db.recovered, err = db.replaceDamaged(err); err != nil {
			return nil, err
		}
		if err := db.init(); err != nil {
			return nil, errors.Join(err, db.bolt.Close())
		}
	}
	if err := writeMarker(path); err != nil {
		// Not fatal: the gateway still serves; only a crash before the
		// next clean Close would go unverified.
		db.recovered = strings.TrimPrefix(db.recovered+"; ", "; ") +
			fmt.Sprintf("%v: after a crash the file will be verified only if it is small", err)
	}
	return db, nil
}

// Path returns the path of the state file.
func (db *DB) Path() string { return db.path }

// Recovered returns "" when the state file opened as it was, or a sentence
// saying what was set aside (or left unverified) and why. It does not
// change after Open.
func (db *DB) Recovered() string { return db.recovered }

// Close marks the shutdown as clean and closes the file. It waits for
// running transactions. Calling it again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		err := db.bolt.Close()
		if err == nil {
			err = removeMarker(db.path)
		}
		if err != nil {
			db.closeErr = fmt.Errorf("close state: %w", err)
		}
	})
	return db.closeErr
}

// init loads the spool's bookkeeping, creating the buckets first when the
// file is new. A file that is complete is not written to, so that Open
// works on a full disk.
func (db *DB) init() error {
	err := db.view(db.load)
	if errors.Is(err, errUninitialised) {
		err = db.update(func(tx *bolt.Tx) error {
			if err := create(tx); err != nil {
				return err
			}
			return db.load(tx)
		})
	}
	if err != nil {
		return fmt.Errorf("initialise state: %w", classify(err))
	}
	return db.migrateSpool()
}

var errUninitialised = errors.New("state file not initialised")

// contentDamage reports whether an init error means the file's content is
// damaged, rather than that the disk is full or the file not writable (those
// must not cost the operator the state).
func contentDamage(err error) bool {
	var ns *noSpaceError
	return !errors.As(err, &ns) && !errors.Is(err, fs.ErrPermission) && !errors.Is(err, ErrLocked)
}

func create(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyFileFormat) == nil {
		if err := meta.Put(keyFileFormat, []byte{fileFormat}); err != nil {
			return err
		}
	}
	return newSpoolEpoch(tx)
}

func (db *DB) load(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return errUninitialised
		}
	}
	epoch := tx.Bucket(bucketSpool).Get(keyEpoch)
	if epoch == nil || tx.Bucket(bucketMeta).Get(keyFileFormat) == nil {
		return errUninitialised
	}
	db.epoch = hex.EncodeToString(epoch)
	db.stats = loadSpoolState(tx)
	return nil
}

func (db *DB) boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: db.opts.Timeout, FreelistType: bolt.FreelistMapType}
}
