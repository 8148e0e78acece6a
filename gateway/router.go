package gateway

import (
	"net"
	"sort"
	"strings"
)

// route binds a context path (and optionally a virtual host) to an API.
type route struct {
	host string // lower case, no port; "" matches any host
	path string // normalized: "/" or "/a/b/" (see apidef.NormalizePath)
	api  *apiRuntime
}

// router finds the route of a request: longest context path first, and on
// equal paths a route bound to the request's host before a host-less one.
// Routes are bucketed by their first path segment so a lookup looks at the
// few routes that can match, not at every API deployed.
type router struct {
	bySegment map[string][]*route // first segment → routes, best first
	root      []*route            // context path "/", host-bound first
}

func newRouter(routes []*route) router {
	rt := router{bySegment: make(map[string][]*route)}
	for _, r := range routes {
		if r.path == "/" {
			rt.root = append(rt.root, r)
			continue
		}
		seg := firstSegment(r.path)
		rt.bySegment[seg] = append(rt.bySegment[seg], r)
	}
	for _, rs := range rt.bySegment {
		sortRoutes(rs)
	}
	sortRoutes(rt.root)
	return rt
}

func sortRoutes(rs []*route) {
	sort.SliceStable(rs, func(i, j int) bool {
		if len(rs[i].path) != len(rs[j].path) {
			return len(rs[i].path) > len(rs[j].path)
		}
		return rs[i].host != "" && rs[j].host == ""
	})
}

// firstSegment returns "a" for "/a/b/" or "/a".
func firstSegment(p string) string {
	p = p[1:]
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// match returns the route for host (as sent, maybe with a port and in any
// case) and path (the decoded request path), or nil.
func (rt *router) match(host, path string) *route {
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	host = normalizeHost(host)
	if rs := rt.bySegment[firstSegment(path)]; rs != nil {
		for _, r := range rs {
			if (r.host == "" || r.host == host) && pathHasPrefix(path, r.path) {
				return r
			}
		}
	}
	for _, r := range rt.root {
		if r.host == "" || r.host == host {
			return r
		}
	}
	return nil
}

// pathHasPrefix reports whether path is under ctx ("/a/" matches "/a",
// "/a/" and "/a/x", not "/ab").
func pathHasPrefix(path, ctx string) bool {
	base := ctx[:len(ctx)-1]
	if !strings.HasPrefix(path, base) {
		return false
	}
	return len(path) == len(base) || path[len(base)] == '/'
}

// normalizeHost strips a port and lower-cases, allocating only when the host
// has upper-case letters.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
