package bench

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of xs (the mean of the two middle values for an
// even count), or NaN for no values. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Sample is what one round measured for one target.
type Sample struct {
	Round    int     // which round (0-based); ratios pair samples of one round
	RPS      float64 // closed-loop requests per second
	Requests int64   // requests completed in the closed-loop run
	CPUus    float64 // proxy CPU microseconds per request (0 for direct)
	// CoreUse is the proxy's CPU time over the closed-loop run's length:
	// near 1 when it had its core to itself and was the bottleneck; lower
	// when something else (the client, other work on the machine) was.
	CoreUse  float64
	RSSMiB   float64 // proxy VmHWM summed over its process tree (0 for direct)
	P50, P99 time.Duration
	LagP99   time.Duration // how late the fixed-rate generator sent (LatencyResult.LagP99)
	Missed   int64         // fixed-rate requests never sent (LatencyResult.Missed), also in Errors
	Errors   int64         // non-2xx answers, socket errors and missed sends, both generators
}

// Summary is the median over rounds of one target's samples, plus the
// ratios computed round by round against the reference target (nginx).
type Summary struct {
	Target   string
	Rounds   int
	RPS      float64
	RPSRatio float64 // median of per-round rps / nginx rps; NaN without nginx
	CPUus    float64
	CPURatio float64 // median of per-round CPU/req / nginx CPU/req
	CoreUse  float64
	RSSMiB   float64 // the largest, not the median: a high-water mark
	P50, P99 time.Duration
	// P50Added is the median of per-round (p50 - direct p50); NaN without
	// the direct path.
	P50Added float64 // microseconds
	Errors   int64
}

// Summarize reduces a target's samples to medians. ref are the samples of
// the target ratios are computed against (nginx) and direct those added
// latency is measured from; a round missing from either gives no ratio for
// that round, and none at all gives NaN. Ratios pair samples of the same
// round, because interleaved rounds share the machine's momentary load.
func Summarize(target string, samples, ref, direct []Sample) Summary {
	s := Summary{Target: target, Rounds: len(samples)}
	if len(samples) == 0 {
		nan := math.NaN()
		s.RPS, s.RPSRatio, s.CPUus, s.CPURatio, s.CoreUse, s.P50Added = nan, nan, nan, nan, nan, nan
		return s
	}
	refs, directs := byRound(ref), byRound(direct)
	var rps, cpu, use, p50, p99, rr, cr, added []float64
	for _, x := range samples {
		rps = append(rps, x.RPS)
		cpu = append(cpu, x.CPUus)
		use = append(use, x.CoreUse)
		p50 = append(p50, float64(x.P50))
		p99 = append(p99, float64(x.P99))
		s.RSSMiB = max(s.RSSMiB, x.RSSMiB)
		s.Errors += x.Errors
		if r, ok := refs[x.Round]; ok && r.RPS > 0 {
			rr = append(rr, x.RPS/r.RPS)
			if r.CPUus > 0 && x.CPUus > 0 {
				cr = append(cr, x.CPUus/r.CPUus)
			}
		}
		if d, ok := directs[x.Round]; ok {
			added = append(added, float64(x.P50-d.P50)/float64(time.Microsecond))
		}
	}
	s.RPS, s.CPUus, s.CoreUse = Median(rps), Median(cpu), Median(use)
	s.P50, s.P99 = time.Duration(Median(p50)), time.Duration(Median(p99))
	s.RPSRatio, s.CPURatio, s.P50Added = Median(rr), Median(cr), Median(added)
	return s
}

func byRound(samples []Sample) map[int]Sample {
	m := make(map[int]Sample, len(samples))
	for _, s := range samples {
		m[s.Round] = s
	}
	return m
}
