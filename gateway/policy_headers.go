package gateway

import (
	"errors"
	"net/http"
	"net/textproto"
	"strings"
)

// transformHeadersConfig is Gravitee's transform-headers configuration.
type transformHeadersConfig struct {
	Scope            string        `json:"scope,omitempty"`
	AddHeaders       []headerValue `json:"addHeaders,omitempty"`
	AppendHeaders    []headerValue `json:"appendHeaders,omitempty"`
	RemoveHeaders    []string      `json:"removeHeaders,omitempty"`
	WhitelistHeaders []string      `json:"whitelistHeaders,omitempty"`
}

// transformHeaders keeps the whitelist (if any), removes, then sets and
// appends headers, on the request (request phase) or the response.
type transformHeaders struct {
	keep      map[string]bool
	remove    []string
	set, add  []headerValue
	onRequest bool
}

func compileTransformHeaders(raw []byte, request bool) (any, error) {
	var c transformHeadersConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	t := &transformHeaders{onRequest: request}
	if c.Scope != "" {
		t.onRequest = strings.EqualFold(c.Scope, "REQUEST")
	}
	if len(c.WhitelistHeaders) > 0 {
		t.keep = map[string]bool{}
		for _, h := range c.WhitelistHeaders {
			t.keep[textproto.CanonicalMIMEHeaderKey(h)] = true
		}
	}
	for _, h := range c.RemoveHeaders {
		t.remove = append(t.remove, textproto.CanonicalMIMEHeaderKey(h))
	}
	for _, list := range [][]headerValue{c.AddHeaders, c.AppendHeaders} {
		for _, hv := range list {
			if hv.Name == "" {
				return nil, errors.New("a header needs a name")
			}
			if strings.Contains(hv.Value, "{#") {
				return nil, errors.New("header values with Gravitee EL expressions are not supported")
			}
		}
	}
	t.set, t.add = c.AddHeaders, c.AppendHeaders
	if t.onRequest {
		return requestHeaders{t}, nil
	}
	return responseHeaders{t}, nil
}

func (t *transformHeaders) apply(h http.Header) {
	if t.keep != nil {
		for k := range h {
			if !t.keep[k] {
				delete(h, k)
			}
		}
	}
	for _, k := range t.remove {
		delete(h, k)
	}
	for _, hv := range t.set {
		h.Set(hv.Name, hv.Value)
	}
	for _, hv := range t.add {
		h.Add(hv.Name, hv.Value)
	}
}

type requestHeaders struct{ t *transformHeaders }

func (p requestHeaders) onRequest(x *exchange) *failure {
	p.t.apply(x.r.Header)
	return nil
}

type responseHeaders struct{ t *transformHeaders }

func (p responseHeaders) onResponse(x *exchange, status int, h http.Header) { p.t.apply(h) }
