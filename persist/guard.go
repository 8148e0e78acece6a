package persist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is wrapped by the error of an operation that found the file
// damaged at run time (bbolt panicked or faulted on a bad page that the
// checks at Open did not see). The operation did not happen; the file is
// marked so that the next Open sets it aside.
var ErrDamaged = errors.New("persist: state file is damaged")

// damagedSuffix names the file that tells Open to set the state aside.
const damagedSuffix = ".damaged"

// update and view run a bbolt transaction and turn a panic or memory fault
// inside bbolt into an error wrapping ErrDamaged: a damaged page must cost
// an error, not the gateway. bbolt rolls the transaction back while the
// panic unwinds.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	return db.guard(func() error { return db.bolt.Update(fn) })
}

func (db *DB) view(fn func(*bolt.Tx) error) error {
	return db.guard(func() error { return db.bolt.View(fn) })
}

func (db *DB) guard(run func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err = fmt.Errorf("%w: %v", ErrDamaged, r)
		if merr := markDamaged(db.path, r); merr != nil {
			err = fmt.Errorf("%w (and marking it failed: %v)", err, merr)
		}
	}()
	return run()
}

// markDamaged leaves a note for the next Open, which sets the file aside.
func markDamaged(path string, why any) error {
	return os.WriteFile(path+damagedSuffix, fmt.Appendf(nil, "%v\n", why), 0o600)
}

// damageNote returns what an earlier run found damaged, or "".
func damageNote(path string) (string, error) {
	b, err := os.ReadFile(path + damagedSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return "an earlier run found it damaged: " + strings.TrimSpace(string(b)), nil
}
