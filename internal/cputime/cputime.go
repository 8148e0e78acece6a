// Package cputime reads the CPU time the running process has used, for the
// benchmarks that report CPU per operation: on a shared machine it is
// steadier than the wall time.
package cputime

import (
	"testing"
	"time"
)

// Used returns the CPU time the process has used so far, user + system,
// and system alone (the kernel's share: system calls, fsync). Where the
// platform does not tell, both are 0. It fails tb if the call fails.
func Used(tb testing.TB) (total, sys time.Duration) {
	tb.Helper()
	total, sys, err := used()
	if err != nil {
		tb.Fatalf("reading the process's CPU time: %v", err)
	}
	return total, sys
}
