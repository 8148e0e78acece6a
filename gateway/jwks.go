package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKS caching: keys are fetched on first use, refreshed when older than
// jwksTTL, and refetched (at most every jwksMinRefresh) when a token names
// an unknown kid. While one request refreshes, the others use the keys
// they have. A failed fetch keeps the old keys.
const (
	jwksTTL          = 5 * time.Minute
	jwksMinRefresh   = 30 * time.Second
	jwksFetchTimeout = 5 * time.Second
	jwksMaxBytes     = 1 << 20
	jwksMaxKeys      = 100
)

// jwksCache holds the keys of one JWKS URL.
type jwksCache struct {
	url     string
	client  *http.Client
	fetchMu sync.Mutex // held by the one request that fetches

	mu      sync.RWMutex
	keys    map[string]any // kid → *rsa.PublicKey or *ecdsa.PublicKey
	fetched time.Time
	tried   time.Time
}

func (g *Gateway) jwksFor(url string) *jwksCache {
	g.jwksMu.Lock()
	defer g.jwksMu.Unlock()
	c := g.jwks[url]
	if c == nil {
		c = &jwksCache{url: url, client: g.client}
		g.jwks[url] = c
	}
	return c
}

// key returns the key named kid ("" when the set has a single key).
func (c *jwksCache) key(ctx context.Context, kid string) any {
	c.mu.RLock()
	k, stale, canRetry := c.lookup(kid)
	have := c.keys != nil
	c.mu.RUnlock()
	if k != nil && !stale {
		return k
	}
	if k == nil && !canRetry {
		return nil
	}
	if !have || k == nil {
		c.fetchMu.Lock() // nothing usable: wait for the fetch
	} else if !c.fetchMu.TryLock() {
		return k // someone else refreshes; the stale key still serves
	}
	defer c.fetchMu.Unlock()
	c.refresh(ctx)
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, _, _ = c.lookup(kid)
	return k
}

// lookup must be called with mu held.
func (c *jwksCache) lookup(kid string) (k any, stale, canRetry bool) {
	now := time.Now()
	stale = now.Sub(c.fetched) > jwksTTL
	canRetry = now.Sub(c.tried) > jwksMinRefresh
	if kid == "" && len(c.keys) == 1 {
		for _, v := range c.keys {
			return v, stale, canRetry
		}
	}
	return c.keys[kid], stale, canRetry
}

func (c *jwksCache) refresh(ctx context.Context) {
	c.mu.RLock()
	recent := time.Since(c.tried) < time.Second
	c.mu.RUnlock()
	if recent {
		return // another request just fetched
	}
	keys, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tried = time.Now()
	if err != nil {
		return
	}
	c.keys, c.fetched = keys, c.tried
}

func (c *jwksCache) fetch(ctx context.Context) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", c.url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read fully or abandoned; nothing to report
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: status %d", c.url, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes))
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", c.url, err)
	}
	return parseJWKS(data)
}

// jwk is one JSON Web Key (RFC 7517) of type RSA or EC.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads the signature keys of a JWKS; keys it cannot use are
// skipped.
func parseJWKS(data []byte) (map[string]any, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]any{}
	for _, k := range set.Keys {
		if len(out) >= jwksMaxKeys {
			break
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pk, err := k.publicKey(); err == nil {
			out[k.Kid] = pk
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("jwks: no usable signature key")
	}
	return out, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

func (k jwk) publicKey() (any, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return nil, err
		}
		e, err := b64int(k.E)
		if err != nil || !e.IsInt64() || e.Int64() < 3 || n.BitLen() < 2048 {
			return nil, fmt.Errorf("jwk %s: unusable RSA key", k.Kid)
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		crv, ok := curves[k.Crv]
		if !ok {
			return nil, fmt.Errorf("jwk %s: curve %q", k.Kid, k.Crv)
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		size := (crv.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) > size || len(y) > size {
			return nil, fmt.Errorf("jwk %s: bad coordinates", k.Kid)
		}
		point := make([]byte, 1+2*size)
		point[0] = 4 // uncompressed
		copy(point[1+size-len(x):1+size], x)
		copy(point[1+2*size-len(y):], y)
		pk, err := ecdsa.ParseUncompressedPublicKey(crv, point)
		if err != nil {
			return nil, fmt.Errorf("jwk %s: %w", k.Kid, err)
		}
		return pk, nil
	}
	return nil, fmt.Errorf("jwk %s: kty %q", k.Kid, k.Kty)
}
