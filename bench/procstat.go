package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcStat is the part of /proc/PID/stat the harness uses.
type ProcStat struct {
	PPID         int
	UTime, STime uint64 // clock ticks
}

// ErrProcFormat means a /proc file did not have the expected layout.
var ErrProcFormat = errors.New("unexpected /proc format")

// ParseProcStat parses the text of /proc/PID/stat. The command name (field
// 2) may hold spaces and parentheses, so fields are counted after its last
// ')'.
func ParseProcStat(text string) (ProcStat, error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("%w: stat without ')'", ErrProcFormat)
	}
	f := strings.Fields(text[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("%w: stat has %d fields after the name", ErrProcFormat, len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return ProcStat{}, fmt.Errorf("%w: stat: %w", ErrProcFormat, err)
	}
	return ProcStat{PPID: ppid, UTime: ut, STime: st}, nil
}

// ParseStatusKB returns the value in KiB of a "Name:   123 kB" line of
// /proc/PID/status.
func ParseStatusKB(text, name string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %w", ErrProcFormat, name, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: no %s line", ErrProcFormat, name)
}

// Tree is a process and its descendants, the unit the harness measures (an
// nginx master and its worker; a single Go process).
type Tree struct {
	Root int
	// ClockTicks is the kernel's USER_HZ; zero means 100.
	ClockTicks int
}

// PIDs lists the root and every live descendant.
func (t Tree) PIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // the process ended while we looked
		}
		children[st.PPID] = append(children[st.PPID], pid)
	}
	pids := []int{t.Root}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	return pids, nil
}

// CPU returns the user+system CPU time the tree's live processes used.
func (t Tree) CPU() (time.Duration, error) {
	pids, err := t.PIDs()
	if err != nil {
		return 0, err
	}
	var ticks uint64
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			return 0, err
		}
		ticks += st.UTime + st.STime
	}
	hz := t.ClockTicks
	if hz <= 0 {
		hz = 100
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz), nil
}

// HWM returns the sum of the tree's peak resident set sizes (VmHWM) in
// bytes.
func (t Tree) HWM() (int64, error) {
	pids, err := t.PIDs()
	if err != nil {
		return 0, err
	}
	var kb int64
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			return 0, fmt.Errorf("read status of %d: %w", pid, err)
		}
		n, err := ParseStatusKB(string(b), "VmHWM")
		if err != nil {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
		kb += n
	}
	return kb << 10, nil
}

func readStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	return ParseProcStat(string(b))
}

// ClockTicks asks getconf for USER_HZ, the unit of /proc/PID/stat times,
// and falls back to 100 (every Linux architecture Go supports) on error.
func ClockTicks(ctx context.Context) int {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 {
		return 100
	}
	return n
}

// LoadAverage returns the one-minute load average, or -1 when unreadable.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
