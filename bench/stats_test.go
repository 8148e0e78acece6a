package bench

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd unsorted", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"outlier", []float64{10, 11, 12, 13, 1000}, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := Median(in); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("Median reordered its input: %v", in)
				}
			}
		})
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestPercentile(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i)*time.Microsecond)
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"p50 of 100", sorted, 50, 50 * time.Microsecond},
		{"p99 of 100", sorted, 99, 99 * time.Microsecond},
		{"p100 of 100", sorted, 100, 100 * time.Microsecond},
		{"p1 of 100", sorted, 1, time.Microsecond},
		{"tiny p rounds up to the first", sorted, 0.001, time.Microsecond},
		{"p99 of 3", sorted[:3], 99, 3 * time.Microsecond},
		{"empty", nil, 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	us := time.Microsecond
	nginx := []Sample{
		{Round: 0, RPS: 100, CPUus: 10, RSSMiB: 5, P50: 150 * us},
		{Round: 1, RPS: 50, CPUus: 10, RSSMiB: 6, P50: 160 * us},
		{Round: 2, RPS: 100, CPUus: 20, RSSMiB: 5, P50: 170 * us},
	}
	direct := []Sample{{Round: 0, RPS: 300, P50: 100 * us}, {Round: 1, RPS: 300, P50: 100 * us}, {Round: 2, RPS: 300, P50: 110 * us}}
	target := []Sample{
		// round 1 ran while the machine was busy: rps halved for both, so
		// the paired ratio stays 0.8.
		{Round: 0, RPS: 80, CPUus: 15, RSSMiB: 20, P50: 200 * us, P99: 900 * us, Errors: 1},
		{Round: 1, RPS: 40, CPUus: 15, RSSMiB: 30, P50: 210 * us, P99: 800 * us},
		{Round: 2, RPS: 80, CPUus: 30, RSSMiB: 25, P50: 230 * us, P99: 700 * us, Errors: 2},
	}
	s := Summarize("t", target, nginx, direct)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"rounds", float64(s.Rounds), 3},
		{"rps", s.RPS, 80},
		{"rps ratio (paired)", s.RPSRatio, 0.8},
		{"cpu", s.CPUus, 15},
		{"cpu ratio", s.CPURatio, 1.5},
		{"rss is the maximum", s.RSSMiB, 30},
		{"p50", float64(s.P50), float64(210 * us)},
		{"p99", float64(s.P99), float64(800 * us)},
		{"p50 added", s.P50Added, 110},
		{"errors summed", float64(s.Errors), 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			if math.Abs(c.got-c.want) > 1e-9 {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		})
	}
	t.Run("missing reference", func(t *testing.T) {
		s := Summarize("t", target, nil, nil)
		if !math.IsNaN(s.RPSRatio) || !math.IsNaN(s.CPURatio) || !math.IsNaN(s.P50Added) {
			t.Errorf("ratios without reference = %v, %v, %v; want NaN", s.RPSRatio, s.CPURatio, s.P50Added)
		}
	})
	t.Run("direct has no CPU ratio", func(t *testing.T) {
		if s := Summarize(Direct, direct, nginx, direct); !math.IsNaN(s.CPURatio) {
			t.Errorf("direct CPU ratio = %v, want NaN", s.CPURatio)
		}
	})
	t.Run("no samples", func(t *testing.T) {
		if s := Summarize("t", nil, nginx, direct); s.Rounds != 0 || !math.IsNaN(s.RPS) {
			t.Errorf("empty summary = %+v", s)
		}
	})
}
