package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// Options configures a benchmark run. A zero field means the default given
// in its comment; Quick returns the smoke-test settings.
type Options struct {
	Rounds          int           // rounds over all targets; default 5
	Duration        time.Duration // closed-loop run per target and round; default 10s
	Warmup          time.Duration // closed-loop warm-up per target, once; default 2s
	LatencyDuration time.Duration // fixed-rate run per target and round; default 5s
	Rate            int           // fixed rate, requests per second; default 2000
	Connections     int           // closed-loop connections; default 50
	// Targets to measure, from AllTargets; empty means all. Direct and
	// Nginx are always added: ratios and added latency need them.
	Targets []string
	// Edgegate is the binary to measure; empty builds ./cmd/edgegate.
	Edgegate string
	// WorkDir keeps configurations and logs; empty uses a temporary
	// directory that is removed afterwards.
	WorkDir string
	// ClientCPU runs the harness, the load generators and the backend;
	// ProxyCPU runs every target. Defaults 0 and 1. With fewer than two
	// CPUs nothing is pinned and the report says so.
	ClientCPU, ProxyCPU int
	// Install lets the harness apt-get missing programs (as root).
	Install bool
	// Log receives progress lines; nil means none.
	Log io.Writer
}

// Quick is the smoke-test configuration: one short round.
func Quick() Options {
	return Options{Rounds: 1, Duration: 3 * time.Second, Warmup: time.Second, LatencyDuration: 2 * time.Second}
}

func (o Options) withDefaults() Options {
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&o.Duration, 10*time.Second)
	def(&o.Warmup, 2*time.Second)
	def(&o.LatencyDuration, 5*time.Second)
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Rate <= 0 {
		o.Rate = 2000
	}
	if o.Connections <= 0 {
		o.Connections = 50
	}
	if o.ClientCPU == 0 && o.ProxyCPU == 0 {
		o.ProxyCPU = 1
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// targetList is o.Targets in table order, with Direct and Nginx added.
func (o Options) targetList() ([]string, error) {
	if len(o.Targets) == 0 {
		return AllTargets, nil
	}
	want := map[string]bool{Direct: true, Nginx: true}
	for _, t := range o.Targets {
		if !slices.Contains(AllTargets, t) {
			return nil, fmt.Errorf("unknown target %q (known: %v)", t, AllTargets)
		}
		want[t] = true
	}
	var list []string
	for _, t := range AllTargets {
		if want[t] {
			list = append(list, t)
		}
	}
	return list, nil
}

// Run measures every target and returns the report. Targets that cannot
// start (edgegate not built yet, say) are reported as skipped with the
// reason; a failure of the harness itself is an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	names, err := o.targetList()
	if err != nil {
		return nil, err
	}
	rep := &Report{Date: time.Now().UTC(), Options: o, Skipped: map[string]string{},
		Samples: map[string][]Sample{}, LoadBefore: LoadAverage(), CPUs: runtime.NumCPU()}
	if err := EnsureTools(ctx, o.Install, o.Log); err != nil {
		return nil, err
	}
	rep.Versions = versions(ctx)
	dir := o.WorkDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "edgebench-"); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintf(o.Log, "remove the work directory: %v\n", err)
			}
		}()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	e, err := prepare(ctx, o, dir, rep)
	if err != nil {
		return nil, err
	}
	backend, err := startBackend(ctx, &e)
	if err != nil {
		return nil, err
	}
	targets := startTargets(ctx, e, names, rep)
	defer stopAll(backend, targets, o.Log)
	if err := warmUp(ctx, o, targets, rep); err != nil {
		return nil, err
	}
	if err := rounds(ctx, o, targets, rep); err != nil {
		return nil, err
	}
	rep.LoadAfter = LoadAverage()
	rep.summarize(names)
	return rep, nil
}

// prepare builds the Go targets, reads USER_HZ and pins the harness.
func prepare(ctx context.Context, o Options, dir string, rep *Report) (env, error) {
	e := env{dir: dir, proxyCPU: -1, hz: ClockTicks(ctx), log: o.Log}
	goCmd, err := goTool()
	if err != nil {
		return e, err
	}
	root, err := moduleRoot(ctx, goCmd)
	if err != nil {
		return e, err
	}
	e.benchproxy = filepath.Join(dir, "bin", "benchproxy")
	fmt.Fprintln(o.Log, "building bench/cmd/benchproxy")
	if err := build(ctx, goCmd, root, "./bench/cmd/benchproxy", e.benchproxy); err != nil {
		return e, err
	}
	e.edgegate = o.Edgegate
	if e.edgegate == "" {
		out := filepath.Join(dir, "bin", "edgegate")
		fmt.Fprintln(o.Log, "building cmd/edgegate")
		if err := build(ctx, goCmd, root, "./cmd/edgegate", out); err != nil {
			rep.BuildErrors = append(rep.BuildErrors, err.Error())
		} else {
			e.edgegate = out
		}
	}
	if rep.CPUs >= 2 {
		if err := PinSelf(ctx, o.ClientCPU); err != nil {
			return e, err
		}
		e.proxyCPU = o.ProxyCPU
		rep.Pinning = fmt.Sprintf("harness, wrk and backend on CPU %d; each proxy on CPU %d", o.ClientCPU, o.ProxyCPU)
	} else {
		rep.Pinning = "not pinned: only one CPU"
	}
	return e, nil
}

// startBackend runs the one nginx backend on the client CPU (it inherits
// the harness's pinning) and sets e.backend.
func startBackend(ctx context.Context, e *env) (*process, error) {
	dir, err := site(e.dir, "backend")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startNginx(ctx, "backend", dir, -1, BackendConfig(dir, addr), "http://"+addr+"/")
	if err != nil {
		return nil, fmt.Errorf("start the backend: %w", err)
	}
	e.backend = addr
	return p, nil
}

func startTargets(ctx context.Context, e env, names []string, rep *Report) []*Target {
	var ts []*Target
	for _, n := range names {
		fmt.Fprintf(e.log, "starting %s\n", n)
		t, err := startTarget(ctx, e, n)
		if err != nil {
			rep.Skipped[n] = err.Error()
			continue
		}
		ts = append(ts, t)
	}
	return ts
}

func stopAll(backend *process, ts []*Target, log io.Writer) {
	for _, t := range ts {
		if t.proc == nil {
			continue
		}
		if err := t.proc.stop(5 * time.Second); err != nil {
			fmt.Fprintf(log, "stop %s: %v\n", t.Name, err)
		}
	}
	if err := backend.stop(5 * time.Second); err != nil {
		fmt.Fprintf(log, "stop backend: %v\n", err)
	}
}

// warmUp loads every target once before measuring; a target that fails is
// reported and not measured.
func warmUp(ctx context.Context, o Options, ts []*Target, rep *Report) error {
	for _, t := range ts {
		fmt.Fprintf(o.Log, "warming up %s\n", t.Name)
		_, err := RunWrk(ctx, WrkOptions{URL: t.URL(), Header: t.Header, Connections: o.Connections, Duration: o.Warmup})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			rep.Skipped[t.Name] = fmt.Sprintf("warm-up failed: %v", err)
		}
	}
	return nil
}

// rounds measures every target once per round; each round starts with the
// next target, so no target always runs right after the same neighbour.
//
// A target that fails (its process died, its answers stopped) is dropped
// from the following rounds and reported with the reason; the others go on.
func rounds(ctx context.Context, o Options, ts []*Target, rep *Report) error {
	for r := range o.Rounds {
		for k := range ts {
			t := ts[(r+k)%len(ts)]
			if _, failed := rep.Skipped[t.Name]; failed {
				continue
			}
			s, err := measure(ctx, o, t)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				rep.Skipped[t.Name] = fmt.Sprintf("failed in round %d (earlier rounds are in the table): %v", r+1, err)
				fmt.Fprintf(o.Log, "round %d/%d %s failed: %v\n", r+1, o.Rounds, t.Name, err)
				continue
			}
			s.Round = r
			rep.Samples[t.Name] = append(rep.Samples[t.Name], s)
			fmt.Fprintf(o.Log, "round %d/%d %-18s %8.0f rps %6.1f µs/req (core %3.0f%%) %5.1f MiB p50 %v p99 %v (send lag p99 %v, missed %d) errors %d\n",
				r+1, o.Rounds, t.Name, s.RPS, s.CPUus, 100*s.CoreUse, s.RSSMiB, s.P50, s.P99, s.LagP99, s.Missed, s.Errors)
		}
	}
	return nil
}

// settle is the pause before each measurement, so a target's background
// work (an analytics flush) does not land in the next target's run.
const settle = 500 * time.Millisecond

// measure runs the closed-loop then the fixed-rate load on one target.
func measure(ctx context.Context, o Options, t *Target) (Sample, error) {
	var s Sample
	select {
	case <-ctx.Done():
		return s, ctx.Err()
	case <-time.After(settle):
	}
	cpu0, err := t.cpu()
	if err != nil {
		return s, err
	}
	w, err := RunWrk(ctx, WrkOptions{URL: t.URL(), Header: t.Header, Connections: o.Connections, Duration: o.Duration})
	if err != nil {
		return s, err
	}
	cpu1, err := t.cpu()
	if err != nil {
		return s, err
	}
	s.RPS, s.Requests, s.Errors = w.RPS, w.Requests, w.Non2xx+w.SocketErrors
	if t.measured() && w.Requests > 0 {
		s.CPUus = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(w.Requests)
		if w.Duration > 0 {
			s.CoreUse = float64(cpu1-cpu0) / float64(w.Duration)
		}
		hwm, err := t.tree.HWM()
		if err != nil {
			return s, err
		}
		s.RSSMiB = float64(hwm) / (1 << 20)
	}
	l, err := Latency(ctx, LatencyOptions{Addr: t.Addr, Path: t.Path, Header: t.Header, Rate: o.Rate, Duration: o.LatencyDuration})
	if err != nil {
		return s, err
	}
	s.P50, s.P99, s.LagP99, s.Missed = l.P50, l.P99, l.LagP99, l.Missed
	s.Errors += l.Errors + l.Missed
	return s, nil
}

// cpu is the target's CPU time so far; zero for Direct. A target whose
// process has ended is an error: its numbers would mean nothing.
func (t *Target) cpu() (time.Duration, error) {
	if !t.measured() {
		return 0, nil
	}
	if t.proc.exited() {
		return 0, fmt.Errorf("%s exited (%v); see %s", t.Name, t.proc.err, t.proc.log.Name())
	}
	d, err := t.tree.CPU()
	if err != nil {
		return 0, errors.Join(fmt.Errorf("%s: CPU time", t.Name), err)
	}
	return d, nil
}
