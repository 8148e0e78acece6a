package h1

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWriteField(t *testing.T) {
	tests := []struct {
		name, k, v, want string
	}{
		{"plain", "X-A", "1", "X-A: 1\r\n"},
		{"empty value", "X-A", "", "X-A: \r\n"},
		{"line breaks cleaned", "X-A", "a\r\nb\nc\rd", "X-A: a  b c d\r\n"},
		{"long value", "X-Long", strings.Repeat("v", 5000), "X-Long: " + strings.Repeat("v", 5000) + "\r\n"},
	}
	for _, tc := range tests {
		// Every buffer size, so the field goes both through the free space
		// and through the writes that flush on the way.
		for _, size := range []int{16, 64, writeBufSize} {
			t.Run(tc.name+"/"+itoa(size), func(t *testing.T) {
				var out strings.Builder
				bw := bufio.NewWriterSize(&out, size)
				_, _ = bw.WriteString("0123456789") // the field does not start at the buffer's start
				writeField(bw, tc.k, tc.v)
				if err := bw.Flush(); err != nil {
					t.Fatal(err)
				}
				if got := strings.TrimPrefix(out.String(), "0123456789"); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			})
		}
	}
}

func TestWriteFieldsDropsInvalidNames(t *testing.T) {
	s := &Server{}
	s.init()
	var out strings.Builder
	c := &conn{srv: s, bw: bufio.NewWriter(&out)}
	c.w.c = c
	c.w.hdr = http.Header{"Bad Name": {"x"}, "Bad:Name": {"x"}, "": {"x"}, "X-Ok": {"1", "2\r\n"},
		"Transfer-Encoding": {"gzip"}, http.TrailerPrefix + "X-T": {"t"}}
	c.w.status = http.StatusOK
	c.w.writeFields(true)
	if err := c.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "X-Ok: 1\r\nX-Ok: 2  \r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCleanValue(t *testing.T) {
	for in, want := range map[string]string{"": "", "a b": "a b", "a\rb": "a b", "\r\n": "  ", "x\n": "x "} {
		if got := cleanValue(in); got != want {
			t.Errorf("cleanValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDate checks the cached Date field against the clock, across the
// change of a second.
func TestDate(t *testing.T) {
	s := &Server{}
	s.init()
	first := string(s.date())
	deadline := time.Now().Add(3 * time.Second)
	for {
		before := time.Now().UTC().Truncate(time.Second)
		got := string(s.date())
		after := time.Now().UTC().Truncate(time.Second)
		if before.Equal(after) {
			if want := "Date: " + before.Format(http.TimeFormat) + "\r\n"; got != want {
				t.Fatalf("date() = %q, want %q", got, want)
			}
			if got != first {
				return // the second changed and the field with it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Date field %q never changed", first)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
