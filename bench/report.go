package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Issue 4's targets.
const (
	MinKeylessRatio   = 0.7   // keyless rps ≥ 0.7 × nginx
	MaxKeylessCPU     = 1.8   // keyless CPU/request ≤ 1.8 × nginx
	MinAPIKeyRatio    = 0.6   // api-key + rate limit + analytics rps ≥ 0.6 × nginx
	MaxAddedP50Micros = 100.0 // p50 added at the fixed rate within 100 µs of nginx's
	MaxRSSMiB         = 48.0  // RSS under load with 1,000 APIs
)

// Report is a whole benchmark run.
type Report struct {
	Date       time.Time
	Options    Options
	CPUs       int
	Pinning    string
	LoadBefore float64 // one-minute load average before the run
	LoadAfter  float64
	Versions   map[string]string
	// Samples are every round's measurements per target.
	Samples map[string][]Sample
	// Summaries are the medians per target, in table order.
	Summaries []Summary
	// Skipped maps a target that could not start to the reason.
	Skipped map[string]string
	// BuildErrors say why cmd/edgegate could not be built.
	BuildErrors []string
}

func (r *Report) summarize(names []string) {
	r.Summaries = nil
	for _, n := range names {
		if s, ok := r.Samples[n]; ok {
			r.Summaries = append(r.Summaries, Summarize(n, s, r.Samples[Nginx], r.Samples[Direct]))
		}
	}
}

func (r *Report) summary(name string) (Summary, bool) {
	i := slices.IndexFunc(r.Summaries, func(s Summary) bool { return s.Target == name })
	if i < 0 {
		return Summary{}, false
	}
	return r.Summaries[i], true
}

// Table is the results as a Markdown table.
func (r *Report) Table() string {
	rows := [][]string{{"target", "rps", "× nginx", "CPU µs/req", "CPU × nginx", "core use", "RSS MiB", "p50", "p99", "p50 added vs direct", "errors"}}
	for _, s := range r.Summaries {
		rows = append(rows, []string{
			s.Target, num(s.RPS, 0), num(s.RPSRatio, 2), num(nonZero(s.CPUus), 1), num(s.CPURatio, 2), percent(s.CoreUse),
			num(nonZero(s.RSSMiB), 1), micros(s.P50), micros(s.P99), signedMicros(s.P50Added, s.Target == Direct),
			fmt.Sprint(s.Errors),
		})
	}
	return FormatTable(rows)
}

// FormatTable renders rows (the first is the header) as a Markdown table
// with padded columns: text left-aligned in the first column, right-aligned
// elsewhere.
func FormatTable(rows [][]string) string {
	if len(rows) == 0 {
		return ""
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row[:min(len(row), len(width))] {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, w := range width {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", w-len([]rune(c)))
			if i == 0 {
				fmt.Fprintf(&b, " %s%s |", c, pad)
			} else {
				fmt.Fprintf(&b, " %s%s |", pad, c)
			}
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, w := range width {
		if i == 0 {
			sep[i] = strings.Repeat("-", w)
		} else {
			sep[i] = strings.Repeat("-", w-1) + ":"
		}
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}

func nonZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

// num formats v with prec decimals, or "–" for NaN.
func num(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func percent(v float64) string {
	if v == 0 || math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func micros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func signedMicros(v float64, self bool) string {
	if self || math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%+.0f µs", v)
}

// Verdict is one of issue 4's targets and whether this run met it.
type Verdict struct {
	Target string // what issue 4 asks
	Status string // "PASS", "FAIL" or "NOT MEASURED"
	Detail string // the numbers
}

func (v Verdict) String() string { return fmt.Sprintf("%-12s %s: %s", v.Status, v.Target, v.Detail) }

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// Verdicts judges the run against issue 4's targets.
func (r *Report) Verdicts() []Verdict {
	return []Verdict{r.keylessVerdict(), r.apiKeyVerdict(), r.latencyVerdict(), r.rssVerdict()}
}

func (r *Report) notMeasured(target, name string) Verdict {
	why := r.Skipped[name]
	if why == "" {
		why = name + " was not measured"
	}
	return Verdict{Target: target, Status: "NOT MEASURED", Detail: oneLine(why)}
}

func (r *Report) keylessVerdict() Verdict {
	const what = "keyless route ≥ 0.7× nginx rps and ≤ 1.8× its CPU/request"
	s, ok := r.summary(Edgegate)
	if !ok || math.IsNaN(s.RPSRatio) {
		return r.notMeasured(what, Edgegate)
	}
	return Verdict{Target: what, Status: pass(s.RPSRatio >= MinKeylessRatio && s.CPURatio <= MaxKeylessCPU),
		Detail: fmt.Sprintf("%.2f× rps, %.2f× CPU/request", s.RPSRatio, s.CPURatio) + r.contention(s)}
}

func (r *Report) apiKeyVerdict() Verdict {
	const what = "API-key plan + rate limit + analytics ≥ 0.6× nginx rps"
	s, ok := r.summary(EdgegateAPIKey)
	if !ok || math.IsNaN(s.RPSRatio) {
		return r.notMeasured(what, EdgegateAPIKey)
	}
	return Verdict{Target: what, Status: pass(s.RPSRatio >= MinAPIKeyRatio),
		Detail: fmt.Sprintf("%.2f× rps (%.2f× CPU/request)", s.RPSRatio, s.CPURatio) + r.contention(s)}
}

// MinCoreUse is the share of its core below which a proxy's requests per
// second say more about the machine's other work than about the proxy.
const MinCoreUse = 0.8

// contention warns when s or nginx did not have its core: an rps ratio is
// then unreliable, while CPU per request still compares.
func (r *Report) contention(s Summary) string {
	n, ok := r.summary(Nginx)
	if !ok || (s.CoreUse >= MinCoreUse && n.CoreUse >= MinCoreUse) {
		return ""
	}
	return fmt.Sprintf("; UNRELIABLE rps ratio: the proxies used %.0f%% (%s) and %.0f%% (nginx) of their core, so other work shared it; compare CPU/request",
		100*s.CoreUse, s.Target, 100*n.CoreUse)
}

// latencyVerdict compares p50 round by round: edgegate's p50 minus nginx's
// is the difference of their added latencies, since both subtract the same
// direct p50.
func (r *Report) latencyVerdict() Verdict {
	what := fmt.Sprintf("p50 added at %d req/s within 100 µs of nginx's", r.Options.Rate)
	eg, ng := r.Samples[Edgegate], byRound(r.Samples[Nginx])
	var diffs []float64
	for _, s := range eg {
		if n, ok := ng[s.Round]; ok {
			diffs = append(diffs, float64(s.P50-n.P50)/float64(time.Microsecond))
		}
	}
	if len(diffs) == 0 {
		return r.notMeasured(what, Edgegate)
	}
	d := Median(diffs)
	detail := fmt.Sprintf("edgegate p50 %+.0f µs vs nginx's", d)
	if s, ok := r.summary(Edgegate); ok {
		if n, ok := r.summary(Nginx); ok && !math.IsNaN(s.P50Added) {
			detail += fmt.Sprintf(" (added vs direct: edgegate %+.0f µs, nginx %+.0f µs)", s.P50Added, n.P50Added)
		}
	}
	return Verdict{Target: what, Status: pass(d <= MaxAddedP50Micros), Detail: detail}
}

func (r *Report) rssVerdict() Verdict {
	const what = "RSS under load with 1,000 APIs ≤ 48 MiB"
	s, ok := r.summary(Edgegate1000APIs)
	if !ok || s.RSSMiB == 0 {
		return r.notMeasured(what, Edgegate1000APIs)
	}
	return Verdict{Target: what, Status: pass(s.RSSMiB <= MaxRSSMiB), Detail: fmt.Sprintf("%.1f MiB (VmHWM)", s.RSSMiB)}
}

// Markdown is the whole report: conditions, table, verdicts, skipped
// targets.
func (r *Report) Markdown() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "## edgegate benchmark, %s\n\n", r.Date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- %d rounds, interleaved; closed loop: wrk, 1 thread, %d connections, %v per run; fixed rate: %d req/s for %v per run; medians over rounds (RSS: the highest VmHWM)\n",
		o.Rounds, o.Connections, o.Duration, o.Rate, o.LatencyDuration)
	fmt.Fprintf(&b, "- %d CPUs; %s; load average %.2f before, %.2f after\n", r.CPUs, r.Pinning, r.LoadBefore, r.LoadAfter)
	if r.LoadBefore > 0.5 || r.LoadAfter > 1.5 {
		b.WriteString("- CAUTION: the machine was busy with other work during the run; numbers are noisy\n")
	}
	if lag := r.maxLag(); lag > time.Millisecond {
		fmt.Fprintf(&b, "- CAUTION: the fixed-rate generator fell behind its schedule (send lag p99 up to %v): latencies include the machine's other work\n", lag.Round(time.Microsecond))
	}
	b.WriteString("- backend: nginx, 1 worker, fixed 100-byte body; every proxy keeps connections to it alive\n")
	keys := make([]string, 0, len(r.Versions))
	for k := range r.Versions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, r.Versions[k])
	}
	b.WriteString("\n")
	b.WriteString(r.Table())
	b.WriteString("\n")
	for _, v := range r.Verdicts() {
		fmt.Fprintf(&b, "- **%s** %s: %s\n", v.Status, v.Target, v.Detail)
	}
	b.WriteString("\nRounds (rps / CPU µs per request / p50 µs):\n\n")
	b.WriteString(r.roundsTable())
	for _, e := range r.BuildErrors {
		fmt.Fprintf(&b, "\nBuild failed: %s\n", oneLine(e))
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\nNot measured, or failed:\n")
		names := make([]string, 0, len(r.Skipped))
		for n := range r.Skipped {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(&b, "- %s: %s\n", n, oneLine(r.Skipped[n]))
		}
	}
	return b.String()
}

// maxLag is the worst fixed-rate send lag p99 of any run.
func (r *Report) maxLag() time.Duration {
	var m time.Duration
	for _, ss := range r.Samples {
		for _, s := range ss {
			m = max(m, s.LagP99)
		}
	}
	return m
}

// roundsTable lists every run, so a reader can judge the spread behind the
// medians.
func (r *Report) roundsTable() string {
	head := []string{"target"}
	for i := range r.Options.Rounds {
		head = append(head, fmt.Sprintf("round %d", i+1))
	}
	rows := [][]string{head}
	for _, sum := range r.Summaries {
		row := []string{sum.Target}
		byR := byRound(r.Samples[sum.Target])
		for i := range r.Options.Rounds {
			s, ok := byR[i]
			if !ok {
				row = append(row, "–")
				continue
			}
			row = append(row, fmt.Sprintf("%.0f / %s / %.0f", s.RPS, num(nonZero(s.CPUus), 1), float64(s.P50)/float64(time.Microsecond)))
		}
		rows = append(rows, row)
	}
	return FormatTable(rows)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
