package persist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// markerSuffix names the file that exists while the state file is open; if
// Open finds it, the last run did not Close (crash, SIGKILL, power cut).
const markerSuffix = ".open"

// maxCheckErrors is how many consistency problems are kept for the message.
const maxCheckErrors = 3

// openVerified opens the bbolt file, verifying it first when it is small or
// was not closed cleanly, and sets a damaged file aside. notes is what
// Recovered will return.
func (db *DB) openVerified() (*bolt.DB, string, error) {
	if info, err := os.Stat(db.path); err == nil && !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("open state: %s is not a regular file", db.path)
	}
	earlier, err := damageNote(db.path)
	if err != nil {
		return nil, "", fmt.Errorf("open state: %w", err)
	}
	var (
		bdb     *bolt.DB
		notes   string
		problem error = &corruptError{errors.New(earlier)}
	)
	if earlier == "" {
		bdb, notes, problem = db.openChecked(markerExists(db.path))
	}
	if problem == nil {
		return bdb, notes, nil
	}
	if !isCorruption(problem) {
		return nil, "", problem
	}
	return db.replaceDamaged(problem)
}

// replaceDamaged moves the damaged file aside and opens a fresh one in its
// place; notes says what happened and why.
func (db *DB) replaceDamaged(problem error) (*bolt.DB, string, error) {
	aside, err := setAside(db.path, db.opts.Now().Unix())
	if err != nil {
		return nil, "", fmt.Errorf("open state: %s is damaged (%v) and could not be moved aside: %w", db.path, problem, err)
	}
	if err := os.Remove(db.path + damagedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("open state: %w", err)
	}
	bdb, err := db.openBolt()
	if err != nil {
		return nil, "", err
	}
	notes := fmt.Sprintf("state file %s was damaged (%v); it was moved to %s and a new empty state was created", db.path, problem, aside)
	return bdb, notes, nil
}

// openChecked opens the file; when it is small or the last shutdown was
// unclean it first walks its structure and then runs bbolt's consistency
// check. notes says when the walk was cut short by CheckTimeout.
func (db *DB) openChecked(unclean bool) (bdb *bolt.DB, notes string, problem error) {
	check := db.needsVerify(unclean)
	if check {
		err := db.walkLocked()
		switch {
		case errors.Is(err, errWalkTimeout):
			check = false
			notes = fmt.Sprintf("state file %s was not verified: the check did not finish within %v", db.path, db.opts.CheckTimeout)
		case err != nil:
			return nil, "", err
		}
	}
	bdb, err := db.openBolt()
	if err != nil {
		return nil, "", err
	}
	if check {
		if problem := checkConsistency(bdb); problem != nil {
			return nil, "", errors.Join(problem, bdb.Close())
		}
	}
	return bdb, notes, nil
}

// walkLocked walks the file while holding the same lock bbolt takes, so
// that it never reads a file another process is writing. The lock is
// released before bbolt opens the file (flock locks conflict between two
// descriptors of one process too); another process taking it in between
// makes bbolt wait and time out with ErrLocked.
func (db *DB) walkLocked() error {
	f, err := os.Open(db.path)
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	defer f.Close() // read-only; closing also drops the lock
	if err := lockFile(f, db.opts.Timeout); err != nil {
		return fmt.Errorf("open state %s: %w (waited %v)", db.path, err, db.opts.Timeout)
	}
	err = walkFile(f, db.opts.Now().Add(db.opts.CheckTimeout), db.opts.Now)
	if err != nil && !errors.Is(err, errWalkTimeout) {
		return &corruptError{err}
	}
	return err
}

// lockFile takes an exclusive flock on f, polling until timeout.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(lockPoll)
	}
}

// lockPoll is how often lockFile retries, as bbolt does.
const lockPoll = 50 * time.Millisecond

// needsVerify reports whether Open verifies the file: it exists, is not
// empty, and is small or was not closed cleanly.
func (db *DB) needsVerify(unclean bool) bool {
	info, err := os.Stat(db.path)
	if err != nil || info.Size() == 0 {
		return false // absent or new: bbolt initialises it
	}
	small := db.opts.VerifyMaxBytes > 0 && info.Size() <= db.opts.VerifyMaxBytes
	return small || unclean
}

// openBolt opens the file with bbolt. A memory fault or panic inside bbolt
// (which reads the file through mmap) is turned into an error, so that a
// damaged file cannot crash the gateway at start.
func (db *DB) openBolt() (bdb *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, &corruptError{fmt.Errorf("bbolt failed reading the file: %v", r)}
		}
	}()
	bdb, err = bolt.Open(db.path, db.opts.FileMode, db.boltOptions())
	switch {
	case err == nil:
		return bdb, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open state %s: %w (waited %v)", db.path, ErrLocked, db.opts.Timeout)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open state: %w", err)
	}
	return nil, &corruptError{err}
}

// corruptError marks an error that means the file content is bad (as
// opposed to the file being unavailable).
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

func isCorruption(err error) bool {
	var ce *corruptError
	return errors.As(err, &ce)
}

// checkConsistency runs bbolt's tx.Check in a read transaction. It must
// only run on a file whose structure walkFile accepted: bbolt's check runs
// in its own goroutine, where a stray page reference would be a fatal
// memory fault rather than an error.
func checkConsistency(bdb *bolt.DB) error {
	var problems []string
	n := 0
	err := bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() { // drain fully: the checker owns the tx until it closes the channel
			n++
			if len(problems) < maxCheckErrors {
				problems = append(problems, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		return &corruptError{fmt.Errorf("consistency check: %w", err)}
	}
	if n > 0 {
		return &corruptError{fmt.Errorf("consistency check found %d problems: %s", n, strings.Join(problems, "; "))}
	}
	return nil
}

// setAside renames a damaged file out of the way; it never deletes it.
func setAside(path string, unix int64) (string, error) {
	base := fmt.Sprintf("%s.corrupt-%d", path, unix)
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, syncDir(filepath.Dir(path))
}

func markerExists(path string) bool {
	_, err := os.Lstat(path + markerSuffix)
	return err == nil
}

// writeMarker records that the state file is in use; see markerSuffix.
func writeMarker(path string) error {
	f, err := os.OpenFile(path+markerSuffix, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write open marker: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write open marker: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func removeMarker(path string) error {
	if err := os.Remove(path + markerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove open marker: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
