// Package server is the Cloud Gate's HTTPS server: the gateway endpoints
// GET /sync and POST /reports (authenticated by Cloud Tokens; see
// docs/protocol.md and package wire), the operators' management API under
// /management/v1/ (authenticated by the admin token; see
// docs/architecture.md), the web console at /console/ and an unauthenticated
// GET /healthz.
//
// # Basics
//
// Open loads or creates the gate's keys and certificates (package pki) and
// its store (package store) in the data directory; Serve runs HTTPS on a
// listener until its context ends, then shuts down gracefully: held long
// polls are answered 204 at once and in-flight requests get up to
// ShutdownTimeout to finish.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/cloudgate/console"
	"github.com/edgegate/edgegate/cloudgate/pki"
	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/cloudgate/wire"
)

// DBFile is the store's file name inside the data directory.
const DBFile = "cloudgate.db"

// ShutdownTimeout is how long Serve waits for in-flight requests on shutdown.
const ShutdownTimeout = 10 * time.Second

// OnlineWindow is how recently a gateway must have called to count as online:
// a held long poll plus a margin.
const OnlineWindow = (wire.MaxWait + 30) * time.Second

// Options configure a Server. Zero fields take the documented defaults.
type Options struct {
	// DataDir holds the keys, certificates, admin token and database. Required.
	DataDir string
	// PublicURL is the https URL that tokens name for this gate (the gate
	// claim). Required.
	PublicURL string
	// ListenHost is the host of the listen address; it goes into the server
	// certificate.
	ListenHost string
	// Geo is the cpg claim of issued tokens; "" means "local".
	Geo string
	// TokenTTL is the validity of issued Cloud Tokens; 0 means one year.
	TokenTTL time.Duration
	// LicenseTTL is the validity of issued licenses; 0 means one year.
	LicenseTTL time.Duration
	// LicenseTier is the tier of issued licenses; "" means "universe".
	LicenseTier string
	// LicenseFeatures are the features of issued licenses.
	LicenseFeatures []string
	// Log receives the startup lines (what was created where); nil discards.
	Log io.Writer
	// Logger logs requests problems; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DownloadsDir, when set, is offered by the console at
	// /console/downloads/ (appliance images for the Deploy Gateway wizard).
	DownloadsDir string
	// Store tunes the database; nil means its defaults.
	Store *store.Options
	// AnalyticsRetention is how long request records are kept; 0 means 90
	// days, a negative value keeps them forever. Older records are deleted
	// at start and every PruneInterval while Serve runs.
	AnalyticsRetention time.Duration
	// MaxWaiters bounds the /sync long polls held at once; 0 means 10000.
	// Beyond it a poll that would wait is answered 503 with Retry-After, so
	// the gateway backs off instead of spinning.
	MaxWaiters int
}

// Server is a Cloud Gate.
type Server struct {
	opts  Options
	pki   *pki.Material
	store *store.Store
	log   *slog.Logger
	now   func() time.Time

	// waiting counts held long polls (bounded by opts.MaxWaiters).
	waiting atomic.Int64

	// stopping is closed when Serve starts shutting down, to end long polls.
	stopping chan struct{}
	stopOnce sync.Once
}

// Open prepares a gate in opts.DataDir, creating its keys, certificates and
// database on first use.
func Open(opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("cloudgate: a data directory is required (--data-dir)")
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cloudgate: public URL %q must be https://host[:port]", opts.PublicURL)
	}
	fillDefaults(&opts)
	m, err := pki.Load(opts.DataDir, pki.Hosts(opts.ListenHost, u.Hostname()), opts.Log)
	if err != nil {
		return nil, fmt.Errorf("cloudgate: keys and certificates: %w", err)
	}
	so := store.Options{}
	if opts.Store != nil {
		so = *opts.Store
	}
	so.Now = opts.Now
	dbPath := filepath.Join(opts.DataDir, DBFile)
	st, err := store.Open(dbPath, &so)
	if err != nil {
		return nil, fmt.Errorf("cloudgate: %w", err)
	}
	fmt.Fprintf(opts.Log, "cloudgate: database %s\n", dbPath)
	return &Server{opts: opts, pki: m, store: st, log: opts.Logger, now: opts.Now, stopping: make(chan struct{})}, nil
}

func fillDefaults(o *Options) {
	if o.Geo == "" {
		o.Geo = "local"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 365 * 24 * time.Hour
	}
	if o.LicenseTTL <= 0 {
		o.LicenseTTL = 365 * 24 * time.Hour
	}
	if o.LicenseTier == "" {
		o.LicenseTier = "universe"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AnalyticsRetention == 0 {
		o.AnalyticsRetention = 90 * 24 * time.Hour
	}
	if o.MaxWaiters <= 0 {
		o.MaxWaiters = 10000
	}
}

// Store is the gate's database (for tests and tools).
func (s *Server) Store() *store.Store { return s.store }

// PKI is the gate's keys and certificates.
func (s *Server) PKI() *pki.Material { return s.pki }

// TLSConfig is the server's TLS configuration.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.pki.Server}, MinVersion: tls.VersionTLS12}
}

// Handler routes every endpoint of the gate.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /sync", s.handleSync)
	mux.HandleFunc("POST /reports", s.handleReports)
	s.routeManagement(mux)
	mux.Handle("/console/", console.New(&console.Options{DownloadsDir: s.opts.DownloadsDir}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	return mux
}

// handleHealth answers GET /healthz (no credential): 200 "ok" when the
// store answers, 503 otherwise. Scripts wait on it after starting the gate.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Ping(); err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "store unavailable: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Serve runs HTTPS on ln until ctx is done, then shuts down gracefully and
// returns nil (or the error that stopped it).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      (wire.MaxWait + 15) * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var janitor sync.WaitGroup
	if s.opts.AnalyticsRetention > 0 {
		janitor.Go(func() { s.pruneLoop(ctx) })
	}
	defer janitor.Wait()
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		s.stopOnce.Do(func() { close(s.stopping) })
		sctx, scancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer scancel()
		done <- srv.Shutdown(sctx)
	}()
	err := srv.ServeTLS(ln, "", "")
	cancel()
	shutdownErr := <-done
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cloudgate: serve: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("cloudgate: shutdown: %w", shutdownErr)
	}
	return nil
}

// PruneInterval is how often Serve deletes analytics records older than
// Options.AnalyticsRetention.
const PruneInterval = time.Hour

// pruneBatch bounds one pruning transaction.
const pruneBatch = 10000

// pruneLoop deletes expired analytics records until ctx ends.
func (s *Server) pruneLoop(ctx context.Context) {
	t := time.NewTicker(PruneInterval)
	defer t.Stop()
	for {
		s.pruneOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce deletes what expired, a batch per transaction so gateways'
// reports are not held up behind one long write.
func (s *Server) pruneOnce(ctx context.Context) {
	before := s.now().Add(-s.opts.AnalyticsRetention).UnixMilli()
	total := 0
	for ctx.Err() == nil {
		n, err := s.store.PruneRecords(before, pruneBatch)
		total += n
		if err != nil {
			s.log.Error("prune analytics", "err", err)
			return
		}
		if n < pruneBatch {
			break
		}
	}
	if total > 0 {
		s.log.Info("pruned analytics records", "count", total, "olderThan", s.opts.AnalyticsRetention)
	}
}

// Close closes the database. Call it after Serve returned.
func (s *Server) Close() error { return s.store.Close() }
