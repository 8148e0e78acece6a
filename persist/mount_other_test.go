//go:build !linux

package persist

import "errors"

// mountSmallFS: tmpfs is Linux-only; TestDiskFull falls back to the file
// size limit.
func mountSmallFS(string) error { return errors.New("tmpfs needs Linux") }

func unmountSmallFS(string) error { return nil }
