package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/persist"
	"github.com/edgegate/edgegate/provisioning"
)

// restoreSnapshot serves the last good snapshot, before any network call,
// when its source is one of sources. Problems are logged and flagged; they
// never stop the start.
func (n *node) restoreSnapshot(sources ...string) *configState {
	snap, err := n.db.LoadSnapshot()
	if err != nil && snap != nil {
		// The latest snapshot was damaged and set aside; persist fell back to
		// the one before it. Serve that, and say so.
		n.log.Warn("the latest configuration snapshot was damaged and set aside; serving the previous one", "revision", snap.Revision, "err", err)
		n.status.update(func(s *SyncStatus) {
			if s.SnapshotRecovered == "" {
				s.SnapshotRecovered = "latest snapshot set aside, serving the previous one: " + err.Error()
			}
		})
		n.status.flag("latest snapshot set aside, serving the previous one: " + err.Error())
		err = nil
	}
	if err == nil && !slices.Contains(sources, snap.Source) {
		n.log.Info("the snapshot is from another source and is not used", "source", snap.Source, "revision", snap.Revision)
		return nil
	}
	switch {
	case errors.Is(err, persist.ErrNoSnapshot):
		n.log.Info("no snapshot yet; not ready until the first configuration arrives")
		return nil
	case err != nil:
		n.log.Error("the configuration snapshot is unusable and was ignored; waiting for the cloud gate", "err", err)
		n.status.update(func(s *SyncStatus) {
			if s.SnapshotRecovered == "" {
				s.SnapshotRecovered = err.Error()
			}
		})
		n.status.flag("snapshot ignored: " + err.Error())
		return nil
	}
	st, err := stateFromParts(snap.Revision, snap.Organization, snap.Environment, snap.APIs, snap.Subscriptions)
	if err == nil {
		err = n.app.apply(st, SourceSnapshot)
	}
	if err != nil {
		n.log.Error("the configuration snapshot does not compile and was ignored; waiting for the cloud gate", "revision", snap.Revision, "err", err)
		n.status.flag("snapshot ignored: " + err.Error())
		return nil
	}
	n.log.Info("serving the snapshot until the cloud gate answers", "revision", snap.Revision, "savedAt", snap.SavedAt)
	return st
}

// parts are the goroutine-owning components started by serve.
type parts struct {
	syncer  *Syncer
	local   *LocalSource
	up      *Uploader
	licDone chan struct{}
	cancel  context.CancelFunc
}

// serve starts everything, blocks until ctx is done or the listeners fail,
// and shuts down in order.
func (n *node) serve(ctx context.Context, lic *licenseGuard) error {
	admin, err := n.adminListen()
	if err != nil {
		return err
	}
	p, err := n.start(ctx, lic)
	if err != nil {
		return errors.Join(err, admin.Close())
	}
	srv, adminDone, err := n.serveAdmin(admin, p)
	if err != nil {
		n.stop(p, nil)
		return errors.Join(err, admin.Close())
	}
	if n.opts.Ready != nil {
		n.opts.Ready(admin.Addr().String())
	}
	n.log.Info("serving APIs", "listen", n.opts.Listen, "tlsListen", n.opts.TLSListen, "gatewayId", n.gatewayID())
	serveErr := n.gw.Serve(ctx, gateway.Listeners{
		HTTP: n.opts.Listen, TLS: n.opts.TLSListen, CertFile: n.opts.TLSCert, KeyFile: n.opts.TLSKey,
		HTTPListener: n.opts.HTTPListener, HTTP1Engine: n.opts.HTTP1Engine,
	})
	n.stop(p, srv)
	<-adminDone
	switch {
	case serveErr == nil:
	case ctx.Err() == nil:
		return fmt.Errorf("listeners: %w", serveErr)
	default:
		n.log.Warn("the listeners did not shut down cleanly", "err", serveErr)
	}
	return nil
}

// start brings up the configuration source, the report writer and uploader.
func (n *node) start(ctx context.Context, lic *licenseGuard) (*parts, error) {
	p := &parts{}
	var bg context.Context
	bg, p.cancel = context.WithCancel(context.Background())
	n.rep.Start()
	if n.token != nil {
		if err := n.connect(); err != nil {
			p.cancel()
			n.rep.Shutdown()
			return nil, err
		}
		p.up = newUploader(n.rep, n.client, n.gatewayID(), n.log)
		p.up.Start(bg)
	}
	if lic != nil {
		p.licDone = make(chan struct{})
		go lic.run(bg, p.licDone)
	}
	if n.opts.APIsDir != "" {
		// The directory's last good configuration first, in case the
		// directory cannot be read now (a share not mounted yet).
		var rev int64
		if st := n.restoreSnapshot(SourceLocal); st != nil {
			rev = st.Revision
		}
		p.local = newLocalSource(n.opts.APIsDir, n.app, n.status, n.log, rev)
		if err := p.local.Load(); err != nil {
			n.log.Error("some api definitions were refused", "err", err)
			n.status.failed(err, time.Now(), time.Time{})
		}
		p.local.Start(bg)
		return p, nil
	}
	cur := n.restoreSnapshot(SourceGate)
	p.syncer = newSyncer(n.client, n.app, n.status, n.log, cur)
	p.syncer.Start(bg)
	return p, nil
}

// connect builds the gate client from the token.
func (n *node) connect() error {
	if err := n.token.Check(time.Now()); errors.Is(err, provisioning.ErrTokenExpired) {
		n.log.Error("the cloud token has expired: the gate will refuse it; serving the snapshot meanwhile", "err", err)
	}
	base := n.token.GateURL(n.opts.GateDomain)
	c, err := NewGateClient(base, n.token.Raw, n.token.Claims.GateCA, n.identity)
	if err != nil {
		return fmt.Errorf("cloud gate: %w", err)
	}
	n.client = c
	n.status.update(func(s *SyncStatus) { s.Gate, s.Environment = base, n.env })
	n.log.Info("cloud gate", "url", base, "org", n.token.Claims.Org, "environment", n.env, "gatewayId", n.gatewayID(), "pinned", n.token.Claims.GateCA != "")
	return nil
}

// serveAdmin runs the node API on l until stop shuts the server down.
func (n *node) serveAdmin(l net.Listener, p *parts) (*http.Server, chan struct{}, error) {
	// Ready for traffic: a configuration is loaded and the data listeners
	// are bound, so a client that waited for /_node/ready is never refused.
	ready := func() bool { return n.gw.Ready() && n.gw.Listening() }
	api := &nodeAPI{ready: ready, status: n.status, rep: n.rep, up: p.up, provisioningDir: filepath.Join(n.opts.DataDir, "provisioning")}
	m, err := newMetrics(api)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	api.metrics = m
	srv := &http.Server{
		Handler:           api.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("node API stopped", "err", err)
		}
	}()
	n.log.Info("node API listening", "addr", l.Addr().String())
	return srv, done, nil
}

// stop shuts everything down in order: configuration sources, the license
// guard and the uploader; then the queue is flushed into the spool, one
// bounded upload is tried and the node API closes.
func (n *node) stop(p *parts, admin *http.Server) {
	if p.syncer != nil {
		p.syncer.Shutdown()
	}
	if p.local != nil {
		p.local.Shutdown()
	}
	p.cancel()
	if p.licDone != nil {
		<-p.licDone
	}
	if p.up != nil {
		p.up.Shutdown()
	}
	n.rep.Shutdown()
	st := n.db.SpoolStats()
	n.log.Info("report queue flushed into the spool", "spooled", st.Records)
	switch {
	case p.up == nil || st.Records == 0:
	case p.up.failing.Load():
		n.log.Info("the cloud gate is unreachable; the spooled records wait for the next start", "spooled", st.Records)
	default:
		d := n.opts.ShutdownUpload
		if d <= 0 {
			d = 3 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		if err := p.up.Flush(ctx); err != nil {
			n.log.Info("last report upload did not finish; the records stay in the spool for the next start", "err", err)
		}
		cancel()
	}
	if n.client != nil {
		n.client.Close()
	}
	if admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := admin.Shutdown(ctx); err != nil {
			n.log.Warn("node API shutdown", "err", err)
		}
		cancel()
	}
}
