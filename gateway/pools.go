package gateway

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
)

// transportPool shares upstream connection pools between runtimes: an
// endpoint whose target host and client configuration did not change keeps
// its warm connections across configuration changes. Swap prunes the pools
// no longer used by the runtime being served.
type transportPool struct {
	mu    sync.Mutex
	byKey map[string]*upstream
}

// upstream is the connection pool of one scheme://host and client
// configuration: http.Transport (health checks, https, HTTP/2) and, for
// plain HTTP/1.1, the faster h1Client that proxied requests use.
type upstream struct {
	std *http.Transport
	h1  *h1Client
}

// roundTripper is what the proxy sends requests with.
type roundTripper interface {
	RoundTrip(*http.Request) (*http.Response, error)
}

// proxyClient returns the client proxied requests use.
func (u *upstream) proxyClient() roundTripper {
	if u.h1 != nil {
		return u.h1
	}
	return u.std
}

func (u *upstream) closeIdle() {
	u.std.CloseIdleConnections()
	if u.h1 != nil {
		u.h1.CloseIdleConnections()
	}
}

// get returns the pool for scheme://host with cfg, creating it.
func (p *transportPool) get(scheme, host string, cfg *httpClientConfig) (*upstream, string, error) {
	schemeHost := scheme + "://" + host
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	key := schemeHost + "\x00" + string(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.byKey[key]; u != nil {
		return u, key, nil
	}
	t, err := cfg.newTransport()
	if err != nil {
		return nil, "", err
	}
	u := &upstream{std: t}
	if scheme == "http" && cfg.HTTP.Version != "HTTP_2" {
		u.h1 = newH1Client(hostPort(host), cfg)
	}
	if p.byKey == nil {
		p.byKey = map[string]*upstream{}
	}
	p.byKey[key] = u
	return u, key, nil
}

// keep drops (and closes the idle connections of) every pool whose key is
// not in used. Requests still running on a dropped pool finish normally.
func (p *transportPool) keep(used map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, u := range p.byKey {
		if !used[k] {
			u.closeIdle()
			delete(p.byKey, k)
		}
	}
}

// hostPort adds the default port 80 to a URL host without one.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}

// closeIdle closes every pool's idle connections (at shutdown).
func (p *transportPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.byKey {
		u.closeIdle()
	}
}
