package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what a wrk run printed.
type WrkResult struct {
	Requests     int64
	Duration     time.Duration
	RPS          float64
	Non2xx       int64 // "Non-2xx or 3xx responses"
	SocketErrors int64 // connect + read + write + timeout
}

// ErrWrkOutput means wrk's output lacked a line the harness needs.
var ErrWrkOutput = errors.New("unrecognised wrk output")

// ParseWrk parses the summary wrk prints. It needs the "N requests in D"
// and "Requests/sec:" lines; the error lines are optional.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	var haveCount, haveRate bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var err error
		switch {
		case strings.Contains(line, " requests in "):
			r.Requests, r.Duration, err = parseWrkCount(line)
			haveCount = err == nil
		case strings.HasPrefix(line, "Requests/sec:"):
			r.RPS, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			haveRate = err == nil
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			r.Non2xx, err = strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
		case strings.HasPrefix(line, "Socket errors:"):
			r.SocketErrors, err = parseWrkSocketErrors(strings.TrimPrefix(line, "Socket errors:"))
		}
		if err != nil {
			return WrkResult{}, fmt.Errorf("%w: %q: %w", ErrWrkOutput, line, err)
		}
	}
	if !haveCount || !haveRate {
		return WrkResult{}, fmt.Errorf("%w: no request count or rate in %q", ErrWrkOutput, out)
	}
	return r, nil
}

// parseWrkCount parses "401234 requests in 10.00s, 60.00MB read".
func parseWrkCount(line string) (int64, time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 4 || f[1] != "requests" || f[2] != "in" {
		return 0, 0, errors.New("want \"N requests in D\"")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	d, err := time.ParseDuration(strings.TrimSuffix(f[3], ","))
	if err != nil {
		return 0, 0, err
	}
	return n, d, nil
}

// parseWrkSocketErrors parses " connect 0, read 1, write 0, timeout 2".
func parseWrkSocketErrors(s string) (int64, error) {
	var total int64
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return 0, fmt.Errorf("want \"kind N\", got %q", part)
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// WrkOptions is one closed-loop run.
type WrkOptions struct {
	URL         string
	Header      string // one extra request header "Name: value", or ""
	Connections int
	Duration    time.Duration
}

// RunWrk runs wrk with one thread (the generator has one core) and parses
// its output.
func RunWrk(ctx context.Context, o WrkOptions) (WrkResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(o.Connections),
		"-d" + strconv.Itoa(max(1, int(o.Duration.Round(time.Second)/time.Second))) + "s"}
	if o.Header != "" {
		args = append(args, "-H", o.Header)
	}
	args = append(args, o.URL)
	ctx, cancel := context.WithTimeout(ctx, o.Duration+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return ParseWrk(string(out))
}
