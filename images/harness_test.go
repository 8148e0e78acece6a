package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/syncbuf"
)

// repoRoot is the module root (tests run in images/).
const repoRoot = ".."

// requireTools fails the test (never skips) when a tool is missing: make
// test installs them.
func requireTools(t testing.TB, tools map[string]string) {
	t.Helper()
	for tool, pkg := range tools {
		if strings.HasPrefix(tool, "/") {
			if _, err := os.Stat(tool); err != nil {
				t.Fatalf("%s is missing: apt-get install %s (make test installs it)", tool, pkg)
			}
			continue
		}
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install %s (make test installs it)", tool, pkg)
		}
	}
}

var imageTools = map[string]string{"mksquashfs": "squashfs-tools", "mkfs.ext4": "e2fsprogs", SystemdBootEFI: "systemd-boot-efi"}

// imageCache builds each test image once per test binary run.
type imageCache struct {
	mu     sync.Mutex
	dir    string
	built  map[string]*Result
	failed map[string]error
}

var images = &imageCache{built: map[string]*Result{}, failed: map[string]error{}}

// testEpoch is the fixed SOURCE_DATE_EPOCH of test builds.
var testEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// build returns the image named name, building it with opts on first use.
func (c *imageCache) build(t testing.TB, name string, opts Options) *Result {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.built[name]; ok {
		return r
	}
	if err, ok := c.failed[name]; ok {
		t.Fatalf("image %s: %v", name, err)
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "edgegate-images-test")
		if err != nil {
			t.Fatal(err)
		}
		c.dir = d
	}
	opts.Dir = repoRoot
	opts.OutDir = filepath.Join(c.dir, name)
	if opts.PasswordFile == "" {
		opts.PasswordFile = filepath.Join(c.dir, "gokr-pw.txt")
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = testEpoch
	}
	var log bytes.Buffer
	opts.Log = &log
	start := time.Now()
	r, err := Build(context.Background(), opts)
	if err != nil {
		c.failed[name] = err
		t.Fatalf("build image %s: %v\n%s", name, err, log.String())
	}
	t.Logf("built image %s (%s) in %.1fs", name, r.BuildID, time.Since(start).Seconds())
	c.built[name] = r
	return r
}

func TestMain(m *testing.M) {
	code := m.Run()
	if images.dir != "" {
		os.RemoveAll(images.dir)
	}
	os.Exit(code)
}

// hostBinaries builds cmd/edgegate and cmd/cloudgate for the host.
func hostBinaries(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/edgegate", "./cmd/cloudgate")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build host binaries: %v\n%s", err, out)
	}
	return dir
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// child is a process owned by a test, stopped in its cleanup.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

func startChild(t testing.TB, name string, out io.Writer, argv ...string) *child {
	t.Helper()
	c := &child{name: name, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	w := io.Writer(c.out)
	if out != nil {
		w = io.MultiWriter(c.out, out)
	}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = c.cmd.Wait() // the exit status is not interesting: the test stops it
		close(c.done)
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

// stop sends SIGTERM to the child's process group and waits (SIGKILL after 15 s).
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM) // the group may be gone already
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls f every interval until it succeeds or within passes.
func eventually(t testing.TB, within, interval time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(interval)
	}
}

// run runs a command and returns its trimmed stdout.
func run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := runErr(argv...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return out
}

func runErr(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%w\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// httpGet does one GET with a short timeout.
func httpGet(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// lineWatcher lets a test wait for a line in a growing log.
type lineWatcher struct{ buf *syncbuf.Buffer }

func (w lineWatcher) count(substr string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(w.buf.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}
