package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/edgegate/edgegate/cloudgate/wire"
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

// startEdgegate writes the target's definitions (and subscriptions) into
// an apis directory and runs `edgegate run --apis-dir` on it.
func startEdgegate(ctx context.Context, e env, t *Target, dir string) error {
	if e.edgegate == "" {
		return fmt.Errorf("no edgegate binary (see the build error)")
	}
	apisDir, err := site(dir, "apis")
	if err != nil {
		return err
	}
	apis, subs := edgegateConfig(t, e.backend)
	if err := WriteAPIsDir(apisDir, apis, subs); err != nil {
		return err
	}
	dataDir, err := site(dir, "data")
	if err != nil {
		return err
	}
	admin, err := freeAddr()
	if err != nil {
		return err
	}
	t.proc, err = startServer(ctx, t.Name, dir, e.proxyCPU, goEnv, t.URL(), t.Header, "", "",
		e.edgegate, "run", "--apis-dir", apisDir, "--listen", t.Addr, "--admin-listen", admin, "--data-dir", dataDir)
	return err
}

// edgegateConfig is what each edgegate target deploys; it also sets the
// target's request path and header.
func edgegateConfig(t *Target, backend string) ([]*apidef.API, []wire.Subscription) {
	switch t.Name {
	case EdgegateAPIKey:
		a := APIKeyAPI("bench-apikey", "/bench", backend)
		t.Header = "X-Gravitee-Api-Key: " + BenchAPIKey
		return []*apidef.API{a}, []wire.Subscription{APIKeySubscription(a)}
	case Edgegate1000APIs:
		apis := make([]*apidef.API, ManyAPIs)
		for i := range apis {
			n := strconv.Itoa(i)
			apis[i] = KeylessAPI("bench-api-"+n, "/api-"+n, backend, false)
		}
		t.Path = "/api-" + strconv.Itoa(ManyAPIs/2) + "/"
		return apis, nil
	default:
		return []*apidef.API{KeylessAPI("bench-keyless", "/bench", backend, false)}, nil
	}
}
