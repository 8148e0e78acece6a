package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/golang-jwt/jwt/v5"
)

// The conformance suite runs the same request/response cases over
// HTTP/1.1, h2c, HTTP/2 over TLS and HTTP/3 against one gateway serving on
// real loopback listeners, with real backends.

// confCase is one request and what must come back. In path and headers,
// "{p}" is replaced by the protocol's short name so stateful cases (rate
// limits, caches) do not share counters across protocols.
type confCase struct {
	name        string
	method      string
	path        string
	host        string
	hdr         map[string]string
	body        string
	repeat      int // send this many times, check the last answer
	status      int
	bodyEq      string
	contains    []string
	notContains []string
	respHdr     map[string]string // value, "*" present, "-" absent
}

// confBackend echoes the request; special paths misbehave on purpose.
func confBackend(t *testing.T, name string) string {
	return newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/slow"):
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			return
		case strings.Contains(r.URL.Path, "/status/"):
			code, _ := strconv.Atoi(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]) // bad numbers give 0, refused below
			if code < 200 || code > 599 {
				code = 400
			}
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("X-Backend", name)
			w.WriteHeader(code)
			fmt.Fprintf(w, "status %d from %s", code, name)
			return
		case strings.HasSuffix(r.URL.Path, "/stream"):
			f, _ := w.(http.Flusher)
			for i := range 3 {
				fmt.Fprintf(w, "chunk%d;", i)
				if f != nil {
					f.Flush()
				}
			}
			return
		case strings.HasSuffix(r.URL.Path, "/big"):
			w.Header().Set("Content-Length", strconv.Itoa(1<<20))
			_, _ = w.Write(make([]byte, 1<<20)) // the client reads it
			return
		}
		body, _ := io.ReadAll(r.Body)
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		w.Header().Set("X-Backend", name)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s host=%s\n", name, r.Method, r.URL.RequestURI(), r.Host)
		for _, k := range names {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header[k], ","))
		}
		fmt.Fprintf(w, "body=%s", body)
	})
}

func confAPIs(t *testing.T, jwtKey *rsa.PrivateKey) ([]map[string]any, []wire.Subscription) {
	a, b := confBackend(t, "a"), confBackend(t, "b")
	dead := deadURL(t)
	hostAPI := apiJSON("host", "/multi", []string{b}, nil)
	hostAPI["listeners"] = []any{map[string]any{"type": "http", "paths": []any{map[string]any{"host": "API.example.com", "path": "/multi"}},
		"entrypoints": []any{map[string]any{"type": "http-proxy"}}}}
	cors := apiJSON("cors", "/cors", []string{a}, nil)
	cors["listeners"].([]any)[0].(map[string]any)["cors"] = map[string]any{"enabled": true, "allowOrigin": []any{"https://ok.example"},
		"allowMethods": []any{"GET", "PUT"}, "allowHeaders": []any{"X-Req"}, "exposeHeaders": []any{"X-Backend"}, "maxAge": 60, "allowCredentials": true}
	slow := apiJSON("slow", "/slow", []string{a}, nil)
	slow["endpointGroups"].([]any)[0].(map[string]any)["sharedConfiguration"] = map[string]any{"http": map[string]any{"readTimeout": 300}}
	flows := apiJSON("flows", "/flows", []string{a}, map[string]any{"flows": []any{
		map[string]any{"name": "post only", "selectors": []any{map[string]any{"type": "http", "path": "/items", "pathOperator": "STARTS_WITH", "methods": []any{"POST"}}},
			"request": []any{step("mock", map[string]any{"status": 202, "content": "accepted by mock"})}},
		map[string]any{"name": "exact", "selectors": []any{map[string]any{"type": "http", "path": "/exact", "pathOperator": "EQUALS"}},
			"request": []any{step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Exact", "value": "yes"}}})}},
		map[string]any{"name": "param", "selectors": []any{map[string]any{"type": "http", "path": "/users/:id/orders", "pathOperator": "STARTS_WITH"}},
			"request": []any{step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Orders", "value": "1"}}})}},
	}})
	best := apiJSON("best", "/best", []string{a}, map[string]any{"flowExecution": map[string]any{"mode": "best-match"}, "flows": []any{
		map[string]any{"name": "root", "selectors": []any{map[string]any{"type": "http", "path": "/"}},
			"request": []any{step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Flow", "value": "root"}}})}},
		map[string]any{"name": "deep", "selectors": []any{map[string]any{"type": "http", "path": "/a/b"}},
			"request": []any{step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Flow", "value": "deep"}}})}},
	}})
	required := apiJSON("req", "/required", []string{a}, map[string]any{"flowExecution": map[string]any{"matchRequired": true}, "flows": []any{
		map[string]any{"name": "only", "selectors": []any{map[string]any{"type": "http", "path": "/yes"}}},
	}})
	keyAPI := apiKeyAPI("key", "/key", a)
	keyAPI["flows"] = []any{map[string]any{"request": []any{step("rate-limit", map[string]any{"rate": map[string]any{"limit": 1, "periodTime": 1, "periodTimeUnit": "MINUTES"}})}}}
	quota := apiKeyAPI("quota", "/quota", a)
	quota["flows"] = []any{map[string]any{"request": []any{step("quota", map[string]any{"quota": map[string]any{"limit": 100, "periodTime": 1, "periodTimeUnit": "DAYS"}})}}}
	failover := apiJSON("fo", "/failover", nil, map[string]any{
		"endpointGroups": groupWith("round-robin", []any{ep("dead", dead, 1, false), ep("a", a, 1, false)}, nil),
		"failover":       map[string]any{"enabled": true, "maxRetries": 2}})
	weighted := apiJSON("w", "/weighted", nil, map[string]any{
		"endpointGroups": groupWith("weighted-round-robin", []any{ep("a", a, 1, false), ep("b", b, 0, true)}, nil)})
	policies := apiJSON("pol", "/pol", []string{a}, map[string]any{"flows": []any{
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/deny"}},
			"request": []any{step("ip-filtering", map[string]any{"blacklistIps": []any{"127.0.0.0/8", "::1"}})}},
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/allow"}},
			"request": []any{step("ip-filtering", map[string]any{"whitelistIps": []any{"127.0.0.0/8", "::1"}})}},
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/limit"}},
			"request": []any{step("request-content-limit", map[string]any{"limit": 10})}},
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/json"}},
			"request": []any{step("json-validation", map[string]any{"errorMessage": "invalid json", "schema": `{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}`})}},
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/cache"}},
			"request": []any{step("cache", map[string]any{"timeToLiveSeconds": 60})}},
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/resp"}},
			"response": []any{step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Resp-Added", "value": "1"}}, "removeHeaders": []any{"X-Backend"}})}},
		map[string]any{"selectors": []any{map[string]any{"type": "http", "path": "/spike"}},
			"request": []any{step("spike-arrest", map[string]any{"spike": map[string]any{"limit": 1, "periodTime": 1, "periodTimeUnit": "MINUTES"}})}},
	}})
	jwtDef := jwtAPI("jwt", a, map[string]any{"signature": "RSA_RS256", "resolverParameter": rsaPEM(t, jwtKey)})
	sick := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)               // fails its health checks and any call
		_, _ = io.WriteString(w, "sick") // the gateway reads it
	})
	hcGroup := map[string]any{"services": map[string]any{"healthCheck": map[string]any{"enabled": true,
		"configuration": map[string]any{"schedule": "200ms", "target": "/health", "failureThreshold": 1, "successThreshold": 1}}}}
	healthAPI := apiJSON("hc", "/hc", nil, map[string]any{"endpointGroups": groupWith("round-robin", []any{ep("sick", sick, 1, false), ep("b", b, 1, false)}, hcGroup)})
	analyticsOff := apiJSON("quiet", "/quiet", []string{a}, map[string]any{"analytics": map[string]any{"enabled": false}})
	defs := []map[string]any{
		apiJSON("root", "/a", []string{a + "/base"}, nil), apiJSON("deeper", "/a/deeper", []string{b}, nil),
		hostAPI, apiJSON("multi", "/multi", []string{a}, nil), cors, slow, flows, best, required, keyAPI, quota,
		failover, weighted, policies, jwtDef, analyticsOff, apiJSON("dead", "/dead", []string{dead}, nil), healthAPI,
	}
	var subs []wire.Subscription
	for _, p := range []string{"h1", "h2c", "h2", "h3"} {
		subs = append(subs,
			wire.Subscription{ID: "key-" + p, API: "key", Plan: "key-key", Application: "app", Key: "key-" + p, Status: wire.SubAccepted},
			wire.Subscription{ID: "quota-" + p, API: "quota", Plan: "quota-key", Application: "app", Key: "quota-" + p, Status: wire.SubAccepted})
	}
	subs = append(subs,
		wire.Subscription{ID: "rev", API: "key", Plan: "key-key", Application: "app", Key: "revoked-key", Status: wire.SubRevoked},
		wire.Subscription{ID: "exp", API: "key", Plan: "key-key", Application: "app", Key: "expired-key", Status: wire.SubAccepted, EndingAt: 1},
		wire.Subscription{ID: "jwt-sub", API: "jwt", Plan: "jwt-jwt", Application: "app", ClientID: "conf-client", Status: wire.SubAccepted})
	return defs, subs
}

func confCases(t *testing.T, jwtKey *rsa.PrivateKey) []confCase {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	goodJWT := sign(t, jwt.SigningMethodRS256, jwtKey, "", jwt.MapClaims{"client_id": "conf-client", "exp": exp, "sub": "u"})
	badJWT := sign(t, jwt.SigningMethodRS256, other, "", jwt.MapClaims{"client_id": "conf-client", "exp": exp})
	expJWT := sign(t, jwt.SigningMethodRS256, jwtKey, "", jwt.MapClaims{"client_id": "conf-client", "exp": time.Now().Add(-time.Hour).Unix()})
	unauthorizedJSON := `{"message":"Unauthorized","http_status_code":401}`
	return []confCase{
		// Routing.
		{name: "404 text", path: "/nope", status: 404, bodyEq: msgNotFound, respHdr: map[string]string{"Content-Type": "text/plain"}},
		{name: "404 json", path: "/nope", hdr: map[string]string{"Accept": "application/json"}, status: 404, bodyEq: `{"message":"No context-path matches the request URI.","http_status_code":404}`},
		{name: "404 wildcard accept is text", path: "/nope", hdr: map[string]string{"Accept": "*/*"}, status: 404, bodyEq: msgNotFound},
		{name: "context path stripped onto target path", path: "/a/x/y?q=1&r=2", status: 200, contains: []string{"a GET /base/x/y?q=1&r=2 "}},
		{name: "exact context path", path: "/a", status: 200, contains: []string{"a GET /base "}},
		{name: "trailing slash kept", path: "/a/", status: 200, contains: []string{"a GET /base/ "}},
		{name: "longest prefix", path: "/a/deeper/z", status: 200, contains: []string{"b GET /z "}},
		{name: "segment boundary", path: "/ab", status: 404},
		{name: "encoded path kept", path: "/a/x%2Fy%20z", status: 200, contains: []string{"GET /base/x%2Fy%20z "}},
		{name: "host-bound listener", path: "/multi/h", host: "api.example.com", status: 200, contains: []string{"b GET /h "}},
		{name: "host case-insensitive", path: "/multi/h", host: "API.EXAMPLE.COM", status: 200, contains: []string{"b GET /h "}},
		{name: "other host uses host-less listener", path: "/multi/h", host: "else.example.com", status: 200, contains: []string{"a GET /h "}},
		{name: "upstream Host is the target", path: "/a/h", host: "client.example", status: 200, contains: []string{"host=127.0.0.1:"}, notContains: []string{"host=client.example"}},
		{name: "HEAD", method: "HEAD", path: "/a/x", status: 200, bodyEq: ""},
		{name: "POST body", method: "POST", path: "/a/p", body: "payload-123", status: 200, contains: []string{"a POST /base/p", "body=payload-123"}},
		{name: "PUT body", method: "PUT", path: "/a/p", body: "put-body", status: 200, contains: []string{"body=put-body"}},
		{name: "DELETE", method: "DELETE", path: "/a/p", status: 200, contains: []string{"a DELETE /base/p"}},
		// Headers.
		{name: "X-Forwarded-For", path: "/a/h", status: 200, contains: []string{"X-Forwarded-For: 127.0.0.1"}},
		{name: "X-Forwarded-Host", path: "/a/h", host: "fwd.example", status: 200, contains: []string{"X-Forwarded-Host: fwd.example"}},
		{name: "request id upstream and back", path: "/a/h", status: 200, contains: []string{"X-Gravitee-Request-Id: ", "X-Gravitee-Transaction-Id: "}, respHdr: map[string]string{headerRequestID: "*", headerTransactionID: "*"}},
		{name: "client transaction id kept", path: "/a/h", hdr: map[string]string{headerTransactionID: "tx-conf"}, status: 200, contains: []string{"X-Gravitee-Transaction-Id: tx-conf"}, respHdr: map[string]string{headerTransactionID: "tx-conf"}},
		{name: "hop-by-hop stripped from response", path: "/a/status/200", status: 200, respHdr: map[string]string{"Keep-Alive": "-", "X-Backend": "a"}},
		{name: "upstream 500 passes through", path: "/a/status/500", status: 500, bodyEq: "status 500 from a"},
		{name: "upstream 404 passes through", path: "/a/status/404", status: 404, bodyEq: "status 404 from a"},
		{name: "streamed body", path: "/a/stream", status: 200, bodyEq: "chunk0;chunk1;chunk2;"},
		{name: "1 MiB body", path: "/a/big", status: 200, respHdr: map[string]string{"Content-Length": strconv.Itoa(1 << 20)}},
		// Plans.
		{name: "api key header", path: "/key/x", hdr: map[string]string{apiKeyHeader: "key-{p}"}, status: 200, notContains: []string{"X-Gravitee-Api-Key"}},
		{name: "api key rate limited on second call", path: "/key/x", hdr: map[string]string{apiKeyHeader: "key-{p}"}, repeat: 1, status: 429,
			bodyEq: "Rate limit exceeded! You reached the limit of 1 requests per 1 minutes", respHdr: map[string]string{"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Limit": "1"}},
		{name: "api key query", path: "/quota/x?api-key=quota-{p}&v=1", status: 200, contains: []string{"GET /x?v=1 "}, respHdr: map[string]string{"X-Quota-Limit": "100", "X-Quota-Remaining": "*"}},
		{name: "no key", path: "/key/x", hdr: map[string]string{"Accept": "application/json"}, status: 401, bodyEq: unauthorizedJSON},
		{name: "empty key", path: "/key/x", hdr: map[string]string{apiKeyHeader: "", "Accept": "application/json"}, status: 401, bodyEq: unauthorizedJSON},
		{name: "unknown key", path: "/key/x", hdr: map[string]string{apiKeyHeader: "zzz"}, status: 401, bodyEq: "Unauthorized"},
		{name: "revoked key", path: "/key/x", hdr: map[string]string{apiKeyHeader: "revoked-key"}, status: 401},
		{name: "expired key", path: "/key/x", hdr: map[string]string{apiKeyHeader: "expired-key"}, status: 401},
		{name: "key of another API", path: "/key/x", hdr: map[string]string{apiKeyHeader: "quota-h1"}, status: 401},
		{name: "jwt", path: "/jwt/x", hdr: map[string]string{"Authorization": "Bearer " + goodJWT}, status: 200, contains: []string{"a GET /x "}},
		{name: "jwt wrong key", path: "/jwt/x", hdr: map[string]string{"Authorization": "Bearer " + badJWT}, status: 401},
		{name: "jwt expired", path: "/jwt/x", hdr: map[string]string{"Authorization": "Bearer " + expJWT}, status: 401},
		{name: "jwt missing", path: "/jwt/x", status: 401},
		// Policies.
		{name: "ip blacklisted", path: "/pol/deny", status: 403, contains: []string{"or one of the proxies your request passed through is not allowed to reach this resource"}},
		{name: "ip whitelisted", path: "/pol/allow", status: 200},
		{name: "content limit ok", method: "POST", path: "/pol/limit", body: "0123456789", status: 200},
		{name: "content limit exceeded", method: "POST", path: "/pol/limit", body: "0123456789ab", status: 413},
		{name: "json valid", method: "POST", path: "/pol/json", body: `{"id":7}`, status: 200, contains: []string{`body={"id":7}`}},
		{name: "json invalid", method: "POST", path: "/pol/json", body: `{"id":"x"}`, status: 400, bodyEq: "invalid json"},
		{name: "json malformed", method: "POST", path: "/pol/json", body: `{`, status: 400, bodyEq: "invalid json"},
		{name: "cache serves a copy", path: "/pol/cache?p={p}", repeat: 1, status: 200, contains: []string{"GET /cache?p="}},
		{name: "response headers transformed", path: "/pol/resp", status: 200, respHdr: map[string]string{"X-Resp-Added": "1", "X-Backend": "-"}},
		{name: "spike arrest", path: "/pol/spike?{p}", repeat: 1, status: 429, respHdr: map[string]string{"X-Spike-Arrest-Remaining": "0"}},
		{name: "cors preflight", method: "OPTIONS", path: "/cors/x", hdr: map[string]string{"Origin": "https://ok.example", "Access-Control-Request-Method": "PUT"}, status: 200,
			respHdr: map[string]string{"Access-Control-Allow-Origin": "https://ok.example", "Access-Control-Allow-Methods": "GET, PUT", "Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "60"}},
		{name: "cors preflight refused", method: "OPTIONS", path: "/cors/x", hdr: map[string]string{"Origin": "https://bad.example", "Access-Control-Request-Method": "PUT"}, status: 400},
		{name: "cors actual request", path: "/cors/x", hdr: map[string]string{"Origin": "https://ok.example"}, status: 200,
			respHdr: map[string]string{"Access-Control-Allow-Origin": "https://ok.example", "Access-Control-Expose-Headers": "X-Backend"}},
		{name: "flow method selector matches", method: "POST", path: "/flows/items/1", status: 202, bodyEq: "accepted by mock"},
		{name: "flow method selector skips", method: "GET", path: "/flows/items/1", status: 200, contains: []string{"a GET /items/1 "}},
		{name: "flow EQUALS matches", path: "/flows/exact", status: 200, contains: []string{"X-Exact: yes"}},
		{name: "flow EQUALS skips deeper", path: "/flows/exact/more", status: 200, notContains: []string{"X-Exact"}},
		{name: "flow path parameter", path: "/flows/users/42/orders", status: 200, contains: []string{"X-Orders: 1"}},
		{name: "best-match picks the deepest", path: "/best/a/b/c", status: 200, contains: []string{"X-Flow: deep"}, notContains: []string{"X-Flow: root"}},
		{name: "best-match root", path: "/best/z", status: 200, contains: []string{"X-Flow: root"}},
		{name: "match required and missing", path: "/required/no", status: 404},
		{name: "match required and present", path: "/required/yes", status: 200},
		// Endpoints, failures.
		{name: "failover retries GET", path: "/failover/x", repeat: 3, status: 200},
		{name: "secondary unused while primary up", path: "/weighted/x", repeat: 3, status: 200, contains: []string{"a GET /x "}},
		{name: "connection refused is 502", path: "/dead/x", hdr: map[string]string{"Accept": "application/json"}, status: 502, bodyEq: `{"message":"Bad Gateway","http_status_code":502}`},
		{name: "read timeout is 504", path: "/slow/slow", status: 504, bodyEq: "Request timeout"},
		{name: "analytics off still serves", path: "/quiet/x", status: 200},
		{name: "health check keeps traffic off a failing endpoint", path: "/hc/x", repeat: 3, status: 200, contains: []string{"b GET /x "}},
	}
}

func TestConformance(t *testing.T) {
	jwtKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	defs, subs := confAPIs(t, jwtKey)
	rec := &memRecorder{}
	g, err := New(Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, defs...), Subscriptions: subs}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	cases := confCases(t, jwtKey)
	if len(cases) < 60 {
		t.Fatalf("the suite has %d cases; it must keep at least 60", len(cases))
	}
	short := map[string]string{"HTTP/1.1": "h1", "h2c": "h2c", "HTTP/2": "h2", "HTTP/3": "h3"}
	waitHealthy(t, s.h1, s.httpURL+"/hc/x")
	for _, p := range s.protocols() {
		t.Run(p.name, func(t *testing.T) {
			if _, err := getWithRetry(p.c, p.base+"/nope"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { runConfCase(t, p.c, p.base, short[p.name], p.major, tc) })
			}
		})
	}
}

func runConfCase(t *testing.T, c *http.Client, base, proto string, major int, tc confCase) {
	sub := func(s string) string { return strings.ReplaceAll(s, "{p}", proto) }
	var resp *http.Response
	var body string
	for i := 0; i <= tc.repeat; i++ {
		method := tc.method
		if method == "" {
			method = "GET"
		}
		var rd io.Reader
		if tc.body != "" {
			rd = strings.NewReader(tc.body)
		}
		req, err := http.NewRequest(method, base+sub(tc.path), rd)
		if err != nil {
			t.Fatal(err)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		for k, v := range tc.hdr {
			req.Header[k] = []string{sub(v)}
		}
		resp, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if resp.ProtoMajor != major {
		t.Fatalf("answered over %s", resp.Proto)
	}
	if resp.StatusCode != tc.status {
		t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.status, trim(body))
	}
	if tc.bodyEq != "" && body != tc.bodyEq || tc.method == "HEAD" && body != "" {
		t.Fatalf("body %q, want %q", trim(body), tc.bodyEq)
	}
	for _, s := range tc.contains {
		if !strings.Contains(body, s) {
			t.Fatalf("body %q lacks %q", trim(body), s)
		}
	}
	for _, s := range tc.notContains {
		if strings.Contains(body, s) {
			t.Fatalf("body %q has %q", trim(body), s)
		}
	}
	for k, want := range tc.respHdr {
		got, ok := resp.Header[http.CanonicalHeaderKey(k)]
		switch {
		case want == "-" && ok:
			t.Fatalf("header %s present: %q", k, got)
		case want == "*" && !ok, want != "-" && want != "*" && (len(got) == 0 || got[0] != want):
			t.Fatalf("header %s = %q, want %q", k, got, want)
		}
	}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// waitHealthy polls until the health check has taken the failing endpoint
// of /hc out: several answers in a row from the healthy one.
func waitHealthy(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	good := 0
	for good < 6 {
		if time.Now().After(deadline) {
			t.Fatal("the health check never took the failing endpoint out")
		}
		resp, err := c.Get(url)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body) // only its first bytes matter
		resp.Body.Close()
		if strings.HasPrefix(string(b), "b GET") {
			good++
		} else {
			good = 0
			time.Sleep(20 * time.Millisecond)
		}
	}
}
