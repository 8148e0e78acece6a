package bench

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want ProcStat
	}{
		{"nginx worker", "4242 (nginx) S 4241 4241 4241 0 -1 4194624 200 0 0 0 1234 567 0 0 20 0 1 0 9999 12345678 900 18446744073709551615\n",
			ProcStat{PPID: 4241, UTime: 1234, STime: 567}},
		{"name with spaces and parens", "77 (a b) (c)) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1\n",
			ProcStat{PPID: 1, UTime: 5, STime: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcStat(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseProcStat = %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "12 nginx S 1 2 3", "1 (x) S 1 2", "1 (x) S p 1 1 0 -1 0 0 0 0 0 5 6 0"} {
		if _, err := ParseProcStat(bad); !errors.Is(err, ErrProcFormat) {
			t.Errorf("ParseProcStat(%q) error = %v, want ErrProcFormat", bad, err)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tnginx\nVmPeak:\t   20000 kB\nVmHWM:\t    13312 kB\nVmRSS:\t    12000 kB\n"
	for _, tc := range []struct {
		name, field string
		want        int64
		err         error
	}{
		{"hwm", "VmHWM", 13312, nil},
		{"rss", "VmRSS", 12000, nil},
		{"missing", "VmSwap", 0, ErrProcFormat},
		{"not a number", "Name", 0, ErrProcFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatusKB(status, tc.field)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("ParseStatusKB(%s) = %d, %v; want %d, %v", tc.field, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("4242 (nginx) S 4241 4241 4241 0 -1 4194624 200 0 0 0 1234 567 0 0 20 0 1 0 9999 1 1 1\n")
	f.Add("1 ()) R 0 0 0 0 0 0 0 0 0 0 0 0")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseProcStat(s); err != nil && !errors.Is(err, ErrProcFormat) {
			t.Fatalf("error %v is not ErrProcFormat", err)
		}
	})
}

// TestTree measures a real process tree: this test process and a child it
// starts.
func TestTree(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := child.Process.Kill(); err != nil {
			t.Error(err)
		}
		if err := child.Wait(); err == nil {
			t.Error("killed child exited cleanly")
		}
	})
	tree := Tree{Root: os.Getpid()}
	pids, err := tree.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) < 2 || pids[0] != os.Getpid() || !containsInt(pids, child.Process.Pid) {
		t.Errorf("PIDs = %v, want this process %d first and the child %d", pids, os.Getpid(), child.Process.Pid)
	}
	if _, err := tree.CPU(); err != nil {
		t.Error(err)
	}
	hwm, err := tree.HWM()
	if err != nil {
		t.Fatal(err)
	}
	if hwm < 1<<20 {
		t.Errorf("HWM = %d bytes, want at least 1 MiB for a Go test binary", hwm)
	}
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
