package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

// httpClientConfig is an endpoint group's "sharedConfiguration" (or an
// endpoint's "sharedConfigurationOverride"), with Gravitee's field names.
// Fields edgegate does not act on are accepted so Gravitee exports import.
type httpClientConfig struct {
	HTTP    httpOptions   `json:"http"`
	SSL     *sslOptions   `json:"ssl,omitempty"`
	Headers []headerValue `json:"headers,omitempty"`
	Proxy   *struct {
		Enabled        bool   `json:"enabled"`
		UseSystemProxy bool   `json:"useSystemProxy,omitempty"`
		Host           string `json:"host,omitempty"`
		Port           int    `json:"port,omitempty"`
		Username       string `json:"username,omitempty"`
		Password       string `json:"password,omitempty"`
		Type           string `json:"type,omitempty"`
	} `json:"proxy,omitempty"`
}

type httpOptions struct {
	Version                       string `json:"version,omitempty"` // HTTP_1_1 (default) or HTTP_2
	KeepAlive                     *bool  `json:"keepAlive,omitempty"`
	KeepAliveTimeout              int64  `json:"keepAliveTimeout,omitempty"`
	ConnectTimeout                int64  `json:"connectTimeout,omitempty"` // ms, default 5000
	Pipelining                    bool   `json:"pipelining,omitempty"`
	ReadTimeout                   int64  `json:"readTimeout,omitempty"` // ms, default 10000
	UseCompression                bool   `json:"useCompression,omitempty"`
	PropagateClientAcceptEncoding bool   `json:"propagateClientAcceptEncoding,omitempty"`
	PropagateClientHost           bool   `json:"propagateClientHost,omitempty"`
	IdleTimeout                   int64  `json:"idleTimeout,omitempty"` // ms, default 60000
	FollowRedirects               bool   `json:"followRedirects,omitempty"`
	MaxConcurrentConnections      int    `json:"maxConcurrentConnections,omitempty"`
	ClearTextUpgrade              bool   `json:"clearTextUpgrade,omitempty"`
	MaxHeaderSize                 int    `json:"maxHeaderSize,omitempty"`
	MaxChunkSize                  int    `json:"maxChunkSize,omitempty"`
}

type sslOptions struct {
	TrustAll         bool      `json:"trustAll,omitempty"`
	HostnameVerifier *bool     `json:"hostnameVerifier,omitempty"`
	TrustStore       *sslStore `json:"trustStore,omitempty"`
	KeyStore         *sslStore `json:"keyStore,omitempty"`
}

// sslStore is a trust or key store. edgegate reads PEM ("type": "PEM",
// "content" or "certContent"/"keyContent").
type sslStore struct {
	Type        string `json:"type,omitempty"`
	Path        string `json:"path,omitempty"`
	Content     string `json:"content,omitempty"`
	Password    string `json:"password,omitempty"`
	CertContent string `json:"certContent,omitempty"`
	KeyContent  string `json:"keyContent,omitempty"`
	CertPath    string `json:"certPath,omitempty"`
	KeyPath     string `json:"keyPath,omitempty"`
}

type headerValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Gravitee's defaults for an http-proxy endpoint.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultReadTimeout    = 10 * time.Second
	defaultIdleTimeout    = 60 * time.Second
	maxIdleConnsPerHost   = 512
)

// parseClientConfig decodes raw strictly; empty raw means the defaults.
func parseClientConfig(raw json.RawMessage) (*httpClientConfig, error) {
	c := &httpClientConfig{}
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, jsonFieldError(err)
	}
	switch c.HTTP.Version {
	case "", "HTTP_1_1", "HTTP_2":
	default:
		return nil, fmt.Errorf("http.version is %q; use HTTP_1_1 or HTTP_2", c.HTTP.Version)
	}
	if c.HTTP.ConnectTimeout < 0 || c.HTTP.ReadTimeout < 0 || c.HTTP.IdleTimeout < 0 {
		return nil, fmt.Errorf("http timeouts must not be negative")
	}
	if c.Proxy != nil && c.Proxy.Enabled {
		return nil, fmt.Errorf("proxy: upstream proxies are not supported")
	}
	return c, nil
}

func msOr(ms int64, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func (c *httpClientConfig) connectTimeout() time.Duration {
	return msOr(c.HTTP.ConnectTimeout, defaultConnectTimeout)
}
func (c *httpClientConfig) readTimeout() time.Duration {
	return msOr(c.HTTP.ReadTimeout, defaultReadTimeout)
}
func (c *httpClientConfig) idleTimeout() time.Duration {
	return msOr(c.HTTP.IdleTimeout, defaultIdleTimeout)
}

// dialError marks a failure to connect, which maps to 502 even when it was a
// timeout (the read timeout maps to 504).
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// newTransport builds the connection pool of one endpoint.
func (c *httpClientConfig) newTransport() (*http.Transport, error) {
	d := &net.Dialer{Timeout: c.connectTimeout(), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return conn, nil
		},
		ResponseHeaderTimeout:  c.readTimeout(),
		IdleConnTimeout:        c.idleTimeout(),
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		MaxConnsPerHost:        c.HTTP.MaxConcurrentConnections,
		DisableCompression:     true,
		DisableKeepAlives:      c.HTTP.KeepAlive != nil && !*c.HTTP.KeepAlive,
		TLSHandshakeTimeout:    c.connectTimeout(),
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      c.HTTP.Version == "HTTP_2",
		MaxResponseHeaderBytes: 1 << 20,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
	if c.HTTP.Version == "HTTP_2" {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP1(true)
		t.Protocols.SetHTTP2(true)
		if c.HTTP.ClearTextUpgrade {
			t.Protocols.SetUnencryptedHTTP2(true)
			t.Protocols.SetHTTP1(false)
		}
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	t.TLSClientConfig = tc
	return t, nil
}

// tlsConfig builds the client TLS settings from "ssl".
func (c *httpClientConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	s := c.SSL
	if s == nil {
		return tc, nil
	}
	if s.TrustAll || (s.HostnameVerifier != nil && !*s.HostnameVerifier) {
		// The operator asked for it explicitly in the definition.
		tc.InsecureSkipVerify = true //nolint:gosec
	}
	if ts := s.TrustStore; ts != nil && ts.Content != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ts.Content)) {
			return nil, fmt.Errorf("ssl.trustStore.content: no PEM certificate found")
		}
		tc.RootCAs = pool
	} else if ts != nil && ts.Type != "" && ts.Type != "NONE" {
		return nil, fmt.Errorf("ssl.trustStore: only PEM content is supported")
	}
	if ks := s.KeyStore; ks != nil && (ks.CertContent != "" || ks.KeyContent != "") {
		cert, err := tls.X509KeyPair([]byte(ks.CertContent), []byte(ks.KeyContent))
		if err != nil {
			return nil, fmt.Errorf("ssl.keyStore: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	} else if ks != nil && ks.Type != "" && ks.Type != "NONE" {
		return nil, fmt.Errorf("ssl.keyStore: only PEM certContent/keyContent is supported")
	}
	return tc, nil
}
