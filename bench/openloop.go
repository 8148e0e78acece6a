package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// LatencyOptions is one fixed-rate run.
type LatencyOptions struct {
	Addr   string // host:port
	Path   string // request target, e.g. "/bench/"
	Header string // one extra request header "Name: value", or ""
	// Rate is requests per second, sent on a fixed schedule whatever the
	// answers' speed (open loop).
	Rate     int
	Duration time.Duration
	// Connections are keep-alive connections that take scheduled requests
	// in turn; a request waits for a free one. Zero means 8.
	Connections int
}

// LatencyResult is what a fixed-rate run measured.
type LatencyResult struct {
	Sent, Errors int64
	// Missed counts scheduled requests dropped because every connection
	// was busy and the backlog (one second of requests) was full.
	Missed   int64
	P50, P99 time.Duration
	// LagP99 is the 99th percentile of how late requests were written
	// compared to their schedule: a large value means the generator (or a
	// saturated target) did not keep the rate.
	LagP99 time.Duration
}

type slot struct{ due time.Time }

// Latency sends requests at o.Rate for o.Duration and measures each one
// from the moment its request is written until its answer's last byte.
func Latency(ctx context.Context, o LatencyOptions) (LatencyResult, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return LatencyResult{}, fmt.Errorf("latency run: rate %d and duration %v must be positive", o.Rate, o.Duration)
	}
	conns := o.Connections
	if conns <= 0 {
		conns = 8
	}
	req := []byte("GET " + o.Path + " HTTP/1.1\r\nHost: " + o.Addr + "\r\nUser-Agent: edgebench\r\n")
	if o.Header != "" {
		req = append(req, o.Header+"\r\n"...)
	}
	req = append(req, "\r\n"...)

	total := int(int64(o.Rate) * int64(o.Duration) / int64(time.Second))
	slots := make(chan slot, o.Rate) // bound: one second of requests; overflow counts as Missed
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var res LatencyResult
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	lag := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			w := worker{addr: o.Addr, req: req, errs: &errs}
			defer w.close()
			lat[i], lag[i] = w.run(ctx, slots, total/conns+16)
		})
	}
	missed, perr := pace(ctx, slots, o.Rate, total)
	close(slots)
	wg.Wait()
	if perr != nil {
		return LatencyResult{}, fmt.Errorf("latency run against %s: %w", o.Addr, perr)
	}
	res.Missed = missed

	all, lags := slices.Concat(lat...), slices.Concat(lag...)
	slices.Sort(all)
	slices.Sort(lags)
	res.Sent, res.Errors = int64(len(all))+errs.Load(), errs.Load()
	res.P50, res.P99, res.LagP99 = Percentile(all, 50), Percentile(all, 99), Percentile(lags, 99)
	if len(all) == 0 {
		return res, fmt.Errorf("latency run against %s: no successful request (%d errors)", o.Addr, res.Errors)
	}
	return res, ctx.Err()
}

// pace puts total slots into slots on a fixed schedule and returns how many
// it dropped because slots was full. It sleeps with clock_nanosleep on an
// absolute deadline from a locked thread with 1 µs timer slack: Go's timers
// wake at best every millisecond when the process is idle, which would send
// the requests in bursts.
func pace(ctx context.Context, slots chan<- slot, rate, total int) (missed int64, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("set timer slack: %w", err)
	}
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return 0, fmt.Errorf("read monotonic clock: %w", err)
	}
	start, startWall := time.Duration(mono.Nano()), time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range total {
		if ctx.Err() != nil {
			return missed, ctx.Err()
		}
		off := time.Duration(i) * interval
		ts := unix.NsecToTimespec(int64(start + off))
		if err := sleepUntil(&ts); err != nil {
			return missed, err
		}
		select {
		case slots <- slot{due: startWall.Add(off)}:
		default:
			missed++
		}
	}
	return missed, nil
}

// sleepUntil sleeps until the CLOCK_MONOTONIC time ts, resuming after
// signals.
func sleepUntil(ts *unix.Timespec) error {
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, ts, nil)
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return fmt.Errorf("clock_nanosleep: %w", err)
			}
			return nil
		}
	}
}

// worker is one keep-alive connection of the fixed-rate generator.
type worker struct {
	addr string
	req  []byte
	errs *atomic.Int64
	conn net.Conn
	br   *bufio.Reader
}

func (w *worker) run(ctx context.Context, slots <-chan slot, hint int) (lat, lag []time.Duration) {
	lat, lag = make([]time.Duration, 0, hint), make([]time.Duration, 0, hint)
	for s := range slots {
		t0 := time.Now()
		if err := w.roundTrip(ctx); err != nil {
			w.errs.Add(1)
			w.close()
			continue
		}
		lat = append(lat, time.Since(t0))
		lag = append(lag, t0.Sub(s.due))
	}
	return lat, lag
}

// roundTrip writes the request and reads the whole answer, which must be a
// 2xx; it (re)connects as needed.
func (w *worker) roundTrip(ctx context.Context) error {
	if w.conn == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", w.addr)
		if err != nil {
			return fmt.Errorf("dial %s: %w", w.addr, err)
		}
		w.conn, w.br = c, bufio.NewReaderSize(c, 16<<10)
	}
	if err := w.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := w.conn.Write(w.req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.Close {
		w.close()
	}
	return nil
}

func (w *worker) close() {
	if w.conn != nil {
		// The connection is discarded either way; a close error changes
		// nothing the benchmark reports.
		_ = w.conn.Close()
		w.conn, w.br = nil, nil
	}
}
