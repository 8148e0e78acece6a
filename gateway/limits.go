package gateway

import "time"

// Limits bound what clients may do. Zero fields take the defaults below,
// which docs/gateway.md lists with their reasons.
type Limits struct {
	// MaxHeaderBytes bounds a request's header block; more gets 431.
	// Default 64 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body; more gets 413. Default 64 MiB.
	// An API's request size limit policy can only lower it.
	MaxBodyBytes int64
	// ReadHeaderTimeout is how long a client has to send its headers
	// (slowloris). Default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 120 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response; 0 means none, so that long
	// downloads and WebSockets work; slow readers are bounded by TCP buffers.
	WriteTimeout time.Duration
	// MaxConns caps concurrent client connections per TCP listener; beyond
	// it, accept waits. Default 10000.
	MaxConns int
	// MaxConcurrentStreams bounds HTTP/2 and HTTP/3 streams per connection.
	// Default 250.
	MaxConcurrentStreams int
	// ShutdownTimeout bounds the graceful shutdown at the end of Serve.
	// Default 30 s.
	ShutdownTimeout time.Duration
}

// Default limits.
const (
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxBodyBytes         = 64 << 20
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultMaxConns             = 10000
	DefaultMaxConcurrentStreams = 250
	DefaultShutdownTimeout      = 30 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConcurrentStreams <= 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if l.ShutdownTimeout <= 0 {
		l.ShutdownTimeout = DefaultShutdownTimeout
	}
	return l
}
