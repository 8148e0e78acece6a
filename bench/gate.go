package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// The organization and environment the harness creates on its Cloud Gate.
const (
	gateOrg = "edgebench"
	gateEnv = "bench"
)

// gate is a Cloud Gate (cmd/cloudgate) the harness runs for the api-key
// target: `edgegate run --apis-dir` has no subscriptions, so an API key
// can only reach the gateway the production way, through /sync. The gate
// runs on the client CPU; it is not measured.
type gate struct {
	bin  string // cloudgate binary
	dir  string
	addr string
	proc *process
}

// startGate runs `cloudgate serve` in dir and waits until its management
// API answers (creating the environment is the probe).
func startGate(ctx context.Context, bin, dir string) (*gate, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	g := &gate{bin: bin, dir: dir, addr: addr}
	g.proc, err = startProcess("cloudgate", dir, -1, nil,
		bin, "serve", "--data-dir", filepath.Join(dir, "gate"), "--listen", addr, "--geo", "local")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		_, err := g.cli(ctx, "env", "create", "--org", gateOrg, "--env", gateEnv)
		if err == nil {
			return g, nil
		}
		if g.proc.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, stopAfter(g.proc, fmt.Errorf("cloud gate not serving: %w; log: %s", err, tail(g.proc.log.Name())))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cli runs an operator command against the gate and returns its stdout.
func (g *gate) cli(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--server", "https://"+g.addr, "--admin-token-file", filepath.Join(g.dir, "gate", "admin-token"))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cloudgate %s: %w: %s", strings.Join(args[:2], " "), err, clip(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// provision imports and deploys api, subscribes an application to its
// first plan, and writes installation details for one gateway into gwDir.
// It returns the subscription's API key.
func (g *gate) provision(ctx context.Context, api *apidef.API, gwDir string) (string, error) {
	file := filepath.Join(g.dir, api.ID+".json")
	if err := WriteAPI(file, api); err != nil {
		return "", err
	}
	oe := []string{"--org", gateOrg, "--env", gateEnv}
	steps := [][]string{
		append([]string{"gateway", "create", "--access-point", "http://127.0.0.1", "--out", gwDir}, oe...),
		append(append([]string{"api", "import"}, oe...), file),
	}
	for _, s := range steps {
		if _, err := g.cli(ctx, s...); err != nil {
			return "", err
		}
	}
	if _, err := g.cli(ctx, append(append([]string{"api", "deploy"}, oe...), api.ID)...); err != nil {
		return "", err
	}
	key, err := g.cli(ctx, append([]string{"key", "create", "--api", api.ID, "--plan", api.Plans[0].ID, "--application", "edgebench"}, oe...)...)
	if err != nil {
		return "", err
	}
	if key == "" || strings.ContainsAny(key, " \n") {
		return "", fmt.Errorf("cloudgate key create printed %q, want a key alone", key)
	}
	return key, nil
}

// stopAfter stops p after a failure and returns the failure.
func stopAfter(p *process, err error) error {
	if serr := p.stop(2 * time.Second); serr != nil {
		return fmt.Errorf("%w (and %w)", err, serr)
	}
	return err
}
