package gateway

import (
	"encoding/json"
	"net/http"
	"sync"
)

// transportPool shares upstream connection pools between runtimes: an
// endpoint whose target host and client configuration did not change keeps
// its warm connections across configuration changes. Swap prunes the pools
// no longer used by the runtime being served.
type transportPool struct {
	mu    sync.Mutex
	byKey map[string]*http.Transport
}

// get returns the pool for scheme://host with cfg, creating it.
func (p *transportPool) get(schemeHost string, cfg *httpClientConfig) (*http.Transport, string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	key := schemeHost + "\x00" + string(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.byKey[key]; t != nil {
		return t, key, nil
	}
	t, err := cfg.newTransport()
	if err != nil {
		return nil, "", err
	}
	if p.byKey == nil {
		p.byKey = map[string]*http.Transport{}
	}
	p.byKey[key] = t
	return t, key, nil
}

// keep drops (and closes the idle connections of) every pool whose key is
// not in used. Requests still running on a dropped pool finish normally.
func (p *transportPool) keep(used map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, t := range p.byKey {
		if !used[k] {
			t.CloseIdleConnections()
			delete(p.byKey, k)
		}
	}
}
