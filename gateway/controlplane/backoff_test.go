package controlplane

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndResets(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand float64
	}{{"low jitter", 0}, {"no jitter", 0.5}, {"high jitter", 0.999}} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBackoff(time.Second, 30*time.Second)
			b.rand = func() float64 { return tc.rand }
			steps := []time.Duration{1, 2, 4, 8, 16, 30, 30}
			for i, s := range steps {
				base := s * time.Second
				got := b.Next()
				lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
				if got < lo || got > hi {
					t.Fatalf("step %d: %v not within [%v, %v]", i, got, lo, hi)
				}
			}
			b.Reset()
			if got := b.Next(); got > 1200*time.Millisecond {
				t.Fatalf("after Reset: %v, want about 1s", got)
			}
		})
	}
}

func TestBackoffJitterSpreads(t *testing.T) {
	b := NewBackoff(time.Second, time.Second)
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 50: jitter does not spread", len(seen))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-3", 0},
		{"capped", "86400", maxRetryAfter},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.value != "" {
				h.Set("Retry-After", tc.value)
			}
			if got := retryAfter(h, now); got != tc.want {
				t.Fatalf("Retry-After %q: %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}
