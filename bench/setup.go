package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// tools are the programs the harness runs and the Debian packages that
// provide them.
var tools = []struct{ cmd, pkg string }{
	{"nginx", "nginx"},
	{"haproxy", "haproxy"},
	{"caddy", "caddy"},
	{"wrk", "wrk"},
	{"taskset", "util-linux"},
	{"getconf", "libc-bin"},
}

// ErrMissingTools means programs the benchmark needs are not installed and
// the harness may not (or cannot) install them.
var ErrMissingTools = errors.New("missing programs")

// EnsureTools installs the missing programs with apt-get when install is
// set and the harness runs as root; otherwise it names what is missing.
func EnsureTools(ctx context.Context, install bool, log io.Writer) error {
	var missing, pkgs []string
	for _, t := range tools {
		if _, err := exec.LookPath(t.cmd); err != nil {
			missing, pkgs = append(missing, t.cmd), append(pkgs, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	hint := "apt-get install " + strings.Join(pkgs, " ")
	if !install {
		return fmt.Errorf("%w: %s (install with: %s)", ErrMissingTools, strings.Join(missing, ", "), hint)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s; not root, so run as root: %s", ErrMissingTools, strings.Join(missing, ", "), hint)
	}
	fmt.Fprintf(log, "installing %s\n", strings.Join(pkgs, " "))
	for _, args := range [][]string{
		{"update", "-q"},
		append([]string{"install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"}, pkgs...),
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", args[0], err, clip(string(out)))
		}
	}
	return nil
}

// PinSelf pins every thread of the running process to cpu (new threads
// inherit it) and gives the Go scheduler that one core.
func PinSelf(ctx context.Context, cpu int) error {
	out, err := exec.CommandContext(ctx, "taskset", "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pin the harness to CPU %d: %w: %s", cpu, err, out)
	}
	runtime.GOMAXPROCS(1)
	return nil
}

// moduleRoot finds the edgegate module's directory with `go env GOMOD`.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the edgegate module: run the benchmark from the repository")
	}
	return filepath.Dir(mod), nil
}

// goTool finds the go command in PATH.
func goTool() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command builds the measured programs: %w", err)
	}
	return p, nil
}

// build compiles the package pkg of the module at root into out.
func build(ctx context.Context, goCmd, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, clip(string(b)))
	}
	return nil
}

// versions returns the first line each proxy prints about its version.
func versions(ctx context.Context) map[string]string {
	m := map[string]string{}
	for name, argv := range map[string][]string{
		Nginx: {"nginx", "-v"}, HAProxy: {"haproxy", "-v"}, Caddy: {"caddy", "version"}, "wrk": {"wrk", "-v"},
	} {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if line == "" && err != nil {
			line = "unknown: " + err.Error()
		}
		m[name] = line
	}
	m["go"] = runtime.Version()
	return m
}
