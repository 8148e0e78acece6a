package bench

import (
	"strings"
	"testing"
	"time"
)

func TestFormatTable(t *testing.T) {
	got := FormatTable([][]string{{"target", "rps"}, {"nginx", "30000"}, {"edgegate-apikey", "9"}})
	want := "" +
		"| target          |   rps |\n" +
		"| --------------- | ----: |\n" +
		"| nginx           | 30000 |\n" +
		"| edgegate-apikey |     9 |\n"
	if got != want {
		t.Errorf("FormatTable:\n%s\nwant:\n%s", got, want)
	}
	if FormatTable(nil) != "" {
		t.Error("FormatTable(nil) is not empty")
	}
	// µ is two bytes but one column.
	if got := FormatTable([][]string{{"p50"}, {"5 µs"}}); !strings.Contains(got, "| p50  |") {
		t.Errorf("width counts bytes, not characters:\n%s", got)
	}
}

// report builds a Report from per-target (rps, CPU µs/req, RSS MiB, p50 µs)
// for rounds 0..n-1, each round the same.
func report(rounds int, m map[string][4]float64) *Report {
	r := &Report{Samples: map[string][]Sample{}, Skipped: map[string]string{}, Options: Options{Rate: 2000, Rounds: rounds}}
	for name, v := range m {
		for i := range rounds {
			s := Sample{Round: i, RPS: v[0], CPUus: v[1], RSSMiB: v[2],
				P50: time.Duration(v[3] * float64(time.Microsecond)), P99: time.Millisecond}
			if s.CPUus > 0 {
				s.CoreUse = 0.95
			}
			r.Samples[name] = append(r.Samples[name], s)
		}
	}
	r.summarize(AllTargets)
	return r
}

func TestVerdicts(t *testing.T) {
	base := map[string][4]float64{
		Direct: {60000, 0, 0, 60},
		Nginx:  {30000, 30, 13, 150},
	}
	with := func(extra map[string][4]float64) map[string][4]float64 {
		m := map[string][4]float64{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		m    map[string][4]float64
		want []string // statuses: keyless, api-key, latency, rss
	}{
		{"all pass", with(map[string][4]float64{
			Edgegate:         {24000, 45, 20, 200},
			EdgegateAPIKey:   {20000, 50, 21, 210},
			Edgegate1000APIs: {23000, 46, 40, 205},
		}), []string{"PASS", "PASS", "PASS", "PASS"}},
		{"all fail", with(map[string][4]float64{
			Edgegate:         {24000, 60, 20, 300}, // 0.8× rps but 2× CPU; +150 µs
			EdgegateAPIKey:   {15000, 70, 21, 310},
			Edgegate1000APIs: {23000, 46, 60, 205},
		}), []string{"FAIL", "FAIL", "FAIL", "FAIL"}},
		{"edgegate missing", base, []string{"NOT MEASURED", "NOT MEASURED", "NOT MEASURED", "NOT MEASURED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := report(5, tc.m).Verdicts()
			if len(vs) != len(tc.want) {
				t.Fatalf("%d verdicts, want %d", len(vs), len(tc.want))
			}
			for i, v := range vs {
				if v.Status != tc.want[i] {
					t.Errorf("verdict %d = %s, want %s", i, v, tc.want[i])
				}
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	r := report(5, map[string][4]float64{
		Direct:   {60000, 0, 0, 60},
		Nginx:    {30000, 30, 13, 150},
		Edgegate: {24000, 45, 20, 200},
	})
	r.Date = time.Date(2026, 11, 26, 14, 20, 0, 0, time.UTC)
	r.Skipped[EdgegateAPIKey] = "start edgegate-apikey: no\nedgegate binary"
	r.LoadBefore = 3
	r.BuildErrors = []string{"go build ./cmd/edgegate: exit status 1:\nundefined: x"}
	md := r.Markdown()
	for _, want := range []string{
		"2026-11-26 14:20 UTC",
		"| direct   | 60000 |    2.00 |          – |           – |        – |       – |  60 µs | 1000 µs |                   – |      0 |",
		"| nginx    | 30000 |    1.00 |       30.0 |        1.00 |      95% |    13.0 | 150 µs | 1000 µs |              +90 µs |      0 |",
		"| edgegate | 24000 |    0.80 |       45.0 |        1.50 |      95% |    20.0 | 200 µs | 1000 µs |             +140 µs |      0 |",
		"NOT MEASURED** API-key plan + rate limit + analytics ≥ 0.6× nginx rps: start edgegate-apikey: no edgegate binary\n",
		"**PASS** keyless route",
		"- edgegate-apikey: start edgegate-apikey: no edgegate binary",
		"CAUTION",
		"Build failed: go build ./cmd/edgegate: exit status 1: undefined: x\n",
		"| nginx    | 30000 / 30.0 / 150 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestContentionWarning(t *testing.T) {
	r := report(3, map[string][4]float64{
		Direct:   {60000, 0, 0, 60},
		Nginx:    {30000, 30, 13, 150},
		Edgegate: {24000, 45, 20, 200},
	})
	if v := r.keylessVerdict(); strings.Contains(v.Detail, "UNRELIABLE") {
		t.Errorf("warning with both proxies at 95%% of their core: %s", v)
	}
	for i := range r.Samples[Nginx] {
		r.Samples[Nginx][i].CoreUse = 0.3
	}
	r.summarize(AllTargets)
	if v := r.keylessVerdict(); !strings.Contains(v.Detail, "UNRELIABLE") || v.Status != "PASS" {
		t.Errorf("nginx at 30%% of its core: %s; want PASS with a warning", v)
	}
}
