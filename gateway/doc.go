// Package gateway is edgegate's data plane: it turns Gravitee v4 API
// definitions and their subscriptions into an immutable runtime, serves
// client traffic through it and proxies to the APIs' endpoints.
//
// # Basics
//
// New builds a Gateway from Options. Compile validates a Config (APIs and
// subscriptions) and compiles everything a request needs (routes, plans,
// policy configurations, endpoint pools) once; a request never parses
// configuration. Swap installs a compiled Runtime atomically: requests already
// running finish on the runtime they started with. Apply does both, and a
// Config that fails to compile never replaces the one being served.
//
// Handler returns the one http.Handler that every listener uses: HTTP/1.1,
// h2c, HTTP/2 over TLS and HTTP/3 all go through the same pipeline:
//
//	route (host + longest context path) → plan (keyless, api-key, jwt, mtls)
//	→ request policies (plan flows, then API flows) → endpoint (load balancer,
//	health, failover) → response policies → client, and one analytics.Record.
//
// Serve runs the listeners named in Listeners until its context is done and
// then shuts every one of them down gracefully.
//
// # Errors
//
// Failures are answered as Gravitee answers them: a status code, an error key
// recorded in analytics, and a body that is JSON {"message","http_status_code"}
// when the client's Accept header names application/json or */*, plain text
// otherwise. The unmatched request is the exception: its body is the text
// "No context-path matches the request URI." unless Accept names
// application/json explicitly. All upstream failures are mapped to 502 or 504
// in one place (proxy_errors.go).
//
// # Caveats
//
// The servers are package h1 (HTTP/1.x on the cleartext listener; it hands
// h2c connections to net/http), net/http (h2c, and HTTP/1.1 and HTTP/2 over
// TLS) and quic-go's http3 server (HTTP/3), all on one handler, so every
// protocol goes through a single pipeline; Listeners.HTTP1Engine can put
// net/http back on the cleartext listener. Plain
// http:// endpoints are called with edgegate's own HTTP/1.1 client
// (upstream_h1.go), which avoids http.Transport's goroutine hand-offs;
// https:// and HTTP/2 endpoints use http.Transport.
//
// Gravitee EL expressions (conditions, dynamic values) and oauth2 plans are
// not supported: a definition that uses them is refused when compiled, with
// the field named, rather than served with the expression ignored.
// docs/gateway.md lists what is supported and the defaults.
package gateway
