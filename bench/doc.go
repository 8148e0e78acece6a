// Package bench is edgegate's side-by-side performance benchmark, the code
// behind `make bench`.
//
// # Basics
//
// Run starts one local backend (an nginx returning a fixed ~100-byte body)
// and, in front of it, every target: the direct path (no proxy), nginx,
// haproxy, caddy, a plain Go httputil.ReverseProxy (bench/cmd/benchproxy)
// and edgegate (`edgegate run --apis-dir`) in three setups: a keyless
// route; an API-key plan with a rate-limit policy and analytics, its key in
// the directory's subscriptions file; a keyless route among 1,000 deployed
// APIs. It then measures every target, round after round, interleaved:
//
//   - requests per second with a closed-loop generator (wrk, keep-alive);
//   - CPU microseconds per request of the proxy's process tree, from the
//     utime+stime deltas of /proc/PID/stat over the closed-loop run;
//   - RSS: the sum of VmHWM over the process tree, after the load;
//   - latency at a fixed rate (2,000 req/s by default) with an open-loop
//     generator (Latency), p50 and p99, and p50's difference to the direct
//     path.
//
// Medians over the rounds are printed as a table, with one verdict line per
// target of issue 4, and written to a Markdown file.
//
// # Pinning
//
// The harness pins itself, the load generators and the backend to CPU 0 and
// every proxy to CPU 1 (Options.ClientCPU, Options.ProxyCPU), so a proxy
// has exactly one core, as its worker count says (nginx worker_processes 1,
// haproxy nbthread 1, Go programs GOMAXPROCS 1), and the client and backend
// never steal its cycles. The direct path therefore measures the client and
// backend sharing one core: it is the ceiling of what any proxy can show.
//
// # Caveats
//
// Numbers from a machine shared with other work are noisy; the report says
// when the load average was high. The open-loop generator measures each
// request from the moment it is written, so its latency excludes the
// generator's own scheduling delay; it reports how far sending fell behind
// the schedule so a saturated generator is visible.
package bench
