package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestUsedGrows: burning CPU shows in Used on platforms with getrusage.
func TestUsedGrows(t *testing.T) {
	before, _ := Used(t)
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
		if after, _ := Used(t); after-before >= 20*time.Millisecond || runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
			return
		}
	}
	t.Fatalf("no CPU time counted after 5 s of work (%d)", x)
}
