package gateway

import (
	"container/list"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// cachePolicy is Gravitee's cache policy with an in-memory, bounded store
// per step (Gravitee's cacheName resource is accepted and not needed).
// Only 200 answers to the configured methods (default GET) are cached,
// under the method, path and query (and the application with scope
// APPLICATION), for timeToLiveSeconds. Overflow policy: least recently used
// entries are evicted beyond cacheMaxEntries or cacheMaxBytes; bodies over
// cacheMaxBody are not cached.
type cachePolicy struct {
	ttl     time.Duration
	methods map[string]bool
	perApp  bool
	useCC   bool
	store   *lruCache
}

const (
	cacheMaxEntries = 1000
	cacheMaxBytes   = 16 << 20
	cacheMaxBody    = 1 << 20
)

type cacheConfig struct {
	CacheName               string   `json:"cacheName,omitempty"`
	Key                     string   `json:"key,omitempty"`
	TimeToLiveSeconds       int64    `json:"timeToLiveSeconds,omitempty"`
	UseResponseCacheHeaders bool     `json:"useResponseCacheHeaders,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Methods                 []string `json:"methods,omitempty"`
	ResponseCondition       string   `json:"responseCondition,omitempty"`
}

func compileCache(env *compileEnv, raw []byte) (any, error) {
	var c cacheConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	if strings.Contains(c.Key, "{#") || c.ResponseCondition != "" {
		return nil, errors.New("key and responseCondition expressions (Gravitee EL) are not supported")
	}
	if c.TimeToLiveSeconds < 0 {
		return nil, fieldErr("timeToLiveSeconds", errors.New("must not be negative"))
	}
	if c.TimeToLiveSeconds == 0 {
		c.TimeToLiveSeconds = 600
	}
	p := &cachePolicy{ttl: time.Duration(c.TimeToLiveSeconds) * time.Second, methods: map[string]bool{},
		perApp: c.Scope == "APPLICATION", useCC: c.UseResponseCacheHeaders, store: newLRU()}
	for _, m := range c.Methods {
		p.methods[strings.ToUpper(m)] = true
	}
	if len(p.methods) == 0 {
		p.methods[http.MethodGet] = true
	}
	return p, nil
}

func (p *cachePolicy) key(x *exchange) string {
	k := x.r.Method + " " + x.pathInfo + "?" + x.rawQuery
	if p.perApp {
		k += " " + x.rec.ApplicationID
	}
	return k
}

func (p *cachePolicy) onRequest(x *exchange) *failure {
	if !p.methods[x.r.Method] || strings.Contains(firstValue(x.r.Header, "Cache-Control"), "no-cache") {
		return nil
	}
	k := p.key(x)
	if e := p.store.get(k, x.start); e != nil {
		x.direct = &directResponse{status: e.status, header: e.header, body: e.body}
		return errDirect
	}
	x.capture = &cacheCapture{policy: p, key: k, at: x.start}
	return nil
}

// cacheCapture collects a body being proxied, to store it when complete.
type cacheCapture struct {
	policy   *cachePolicy
	key      string
	at       time.Time
	body     []byte
	tooLarge bool
}

func (c *cacheCapture) add(b []byte) {
	if c.tooLarge || len(c.body)+len(b) > cacheMaxBody {
		c.tooLarge, c.body = true, nil
		return
	}
	c.body = append(c.body, b...)
}

// done stores a complete 200 answer.
func (c *cacheCapture) done(status int, h http.Header) {
	if c.tooLarge || status != http.StatusOK {
		return
	}
	ttl := c.policy.ttl
	if c.policy.useCC && strings.Contains(firstValue(h, "Cache-Control"), "no-store") {
		return
	}
	hdr := h.Clone()
	delete(hdr, headerRequestID)
	delete(hdr, headerTransactionID)
	c.policy.store.put(c.key, &cacheEntry{status: status, header: hdr, body: c.body, expires: c.at.Add(ttl)})
}

type cacheEntry struct {
	key     string
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// lruCache is a bounded LRU map.
type lruCache struct {
	mu    sync.Mutex
	ll    *list.List
	items map[string]*list.Element
	bytes int
}

func newLRU() *lruCache { return &lruCache{ll: list.New(), items: map[string]*list.Element{}} }

func (c *lruCache) get(k string, now time.Time) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[k]
	if el == nil {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if now.After(e.expires) {
		c.remove(el)
		return nil
	}
	c.ll.MoveToFront(el)
	return e
}

func (c *lruCache) put(k string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.key = k
	if el := c.items[k]; el != nil {
		c.remove(el)
	}
	c.items[k] = c.ll.PushFront(e)
	c.bytes += len(e.body)
	for c.ll.Len() > cacheMaxEntries || c.bytes > cacheMaxBytes {
		c.remove(c.ll.Back())
	}
}

func (c *lruCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.bytes -= len(e.body)
}
