// Package store is the Cloud Gate's embedded database: organizations,
// environments, API definitions and their deployed state, applications and
// subscriptions, gateways, issued Cloud Tokens and analytics records, in one
// bbolt file (DIR/cloudgate.db). No external server is needed.
//
// # Layout
//
// Top-level buckets (values are JSON unless noted):
//
//	orgs       org id → Org
//	envs       one nested bucket per "org/env":
//	             meta   → Env (revision, event-log floor)
//	             apis   api id → API (imported and deployed definitions)
//	             apps   application id → Application
//	             subs   subscription id → wire.Subscription (+ timestamps)
//	             events 8-byte big-endian revision → Event
//	gateways   gateway id → Gateway (what operators see; updated from /sync and /reports headers)
//	tokens     jti → Token (issued Cloud Tokens and their revocation)
//	analytics  one nested bucket per org, then one per analytics index (ttk):
//	             records 8-byte big-endian Unix ms + request id → analytics.Record
//	             ids     request id → its records key (deduplication)
//	             counts  "*" (all) or "api:<id>" → 8-byte big-endian count
//	batches    org + NUL + batch id → BatchAck (idempotent /reports)
//	batchorder 8-byte sequence → batches key (oldest first, for pruning)
//
// # Revisions and the event log
//
// An environment starts at revision 1 (its creation). Every change that a
// gateway must see (deploy, undeploy, subscription created or changed) increments the environment's revision by one and
// appends one Event. The log keeps the newest Options.EventLogSize events;
// Env.Floor is the newest revision that has been pruned, so a delta is
// possible from any since ≥ Floor and older gateways get a full
// configuration. Watch returns a channel that is closed at the next change,
// which is how a held /sync long poll wakes.
//
// # Caveats
//
// Analytics counts are kept as counters updated in the same transaction as
// the records, so Count is O(1); Records and Stats scan the time-ordered
// records in the asked range.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid input")
	ErrClosed   = errors.New("store closed")
)

// InputError is bad operator or gateway input; Field names the offending
// field. It unwraps to ErrInvalid.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Unwrap returns ErrInvalid.
func (e *InputError) Unwrap() error { return ErrInvalid }

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrNotFound}, args...)...)
}

var (
	bktOrgs       = []byte("orgs")
	bktEnvs       = []byte("envs")
	bktGateways   = []byte("gateways")
	bktTokens     = []byte("tokens")
	bktAnalytics  = []byte("analytics")
	bktBatches    = []byte("batches")
	bktBatchOrder = []byte("batchorder")

	keyMeta   = []byte("meta")
	bktAPIs   = []byte("apis")
	bktApps   = []byte("apps")
	bktSubs   = []byte("subs")
	bktEvents = []byte("events")
)

// Options tunes a Store. A nil *Options means the defaults below.
type Options struct {
	// Timeout is how long Open waits for the file lock; 0 means 5 s.
	Timeout time.Duration
	// EventLogSize is how many events each environment keeps for deltas;
	// 0 means 1000. Older gateways get a full configuration.
	EventLogSize int
	// MaxBatches is how many /reports batch ids are remembered for
	// idempotency; 0 means 100000. The oldest are forgotten first (records
	// stay deduplicated by request id regardless).
	MaxBatches int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store is the Cloud Gate database. Its methods are safe for concurrent use.
type Store struct {
	db      *bolt.DB
	now     func() time.Time
	evLimit int
	maxBat  int

	mu       sync.Mutex
	watchers map[string]chan struct{}
}

// Open opens (creating if needed) the store at path.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.EventLogSize <= 0 {
		o.EventLogSize = 1000
	}
	if o.MaxBatches <= 0 {
		o.MaxBatches = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w: another process (a second `cloudgate serve` with this --data-dir?) holds its lock", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktOrgs, bktEnvs, bktGateways, bktTokens, bktAnalytics, bktBatches, bktBatchOrder} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &Store{db: db, now: o.Now, evLimit: o.EventLogSize, maxBat: o.MaxBatches, watchers: map[string]chan struct{}{}}, nil
}

// Close closes the database and wakes every watcher.
func (s *Store) Close() error {
	s.mu.Lock()
	for k, ch := range s.watchers {
		close(ch)
		delete(s.watchers, k)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// Path is the database file's path.
func (s *Store) Path() string { return s.db.Path() }

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	err := s.db.Update(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return err
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return err
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// checkID validates an organization, environment or other identifier.
func checkID(field, id string) error {
	if !idPattern.MatchString(id) {
		return &InputError{Field: field, Msg: fmt.Sprintf("%q is not a valid id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", id)}
	}
	return nil
}

func envKey(org, env string) []byte { return []byte(org + "/" + env) }

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// Watch returns a channel closed at the next change to the environment's
// configuration (or when the store closes). Take it before reading the
// revision, so that a change between the two is not missed.
func (s *Store) Watch(org, env string) <-chan struct{} {
	k := org + "/" + env
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.watchers[k]
	if !ok {
		ch = make(chan struct{})
		s.watchers[k] = ch
	}
	return ch
}

// notify wakes the watchers of one environment.
func (s *Store) notify(org, env string) {
	k := org + "/" + env
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.watchers[k]; ok {
		close(ch)
		delete(s.watchers, k)
	}
}

// Ping checks that the database answers.
func (s *Store) Ping() error {
	return s.view(func(*bolt.Tx) error { return nil })
}
