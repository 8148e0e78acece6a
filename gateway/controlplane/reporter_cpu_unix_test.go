//go:build unix

package controlplane

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time this process has used: user + system,
// and system (the kernel's share: writes, fsync).
func processCPU(b *testing.B) (total, sys time.Duration) {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Stime.Nano())
}
