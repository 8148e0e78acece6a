package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/h1"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Listeners names what Serve listens on. Addresses are opened by Serve;
// pre-opened listeners (tests, socket activation) take precedence.
type Listeners struct {
	// HTTP is the --listen address (HTTP/1.1 and h2c), "" for none.
	HTTP string
	// TLS is the --tls-listen address: HTTP/1.1 and HTTP/2 over TLS on TCP
	// and HTTP/3 on the same UDP port, advertised with Alt-Svc.
	TLS string
	// CertFile and KeyFile are the TLS certificate and key (PEM), used when
	// TLSConfig is nil.
	CertFile, KeyFile string
	// TLSConfig overrides CertFile/KeyFile; Serve clones it.
	TLSConfig *tls.Config
	// NoHTTP3 turns HTTP/3 off on the TLS address.
	NoHTTP3 bool
	// HTTP1Engine picks the server of HTTP/1.x on the HTTP address:
	// HTTP1EngineLean (package h1) or HTTP1EngineNetHTTP; "" is
	// DefaultHTTP1Engine. HTTP/2 (h2c) is served by net/http either way.
	HTTP1Engine string

	HTTPListener net.Listener   // instead of HTTP
	TLSListener  net.Listener   // instead of TLS (TCP side, not yet wrapped in TLS)
	QUICConn     net.PacketConn // instead of TLS (UDP side)
}

// quotaSaveInterval is how often quota counters are saved while serving.
const quotaSaveInterval = 10 * time.Second

// Serve runs the listeners until ctx is done, then shuts them down
// gracefully (in-flight requests get Limits.ShutdownTimeout), stops the
// health checks and saves the quota counters. It returns nil after a clean
// shutdown, or the first listener error.
func (g *Gateway) Serve(ctx context.Context, l Listeners) error {
	s, err := g.openServers(l)
	if err != nil {
		return err
	}
	g.listening.Store(true)
	errc := make(chan error, len(s.runs)+1)
	var wg sync.WaitGroup
	for _, run := range s.runs {
		wg.Add(1)
		go func() { // owned by Serve; ends when its server is shut down
			defer wg.Done()
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	saveCtx, stopSaving := context.WithCancel(ctx)
	wg.Add(1)
	go func() { // owned by Serve; periodic quota saves
		defer wg.Done()
		g.saveQuotasEvery(saveCtx, quotaSaveInterval)
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopSaving()
	g.listening.Store(false)
	shutdownErr := s.shutdown(g.opts.Limits.ShutdownTimeout)
	wg.Wait()
	g.stopBackground()
	g.pools.closeIdle()
	saveErr := g.quotas.save()
	return errors.Join(serveErr, shutdownErr, saveErr)
}

// Close stops the health checks and saves the quota counters; for callers
// that use Handler without Serve.
func (g *Gateway) Close() error {
	g.stopBackground()
	return g.quotas.save()
}

func (g *Gateway) saveQuotasEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.quotas.save(); err != nil {
				g.log.Warn("saving quota counters failed; retrying later", "err", err)
			}
		}
	}
}

// servers are the running servers and how to stop them.
type servers struct {
	runs      []func() error
	shutdowns []func(context.Context) error
}

func (s *servers) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for _, f := range s.shutdowns {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openServers opens every listener before serving any, so a bad address
// fails Serve at once.
func (g *Gateway) openServers(l Listeners) (*servers, error) {
	s := &servers{}
	closeAll := func() { _ = s.shutdown(time.Second) } // best effort on a failed start
	if l.HTTP != "" || l.HTTPListener != nil {
		ln, err := listenTCP(l.HTTPListener, l.HTTP)
		if err != nil {
			return nil, err
		}
		if err := g.openHTTP(s, ln, l.HTTP1Engine); err != nil {
			_ = ln.Close() // nothing served on it yet
			return nil, err
		}
	}
	if l.TLS != "" || l.TLSListener != nil {
		if err := g.openTLS(s, l); err != nil {
			closeAll()
			return nil, err
		}
	}
	if len(s.runs) == 0 {
		return nil, errors.New("serve: no listener configured (set --listen or --tls-listen)")
	}
	return s, nil
}

// HTTP/1.x engines of the cleartext listener (Listeners.HTTP1Engine).
const (
	HTTP1EngineLean    = "lean"
	HTTP1EngineNetHTTP = "net/http"
	DefaultHTTP1Engine = HTTP1EngineLean
)

// openHTTP serves the cleartext listener: net/http serves HTTP/1.1 and
// h2c, or package h1 serves HTTP/1.x and hands HTTP/2 connections to
// net/http.
func (g *Gateway) openHTTP(s *servers, ln net.Listener, engine string) error {
	if engine == "" {
		engine = DefaultHTTP1Engine
	}
	srv := g.newHTTPServer(g.Handler())
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	switch engine {
	case HTTP1EngineNetHTTP:
		iln := inspectListener{limitConns(ln, g.opts.Limits.MaxConns)}
		s.runs = append(s.runs, func() error { return srv.Serve(iln) })
		s.shutdowns = append(s.shutdowns, srv.Shutdown)
	case HTTP1EngineLean:
		lim := g.opts.Limits
		fl := h1.NewConnListener(ln.Addr())
		hs := &h1.Server{
			Handler: srv.Handler, ReadHeaderTimeout: lim.ReadHeaderTimeout, IdleTimeout: lim.IdleTimeout,
			WriteTimeout: lim.WriteTimeout, MaxHeaderBytes: lim.MaxHeaderBytes,
			ConnContext: leanConnContext, HandOff: fl.Push, Log: g.log,
		}
		lln := limitConns(ln, lim.MaxConns)
		s.runs = append(s.runs, func() error { return hs.Serve(lln) }, func() error { return srv.Serve(inspectListener{fl}) })
		s.shutdowns = append(s.shutdowns, hs.Shutdown, srv.Shutdown)
	default:
		return fmt.Errorf("serve: unknown HTTP/1 engine %q (want %q or %q)", engine, HTTP1EngineLean, HTTP1EngineNetHTTP)
	}
	return nil
}

func listenTCP(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

func (g *Gateway) openTLS(s *servers, l Listeners) error {
	tc, err := serverTLSConfig(l)
	if err != nil {
		return err
	}
	ln, err := listenTCP(l.TLSListener, l.TLS)
	if err != nil {
		return err
	}
	handler := g.Handler()
	if !l.NoHTTP3 {
		pc, err := listenUDP(l.QUICConn, ln.Addr())
		if err != nil {
			_ = ln.Close() // nothing served on it yet
			return err
		}
		altSvc := `h3=":` + strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port) + `"; ma=86400`
		h3 := &http3.Server{
			Handler: handler, TLSConfig: http3.ConfigureTLSConfig(tc.Clone()),
			MaxHeaderBytes: g.opts.Limits.MaxHeaderBytes, IdleTimeout: g.opts.Limits.IdleTimeout,
			QUICConfig: &quic.Config{MaxIncomingStreams: int64(g.opts.Limits.MaxConcurrentStreams), MaxIdleTimeout: g.opts.Limits.IdleTimeout},
			Logger:     g.log, ConnContext: quicConnContext,
		}
		s.runs = append(s.runs, func() error { return h3.Serve(pc) })
		s.shutdowns = append(s.shutdowns, func(ctx context.Context) error {
			err := h3.Shutdown(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = h3.Close()
			}
			if l.QUICConn == nil {
				_ = pc.Close() // ours to close; the server no longer uses it
			}
			return err
		})
		handler = altSvcHandler(handler, altSvc)
	}
	srv := g.newHTTPServer(handler)
	srv.TLSConfig = tc
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	tln := tls.NewListener(limitConns(ln, g.opts.Limits.MaxConns), tc)
	s.runs = append(s.runs, func() error { return srv.Serve(tln) })
	s.shutdowns = append(s.shutdowns, srv.Shutdown)
	return nil
}

func listenUDP(pc net.PacketConn, tcpAddr net.Addr) (net.PacketConn, error) {
	if pc != nil {
		return pc, nil
	}
	a := tcpAddr.(*net.TCPAddr)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s (HTTP/3): %w", tcpAddr, err)
	}
	return conn, nil
}

// serverTLSConfig loads the certificate; clients may present a certificate
// (mtls plans check it), but none is required.
func serverTLSConfig(l Listeners) (*tls.Config, error) {
	if l.TLSConfig != nil {
		tc := l.TLSConfig.Clone()
		tc.NextProtos = []string{"h2", "http/1.1"}
		return tc, nil
	}
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate (--tls-cert %s, --tls-key %s): %w", l.CertFile, l.KeyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		ClientAuth:   tls.RequestClientCert,
	}, nil
}

// newHTTPServer applies the edge limits (docs/gateway.md).
func (g *Gateway) newHTTPServer(h http.Handler) *http.Server {
	lim := g.opts.Limits
	return &http.Server{
		Handler:           h,
		ConnContext:       connContext,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		WriteTimeout:      lim.WriteTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          lim.MaxConcurrentStreams,
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
			MaxDecoderHeaderTableSize:     4096,
			MaxEncoderHeaderTableSize:     4096,
			MaxReadFrameSize:              16 << 10,
		},
	}
}

// altSvcHandler advertises HTTP/3 on TLS answers over TCP.
func altSvcHandler(next http.Handler, altSvc string) http.Handler {
	v := []string{altSvc}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 3 {
			w.Header()["Alt-Svc"] = v
		}
		next.ServeHTTP(w, r)
	})
}
