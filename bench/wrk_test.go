package bench

import (
	"errors"
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:8080/bench/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.62ms  215.54us   8.91ms   93.05%
    Req/Sec    31.02k     1.04k   32.31k    86.00%
  308715 requests in 10.00s, 64.47MB read
Requests/sec:  30869.13
Transfer/sec:      6.45MB
`

const wrkErrors = `Running 3s test @ http://127.0.0.1:8080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.00ms    1.00ms  10.00ms   90.00%
    Req/Sec     9.00k   500.00     10.00k    80.00%
  27000 requests in 3.00s, 4.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 120
Requests/sec:   8999.50
Transfer/sec:      1.33MB
`

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want WrkResult
	}{
		{"clean", wrkOutput, WrkResult{Requests: 308715, Duration: 10 * time.Second, RPS: 30869.13}},
		{"errors", wrkErrors, WrkResult{Requests: 27000, Duration: 3 * time.Second, RPS: 8999.5, Non2xx: 120, SocketErrors: 10}},
		{"minutes", "  5 requests in 1.00m, 1KB read\nRequests/sec: 0.08\n", WrkResult{Requests: 5, Duration: time.Minute, RPS: 0.08}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWrk(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseWrk = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseWrkErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"usage text", "Usage: wrk <options> <url>\n"},
		{"no rate", "  10 requests in 1.00s, 1KB read\n"},
		{"no count", "Requests/sec: 10.0\n"},
		{"bad rate", "  10 requests in 1.00s, 1KB read\nRequests/sec: fast\n"},
		{"bad count", "  ten requests in 1.00s, 1KB read\nRequests/sec: 10\n"},
		{"bad socket errors", wrkOutput + "  Socket errors: connect x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseWrk(tc.in); !errors.Is(err, ErrWrkOutput) {
				t.Errorf("ParseWrk error = %v, want ErrWrkOutput", err)
			}
		})
	}
}

// FuzzParseWrk checks that no output of wrk (an outside program) makes the
// parser panic, and that what it accepts is sane.
func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOutput)
	f.Add(wrkErrors)
	f.Add("  1 requests in 1s,\nRequests/sec: 1\n  Socket errors: a 1, b 2\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseWrk(s)
		if err != nil && !errors.Is(err, ErrWrkOutput) {
			t.Fatalf("error %v is not ErrWrkOutput", err)
		}
		if err == nil && r == (WrkResult{}) && s == "" {
			t.Fatal("empty input accepted")
		}
	})
}
