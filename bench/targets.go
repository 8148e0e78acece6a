package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// Target names, in the order the table lists them.
const (
	Direct           = "direct"
	Nginx            = "nginx"
	HAProxy          = "haproxy"
	Caddy            = "caddy"
	HTTPUtil         = "httputil"
	Edgegate         = "edgegate"
	EdgegateAPIKey   = "edgegate-apikey"
	Edgegate1000APIs = "edgegate-1000apis"
)

// AllTargets lists every target the harness knows, in table order.
var AllTargets = []string{Direct, Nginx, HAProxy, Caddy, HTTPUtil, Edgegate, EdgegateAPIKey, Edgegate1000APIs}

// ManyAPIs is how many APIs the Edgegate1000APIs target deploys.
const ManyAPIs = 1000

// Target is one thing measured: a server in front of the backend, or the
// backend itself (Direct).
type Target struct {
	Name   string
	Addr   string // host:port the load goes to
	Path   string // request path
	Header string // extra request header, or ""
	proc   *process
	aux    *process // a helper the target needs (its Cloud Gate), or nil
	tree   Tree
}

// URL is the address the load generators request.
func (t *Target) URL() string { return "http://" + t.Addr + t.Path }

// measured reports whether the target has a process of its own to measure
// (every target but Direct).
func (t *Target) measured() bool { return t.proc != nil }

// env is what starting a target needs.
type env struct {
	dir        string // work directory
	backend    string // backend host:port
	proxyCPU   int    // -1: no pinning
	benchproxy string // binary of bench/cmd/benchproxy
	edgegate   string // binary of cmd/edgegate, "" when unavailable
	cloudgate  string // binary of cmd/cloudgate, "" when unavailable
	hz         int
	log        io.Writer
}

// goEnv makes a Go server use exactly the one core it is pinned to.
var goEnv = []string{"GOMAXPROCS=1"}

// startTarget starts the named target and waits until it serves.
func startTarget(ctx context.Context, e env, name string) (*Target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	t := &Target{Name: name, Addr: addr, Path: "/bench/"}
	dir, err := site(e.dir, name)
	if err != nil {
		return nil, err
	}
	switch name {
	case Direct:
		t.Addr = e.backend
		return t, nil
	case Nginx:
		t.proc, err = startNginx(ctx, name, dir, e.proxyCPU, NginxProxyConfig(dir, addr, e.backend), t.URL())
	case HAProxy:
		t.proc, err = startServer(ctx, name, dir, e.proxyCPU, nil, t.URL(), "", "haproxy.cfg", HAProxyConfig(addr, e.backend),
			"haproxy", "-db", "-f", filepath.Join(dir, "haproxy.cfg"))
	case Caddy:
		env := append([]string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}, goEnv...)
		t.proc, err = startServer(ctx, name, dir, e.proxyCPU, env, t.URL(), "", "Caddyfile", CaddyConfig(addr, e.backend),
			"caddy", "run", "--adapter", "caddyfile", "--config", filepath.Join(dir, "Caddyfile"))
	case HTTPUtil:
		t.proc, err = startServer(ctx, name, dir, e.proxyCPU, goEnv, t.URL(), "", "", "",
			e.benchproxy, "-listen", addr, "-upstream", "http://"+e.backend)
	case Edgegate, EdgegateAPIKey, Edgegate1000APIs:
		err = startEdgegate(ctx, e, t, dir)
	default:
		return nil, fmt.Errorf("unknown target %q (known: %v)", name, AllTargets)
	}
	if err != nil {
		if t.aux != nil {
			if serr := t.aux.stop(2 * time.Second); serr != nil {
				err = fmt.Errorf("%w (and %w)", err, serr)
			}
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	t.tree = Tree{Root: t.proc.pid(), ClockTicks: e.hz}
	return t, nil
}

// startServer writes an optional configuration file and runs argv until it
// answers probe.
func startServer(ctx context.Context, name, dir string, cpu int, env []string, probe, header, confName, conf string, argv ...string) (*process, error) {
	if confName != "" {
		if err := writeFile(filepath.Join(dir, confName), conf); err != nil {
			return nil, err
		}
	}
	p, err := startProcess(name, dir, cpu, env, argv...)
	if err != nil {
		return nil, err
	}
	return p, waitOrStop(ctx, p, probe, header)
}

// startEdgegate runs `edgegate run`: with --apis-dir for the keyless
// targets, and provisioned by a Cloud Gate for the api-key target.
func startEdgegate(ctx context.Context, e env, t *Target, dir string) error {
	if e.edgegate == "" {
		return fmt.Errorf("no edgegate binary (see the build error)")
	}
	dataDir, err := site(dir, "data")
	if err != nil {
		return err
	}
	admin, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{e.edgegate, "run", "--listen", t.Addr, "--admin-listen", admin, "--data-dir", dataDir}
	if t.Name == EdgegateAPIKey {
		more, err := provisionAPIKey(ctx, e, t, dir)
		if err != nil {
			return err
		}
		args = append(args, more...)
	} else {
		apisDir, err := site(dir, "apis")
		if err != nil {
			return err
		}
		if err := WriteAPIsDir(apisDir, keylessAPIs(t, e.backend)); err != nil {
			return err
		}
		args = append(args, "--apis-dir", apisDir)
	}
	t.proc, err = startServer(ctx, t.Name, dir, e.proxyCPU, goEnv, t.URL(), t.Header, "", "", args...)
	return err
}

// provisionAPIKey starts the target's Cloud Gate, deploys the api-key API
// with a subscription, sets the target's key header and returns the
// edgegate flags naming the installation details.
func provisionAPIKey(ctx context.Context, e env, t *Target, dir string) ([]string, error) {
	if e.cloudgate == "" {
		return nil, fmt.Errorf("no cloudgate binary (see the build error)")
	}
	g, err := startGate(ctx, e.cloudgate, dir)
	if err != nil {
		return nil, err
	}
	t.aux = g.proc
	gw := filepath.Join(dir, "installation")
	key, err := g.provision(ctx, APIKeyAPI("bench-apikey", "/bench", e.backend), gw)
	if err != nil {
		return nil, err
	}
	t.Header = "X-Gravitee-Api-Key: " + key
	return []string{"--cloud-token-file", filepath.Join(gw, "cloud-token"), "--license-file", filepath.Join(gw, "license.key")}, nil
}

// keylessAPIs is what a keyless edgegate target deploys; it also sets the
// target's request path.
func keylessAPIs(t *Target, backend string) []*apidef.API {
	if t.Name != Edgegate1000APIs {
		return []*apidef.API{KeylessAPI("bench-keyless", "/bench", backend, false)}
	}
	apis := make([]*apidef.API, ManyAPIs)
	for i := range apis {
		n := strconv.Itoa(i)
		apis[i] = KeylessAPI("bench-api-"+n, "/api-"+n, backend, false)
	}
	t.Path = "/api-" + strconv.Itoa(ManyAPIs/2) + "/"
	return apis
}
