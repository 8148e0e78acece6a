package h1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x connections with Handler. The zero values of the
// limits take the defaults documented on each field.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's header block. Default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request. Default 120 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response; 0 means none.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a header block; more gets 431. Default 64 KiB.
	MaxHeaderBytes int
	// ConnContext derives the context of a connection's requests from
	// the server's; nil keeps it.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// HandOff takes over connections that speak HTTP/2 (preface or
	// Upgrade: h2c); the conn replays what was already read. Nil: such
	// connections are answered 505 (preface) or served as HTTP/1.1.
	HandOff func(c net.Conn) error
	// Log receives connection-level errors at debug level; nil discards.
	Log *slog.Logger

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	wg       sync.WaitGroup
	closing  atomic.Bool
	baseCtx  context.Context
	cancel   context.CancelFunc
	initOnce sync.Once
	// dateCache holds the Date field of the current second.
	dateCache atomic.Pointer[dateLine]
	// epoch is set by init: the origin of dateLine.until and of the
	// clock readings of lazy deadlines (time.Since reads one clock).
	epoch time.Time
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Defaults of the zero limits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.conns = make(map[*conn]struct{})
		s.epoch = time.Now()
		s.baseCtx, s.cancel = context.WithCancel(context.Background())
		if s.ReadHeaderTimeout <= 0 {
			s.ReadHeaderTimeout = DefaultReadHeaderTimeout
		}
		if s.IdleTimeout <= 0 {
			s.IdleTimeout = DefaultIdleTimeout
		}
		if s.MaxHeaderBytes <= 0 {
			s.MaxHeaderBytes = DefaultMaxHeaderBytes
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Serve accepts connections on ln until Shutdown, serving each on its own
// goroutine (owned by the Server; Shutdown waits for them). It returns
// ErrServerClosed after Shutdown, or the accept error.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close() // Shutdown came first: nobody will accept on it
		return ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("h1: accept: %w", err)
		}
		backoff = 0
		c := newConn(s, rwc)
		if !s.track(c) {
			_ = rwc.Close() // shutting down: nobody will serve it
			return ErrServerClosed
		}
		go c.serve() // owned by s: track/untrack, Shutdown waits
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// shutdownPoll is how often Shutdown looks for connections that became
// idle.
const shutdownPoll = 20 * time.Millisecond

// Shutdown stops accepting, closes idle connections and waits for the
// others to finish their request; when ctx ends first it closes them and
// returns ctx's error once their goroutines have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	ln := s.ln
	s.mu.Unlock()
	var lnErr error
	if ln != nil {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			lnErr = fmt.Errorf("h1: closing listener: %w", err)
		}
	}
	done := make(chan struct{})
	go func() { // owned here: ends when every connection goroutine has
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTicker(shutdownPoll)
	defer t.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			s.cancel()
			return lnErr
		case <-ctx.Done():
			s.closeAll()
			<-done
			return errors.Join(lnErr, ctx.Err())
		case <-t.C:
		}
	}
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.rwc.Close() // idle: nothing in flight to lose
		}
	}
}

func (s *Server) closeAll() {
	s.cancel() // requests' contexts end: upstream calls stop
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		_ = c.rwc.Close() // the shutdown deadline has passed
	}
}
