// Command edgebench runs edgegate's side-by-side performance benchmark
// (`make bench`): edgegate, nginx, haproxy, caddy and a plain Go
// httputil.ReverseProxy in front of one local backend, interleaved rounds,
// medians. It prints a Markdown table and verdicts and writes them to -out.
// See package bench for what is measured and how.
//
//	edgebench [-quick] [-rounds 5] [-targets nginx,edgegate] [-out build/bench.md]
//
// Exit status: 0 when the benchmark ran (whatever the verdicts, unless
// -strict), 1 when it could not run, 2 with -strict when a verdict failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/edgegate/edgegate/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	def := bench.Options{}
	quick := flag.Bool("quick", false, "smoke test: one short round (3 s closed loop, 2 s fixed rate)")
	flag.IntVar(&def.Rounds, "rounds", 5, "rounds over all targets")
	flag.DurationVar(&def.Duration, "duration", 0, "closed-loop run per target and round (default 10s)")
	flag.DurationVar(&def.LatencyDuration, "latency-duration", 0, "fixed-rate run per target and round (default 5s)")
	flag.IntVar(&def.Rate, "rate", 2000, "fixed rate for the latency run, requests per second")
	flag.IntVar(&def.Connections, "connections", 50, "closed-loop connections")
	targets := flag.String("targets", "", "comma-separated targets (default all: "+strings.Join(bench.AllTargets, ",")+")")
	flag.StringVar(&def.Edgegate, "edgegate", "", "edgegate binary to measure (default: build ./cmd/edgegate)")
	flag.StringVar(&def.WorkDir, "workdir", "", "keep configurations and logs here (default: a temporary directory, removed)")
	noInstall := flag.Bool("no-install", false, "do not apt-get missing programs")
	out := flag.String("out", "build/bench.md", "also write the report here (empty: do not)")
	strict := flag.Bool("strict", false, "exit 2 when a verdict fails")
	flag.Parse()

	o := def
	if *quick {
		q := bench.Quick()
		o.Rounds, o.Duration, o.Warmup, o.LatencyDuration = q.Rounds, q.Duration, q.Warmup, q.LatencyDuration
	}
	if *targets != "" {
		o.Targets = strings.Split(*targets, ",")
	}
	o.Install, o.Log = !*noInstall, os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		return 1
	}
	md := rep.Markdown()
	fmt.Print(md)
	if *out != "" {
		if err := write(*out, md); err != nil {
			fmt.Fprintln(os.Stderr, "edgebench:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "report written to", *out)
	}
	if *strict {
		for _, v := range rep.Verdicts() {
			if v.Status != "PASS" {
				return 2
			}
		}
	}
	return 0
}

func write(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
