package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/gateway/apidef"
)

// Config is a whole configuration to serve.
type Config struct {
	Revision      int64
	Source        string // "gate", "snapshot" or "local"
	Organization  string
	Environment   string
	APIs          []*apidef.API
	Subscriptions []wire.Subscription
}

// Recorder receives one record per request; Record must never block and
// must not keep r after it returns (the gateway reuses it for the next
// request): copy or encode what it needs.
type Recorder interface{ Record(r *analytics.Record) }

// CounterStore keeps the quota policy's counters across restarts.
// persist.DB implements it. Counters are saved periodically and when Serve
// returns; a failed save is logged and retried at the next period.
type CounterStore interface {
	SaveCounters(bucket string, m map[string][]byte) error
	LoadCounters(bucket string) (map[string][]byte, error)
}

// Options configure a Gateway. The zero value of every field is valid and
// means the documented default.
type Options struct {
	// GatewayID is recorded in every analytics record ("gateway").
	GatewayID string
	// Recorder receives one record per request; nil drops them.
	Recorder Recorder
	// Logger logs configuration and upstream problems; nil discards.
	Logger *slog.Logger
	// Counters persists quota counters; nil keeps them in memory only.
	Counters CounterStore
	// Limits bound what clients may send; zero fields take the defaults
	// documented on Limits.
	Limits Limits
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Gateway is the data plane. Its methods are safe for concurrent use.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	rt      atomic.Pointer[Runtime]
	blocked atomic.Pointer[string]
	// listening is true while Serve's listeners are bound (connections are
	// then queued by the kernel, never refused).
	listening atomic.Bool
	ids       idGenerator
	quotas    *quotaStore
	jwksMu    sync.Mutex
	jwks      map[string]*jwksCache // by URL; shared by runtimes so caches survive swaps
	client    *http.Client          // JWKS fetches
	bufs      sync.Pool
	pools     transportPool

	bgMu     sync.Mutex
	bgCancel context.CancelFunc // stops the health checks of the runtime being served
	bgWG     sync.WaitGroup
	closed   bool
}

// New returns a Gateway that serves nothing until a Runtime is swapped in:
// until then every request gets 404.
func New(opts Options) (*Gateway, error) {
	opts.Limits = opts.Limits.withDefaults()
	g := &Gateway{opts: opts, log: opts.Logger, now: opts.Now}
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.ids.init()
	g.jwks = map[string]*jwksCache{}
	g.client = &http.Client{Timeout: jwksFetchTimeout, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, TLSHandshakeTimeout: jwksFetchTimeout,
	}}
	g.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	q, err := newQuotaStore(opts.Counters, g.log)
	if err != nil {
		return nil, err
	}
	g.quotas = q
	return g, nil
}

// Swap installs rt atomically; requests in flight finish on the runtime they
// started with. The previous runtime's health checks stop; rt's start. A nil
// rt is ignored.
func (g *Gateway) Swap(rt *Runtime) {
	if rt == nil {
		return
	}
	g.bgMu.Lock()
	defer g.bgMu.Unlock()
	if g.bgCancel != nil {
		g.bgCancel()
	}
	old := g.rt.Swap(rt)
	if g.closed {
		g.bgCancel = nil
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		g.bgCancel = cancel
		rt.startHealthChecks(ctx, &g.bgWG)
	}
	if old != nil {
		g.pools.keep(rt.poolKeys())
	}
}

// Apply compiles cfg and, only if that succeeds, swaps it in.
func (g *Gateway) Apply(cfg *Config) error {
	rt, err := g.Compile(cfg)
	if err != nil {
		return err
	}
	g.Swap(rt)
	return nil
}

// Ready reports whether a runtime is loaded.
func (g *Gateway) Ready() bool { return g.rt.Load() != nil }

// Listening reports whether Serve has bound its listeners and not yet begun
// to shut them down. A node is ready for traffic when Ready and Listening
// are both true.
func (g *Gateway) Listening() bool { return g.listening.Load() }

// Current returns the runtime being served, or nil.
func (g *Gateway) Current() *Runtime { return g.rt.Load() }

// SetBlocked makes every API request answer 503 with reason (the license is
// invalid); "" unblocks.
func (g *Gateway) SetBlocked(reason string) {
	if reason == "" {
		g.blocked.Store(nil)
		return
	}
	g.blocked.Store(&reason)
}

// Handler returns the data-plane handler that every listener serves.
func (g *Gateway) Handler() http.Handler { return http.HandlerFunc(g.serveHTTP) }

// stopBackground stops the health checks and waits for them; Swap after it
// installs runtimes without starting their checks.
func (g *Gateway) stopBackground() {
	g.bgMu.Lock()
	g.closed = true
	if g.bgCancel != nil {
		g.bgCancel()
		g.bgCancel = nil
	}
	g.bgMu.Unlock()
	g.bgWG.Wait()
}
