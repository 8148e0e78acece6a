package controlplane

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/persist"
	"github.com/edgegate/edgegate/provisioning"
)

// ErrNotConfigured is returned by Run when it has nothing to serve: no Cloud
// Token and license (given or kept in the state) and no APIs directory. A
// supervisor should not restart the gateway (exit code 125).
var ErrNotConfigured = errors.New("edgegate is not configured")

// Credential kinds kept in the state.
const (
	CredentialToken   = "cloud-token"
	CredentialLicense = "license"
)

// StateFile is the bbolt file under the data directory.
const StateFile = "edgegate.db"

// Options configure Run. The zero value of a field means its documented
// default; DataDir is required.
type Options struct {
	DataDir   string // holds StateFile
	Listen    string // plain HTTP (HTTP/1.1 and h2c); "" disables
	TLSListen string // TLS (HTTP/1.1, HTTP/2, HTTP/3); needs TLSCert and TLSKey
	TLSCert   string
	TLSKey    string
	// HTTP1Engine serves HTTP/1.1 on Listen: gateway.HTTP1EngineLean (the
	// default, "") or gateway.HTTP1EngineNetHTTP.
	HTTP1Engine string
	AdminListen string // node API; "" means 127.0.0.1:18082
	// SpoolMaxBytes bounds the report spool (drop-oldest beyond it, counted
	// and reported); 0 means persist's default (256 MiB), or
	// LocalSpoolMaxBytes with APIsDir.
	SpoolMaxBytes int64
	APIsDir       string // local mode when set

	TokenText   string // the Cloud Token as provisioned; "" to use the state's copy
	LicenseText string // the license.key text; "" to use the state's copy
	// LicenseKeys are trusted to sign licenses in addition to the token's lpk.
	LicenseKeys []ed25519.PublicKey
	Environment string // chosen among the token's envs; "" when it has one
	GateDomain  string // for tokens without a gate claim; "" means the default

	Version  string
	Hostname string // reported to the gate; "" means os.Hostname
	Logger   *slog.Logger
	// QueueSize bounds the in-memory report queue; 0 means DefaultQueueSize.
	QueueSize int
	// ShutdownUpload bounds the last upload attempt on shutdown; 0 means 3s.
	ShutdownUpload time.Duration
	// HTTPListener, when set, replaces Listen with an open listener (tests).
	HTTPListener net.Listener
	// Ready, when set, is called with the admin listener's address once the
	// node API is listening (tests).
	Ready func(adminAddr string)
}

// node is one running gateway with its parts.
type node struct {
	opts   Options
	log    *slog.Logger
	db     *persist.DB
	status *status
	gw     *gateway.Gateway
	rep    *Reporter
	app    *applier

	token  *provisioning.Token // nil in pure local mode
	env    string
	client *GateClient
}

// LocalSpoolMaxBytes bounds the report spool in --apis-dir mode, where no
// gate takes the records: they are kept (drop-oldest beyond the bound) for a
// later switch to a gate, but they must not grow the state file and its
// mapped pages to the 256 MiB a connected gateway may need for an outage.
const LocalSpoolMaxBytes = 16 << 20

// stateOptions are the persist options for opts: SpoolMaxBytes when set,
// else LocalSpoolMaxBytes in local mode, else persist's defaults.
func stateOptions(opts Options) *persist.Options {
	switch {
	case opts.SpoolMaxBytes > 0:
		return &persist.Options{MaxSpoolBytes: opts.SpoolMaxBytes}
	case opts.APIsDir != "":
		return &persist.Options{MaxSpoolBytes: LocalSpoolMaxBytes}
	}
	return nil
}

// Run runs the gateway until ctx is done, then shuts it down cleanly:
// listeners drain, queued reports are committed to the spool, one last
// upload is tried, and the state is closed. It returns nil after a clean
// shutdown, an error wrapping ErrNotConfigured when there is nothing to serve,
// and any other error when the gateway cannot run.
func Run(ctx context.Context, opts Options) error {
	n := &node{opts: opts, log: opts.Logger, status: &status{}}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	db, err := persist.Open(filepath.Join(opts.DataDir, StateFile), stateOptions(opts))
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	n.db = db
	err = n.run(ctx)
	if cerr := db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close state: %w", cerr)
	}
	return err
}

func (n *node) run(ctx context.Context) error {
	if r := n.db.Recovered(); r != "" {
		n.log.Error("the state file was damaged and set aside; starting with a new one", "detail", r)
		n.status.update(func(s *SyncStatus) { s.SnapshotRecovered = r })
		n.status.flag("state file recovered: " + r)
	}
	lic, err := n.credentials()
	if err != nil {
		return err
	}
	if err := n.newGateway(); err != nil {
		return err
	}
	if lic != nil {
		lic.gw = n.gw
		lic.check(time.Now())
	}
	return n.serve(ctx, lic)
}

func (n *node) newGateway() error {
	n.rep = NewReporter(n.db, n.log, n.opts.QueueSize)
	gw, err := gateway.New(gateway.Options{GatewayID: n.gatewayID(), Recorder: n.rep, Logger: n.log, Counters: n.db})
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	n.gw = gw
	n.app = &applier{gw: gw, db: n.db, log: n.log, status: n.status, now: time.Now}
	return nil
}

func (n *node) gatewayID() string {
	if n.token != nil && n.token.Claims.GatewayID != "" {
		return n.token.Claims.GatewayID
	}
	return "edgegate-" + n.hostname()
}

func (n *node) hostname() string {
	if n.opts.Hostname != "" {
		return n.opts.Hostname
	}
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// identity returns the headers every gate request carries.
func (n *node) identity() http.Header {
	h := http.Header{}
	h.Set(wire.HeaderGatewayID, n.gatewayID())
	h.Set(wire.HeaderGatewayVersion, n.opts.Version)
	h.Set(wire.HeaderGatewayHostname, n.hostname())
	h.Set(wire.HeaderRevision, strconv.FormatInt(n.status.revision(), 10))
	h.Set(wire.HeaderSpooled, strconv.Itoa(int(n.db.SpoolStats().Records)))
	return h
}

// adminListen opens the node API listener.
func (n *node) adminListen() (net.Listener, error) {
	addr := n.opts.AdminListen
	if addr == "" {
		addr = "127.0.0.1:18082"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen %s: %w", addr, err)
	}
	return l, nil
}
