package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a server the harness started, in its own process group so
// that stopping it also stops the children it forked (nginx workers).
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result, set before done is closed
}

// startProcess runs argv with its output in dir/name.log. cpu >= 0 pins it
// to that CPU with taskset (which execs argv, so the PID stays argv's).
func startProcess(name, dir string, cpu int, env []string, argv ...string) (*process, error) {
	if cpu >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start %s: %w", name, err), logf.Close())
	}
	p := &process{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = cmd.Wait()
	}()
	return p, nil
}

// pid is the process's id, the root of the tree the harness measures.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, and SIGKILL to the whole group
// (children included) if the process has not ended after grace. It waits for
// the process and returns the log file's close error, if any. The group is
// never signalled after the process was reaped, when its id could belong to
// someone else.
func (p *process) stop(grace time.Duration) error {
	pgid := -p.cmd.Process.Pid
	if !p.exited() {
		if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: %w", p.name, err)
		}
		select {
		case <-p.done:
		case <-time.After(grace):
			if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill %s: %w", p.name, err)
			}
			<-p.done
		}
	}
	return p.log.Close()
}

// waitHTTP polls url until it answers 200, the process ends, or timeout.
func waitHTTP(ctx context.Context, p *process, url, header string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before serving (%v); see %s", p.name, p.err, p.log.Name())
		}
		last = getOK(ctx, client, url, header)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not serving %s after %v: %w", nameOf(p), url, timeout, last)
}

func nameOf(p *process) string {
	if p == nil {
		return "target"
	}
	return p.name
}

func getOK(ctx context.Context, client *http.Client, url, header string) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if header != "" {
		k, v, _ := cutHeader(header)
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return nil
}

// cutHeader splits "Name: value".
func cutHeader(h string) (name, value string, ok bool) {
	k, v, ok := strings.Cut(h, ":")
	return strings.TrimSpace(k), strings.TrimSpace(v), ok
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Another program could take it before the target binds it; the
// target then fails to start with a clear error.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}
