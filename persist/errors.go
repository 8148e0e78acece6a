package persist

import (
	"errors"
	"strings"
	"syscall"

	berrors "go.etcd.io/bbolt/errors"
)

// ErrNoSpace is wrapped by write errors caused by a full disk (or a file
// size limit). The transaction was rolled back: nothing committed before
// is lost, and writes succeed again once there is space.
var ErrNoSpace = errors.New("persist: no space left for the state file")

// noSpaceError keeps the original error and adds ErrNoSpace to its chain.
type noSpaceError struct{ err error }

func (e *noSpaceError) Error() string   { return "no space: " + e.err.Error() }
func (e *noSpaceError) Unwrap() []error { return []error{ErrNoSpace, e.err} }

// classify marks write errors that mean the disk is full.
func classify(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EFBIG) || errors.Is(err, berrors.ErrMaxSizeReached) ||
		// bbolt formats some file errors with %s ("file resize error: ..."),
		// which loses the errno.
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) ||
		strings.Contains(err.Error(), syscall.EFBIG.Error()) {
		return &noSpaceError{err}
	}
	return err
}
