package gateway

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
)

func TestRouting(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	hostAPI := apiJSON("host", "/shop", []string{c.URL}, nil)
	hostAPI["listeners"] = []any{map[string]any{"type": "http", "paths": []any{map[string]any{"host": "Shop.Example.com", "path": "/shop"}},
		"entrypoints": []any{map[string]any{"type": "http-proxy"}}}}
	h := newHarness(t, nil,
		apiJSON("short", "/shop", []string{a.URL + "/base"}, nil),
		apiJSON("long", "/shop/v2", []string{b.URL}, nil),
		hostAPI,
	)
	cases := []struct {
		name, path, host string
		status           int
		body             string
	}{
		{"prefix strips context path", "/shop/items?q=1", "", 200, "a GET /base/items?q=1 body="},
		{"exact context path", "/shop", "", 200, "a GET /base body="},
		{"longest prefix wins", "/shop/v2/x", "", 200, "b GET /x body="},
		{"segment boundary", "/shopping", "", 404, msgNotFound},
		{"host bound route", "/shop/items", "shop.example.com", 200, "c GET /items body="},
		{"host case-insensitive with port", "/shop/items", "SHOP.example.COM:8080", 200, "c GET /items body="},
		{"other host falls back", "/shop/items", "other.example.com", 200, "a GET /base/items body="},
		{"longer path beats host", "/shop/v2/y", "shop.example.com", 200, "b GET /y body="},
		{"unknown path", "/nothing", "", 404, msgNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.host != "" {
				hdr["Host"] = tc.host
			}
			status, rh, body := h.do(t, "GET", tc.path, hdr)
			if status != tc.status || body != tc.body {
				t.Fatalf("got %d %q, want %d %q", status, body, tc.status, tc.body)
			}
			if status == 404 && rh.Get("Content-Type") != "text/plain" {
				t.Errorf("404 content type %q", rh.Get("Content-Type"))
			}
		})
	}
}

func TestNotFoundJSON(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct{ accept, ctype, body string }{
		{"", "text/plain", msgNotFound},
		{"*/*", "text/plain", msgNotFound},
		{"application/json", "application/json", `{"message":"No context-path matches the request URI.","http_status_code":404}`},
		{"text/html, application/json;q=0.9", "application/json", `{"message":"No context-path matches the request URI.","http_status_code":404}`},
	}
	for _, tc := range cases {
		t.Run(tc.accept, func(t *testing.T) {
			status, rh, body := h.do(t, "GET", "/x", map[string]string{"Accept": tc.accept})
			if status != 404 || rh.Get("Content-Type") != tc.ctype || body != tc.body {
				t.Fatalf("got %d %q %q", status, rh.Get("Content-Type"), body)
			}
		})
	}
	if recs := h.rec.waitN(t, len(cases)); recs[0].APIID != "1" || recs[0].Status != 404 {
		t.Fatalf("404 record: %+v", recs[0])
	}
}

func TestProxyForwardsHeadersAndBody(t *testing.T) {
	be := newBackend(t, "a")
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	status, rh, body := doReq(t, h.srv.Client(), "POST", h.srv.URL+"/api/echo", map[string]string{
		"Connection": "X-Secret", "X-Secret": "s", "X-Forwarded-For": "10.0.0.9", "X-Other": "kept"}, "hello")
	if status != 200 || body != "a POST /echo body=hello" {
		t.Fatalf("got %d %q", status, body)
	}
	if rh.Get(headerRequestID) == "" || rh.Get(headerTransactionID) == "" || rh.Get("X-Backend") != "a" {
		t.Errorf("response headers %v", rh)
	}
	up := be.lastRequest()
	if up.Header.Get("X-Secret") != "" || up.Header.Get("X-Other") != "kept" {
		t.Errorf("hop-by-hop handling: %v", up.Header)
	}
	if got := up.Header.Get("X-Forwarded-For"); got != "10.0.0.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if up.Header.Get("X-Forwarded-Proto") != "http" || up.Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("X-Forwarded-* %v", up.Header)
	}
	if up.Header.Get("User-Agent") != "Go-http-client/1.1" { // the client's own, passed through
		t.Errorf("User-Agent %q", up.Header.Get("User-Agent"))
	}
	if up.Header.Get(headerRequestID) != rh.Get(headerRequestID) {
		t.Errorf("request id upstream %q, to client %q", up.Header.Get(headerRequestID), rh.Get(headerRequestID))
	}
}

func TestRoundRobin(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	h := newHarness(t, nil, apiJSON("api", "/api", []string{a.URL, b.URL}, nil))
	for range 10 {
		if status, _, _ := h.do(t, "GET", "/api", nil); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if a.count() != 5 || b.count() != 5 {
		t.Fatalf("round robin: a=%d b=%d", a.count(), b.count())
	}
}

func apiKeyAPI(id, path, target string) map[string]any {
	return apiJSON(id, path, []string{target}, map[string]any{"plans": []any{
		map[string]any{"id": id + "-key", "name": "key", "status": "PUBLISHED", "security": map[string]any{"type": "api-key"}},
	}})
}

func TestAPIKeyPlan(t *testing.T) {
	be := newBackend(t, "a")
	now := time.Now().UnixMilli()
	subs := []wire.Subscription{
		{ID: "s-ok", API: "k", Plan: "k-key", Application: "app1", Key: "good", Status: wire.SubAccepted},
		{ID: "s-rev", API: "k", Plan: "k-key", Application: "app1", Key: "revoked", Status: wire.SubRevoked},
		{ID: "s-paused", API: "k", Plan: "k-key", Application: "app1", Key: "paused", Status: wire.SubPaused},
		{ID: "s-exp", API: "k", Plan: "k-key", Application: "app1", Key: "expired", Status: wire.SubAccepted, EndingAt: now - 1000},
		{ID: "s-future", API: "k", Plan: "k-key", Application: "app1", Key: "future", Status: wire.SubAccepted, StartingAt: now + 3600_000},
		{ID: "s-other", API: "other", Plan: "other-key", Application: "app2", Key: "otherkey", Status: wire.SubAccepted},
	}
	h := newHarness(t, subs, apiKeyAPI("k", "/k", be.URL), apiKeyAPI("other", "/other", be.URL))
	cases := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		key    string
	}{
		{"header key", "/k/x", map[string]string{apiKeyHeader: "good"}, 200, ""},
		{"query key", "/k/x?api-key=good&a=1", nil, 200, ""},
		{"no key", "/k/x", nil, 401, keyPlanUnresolvable},
		{"empty key", "/k/x", map[string]string{apiKeyHeader: ""}, 401, keyAPIKeyMissing},
		{"unknown key", "/k/x", map[string]string{apiKeyHeader: "nope"}, 401, keyAPIKeyInvalid},
		{"revoked", "/k/x", map[string]string{apiKeyHeader: "revoked"}, 401, keyAPIKeyInvalid},
		{"paused", "/k/x", map[string]string{apiKeyHeader: "paused"}, 401, keyAPIKeyInvalid},
		{"expired", "/k/x", map[string]string{apiKeyHeader: "expired"}, 401, keyAPIKeyInvalid},
		{"not yet valid", "/k/x", map[string]string{apiKeyHeader: "future"}, 401, keyAPIKeyInvalid},
		{"key of another API", "/k/x", map[string]string{apiKeyHeader: "otherkey"}, 401, keyAPIKeyInvalid},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Accept": "application/json"}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			status, rh, body := h.do(t, "GET", tc.path, hdr)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			recs := h.rec.waitN(t, i+1)
			rec := recs[i]
			if tc.status == 200 {
				up := be.lastRequest()
				if up.Header.Get(apiKeyHeader) != "" || strings.Contains(up.URL.RawQuery, "api-key") {
					t.Errorf("key forwarded upstream: %v %q", up.Header, up.URL.RawQuery)
				}
				if rec.PlanID != "k-key" || rec.SubscriptionID != "s-ok" || rec.ApplicationID != "app1" || rec.SecurityType != "API_KEY" {
					t.Errorf("record %+v", rec)
				}
				return
			}
			if body != `{"message":"Unauthorized","http_status_code":401}` || rh.Get("Content-Type") != "application/json" {
				t.Errorf("body %q type %q", body, rh.Get("Content-Type"))
			}
			if rec.ErrorKey != tc.key || rec.Status != 401 {
				t.Errorf("record key %q status %d, want %q", rec.ErrorKey, rec.Status, tc.key)
			}
		})
	}
	if status, _, body := h.do(t, "GET", "/k/x", map[string]string{"Accept": "text/html"}); status != 401 || body != "Unauthorized" {
		t.Errorf("text failure: %d %q", status, body)
	}
}

func TestKeylessAndAPIKeyPlansTogether(t *testing.T) {
	be := newBackend(t, "a")
	def := apiJSON("m", "/m", []string{be.URL}, nil)
	def["plans"] = append(def["plans"].([]any), map[string]any{"id": "m-key", "name": "key", "status": "PUBLISHED", "security": map[string]any{"type": "api-key"}})
	h := newHarness(t, []wire.Subscription{{ID: "s1", API: "m", Plan: "m-key", Application: "app", Key: "k1", Status: wire.SubAccepted}}, def)
	for _, tc := range []struct {
		key    string
		status int
		plan   string
	}{{"", 200, "m-keyless"}, {"k1", 200, "m-key"}, {"bad", 401, ""}} {
		hdr := map[string]string{}
		if tc.key != "" {
			hdr[apiKeyHeader] = tc.key
		}
		if status, _, _ := h.do(t, "GET", "/m", hdr); status != tc.status {
			t.Fatalf("key %q: status %d", tc.key, status)
		}
	}
	recs := h.rec.waitN(t, 3)
	if recs[0].PlanID != "m-keyless" || recs[1].PlanID != "m-key" {
		t.Fatalf("plans %q %q", recs[0].PlanID, recs[1].PlanID)
	}
}

func TestBlocked(t *testing.T) {
	be := newBackend(t, "a")
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	h.g.SetBlocked("license expired on 2026-01-01")
	status, _, body := h.do(t, "GET", "/api", nil)
	if status != 503 || body != "license expired on 2026-01-01" {
		t.Fatalf("blocked: %d %q", status, body)
	}
	if status, _, _ := h.do(t, "GET", "/none", nil); status != 404 {
		t.Fatalf("unmatched while blocked: %d", status)
	}
	h.g.SetBlocked("")
	if status, _, _ := h.do(t, "GET", "/api", nil); status != 200 {
		t.Fatalf("unblocked: %d", status)
	}
	if be.count() != 1 {
		t.Fatalf("backend reached %d times while blocked", be.count()-1)
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port with nothing listening: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	slow := newSlowBackend(t, 2*time.Second)
	slowAPI := apiJSON("slow", "/slow", []string{slow}, nil)
	slowAPI["endpointGroups"].([]any)[0].(map[string]any)["sharedConfiguration"] = map[string]any{"http": map[string]any{"readTimeout": 200}}
	h := newHarness(t, nil, apiJSON("dead", "/dead", []string{dead}, nil), slowAPI)
	cases := []struct {
		path, body string
		status     int
	}{
		{"/dead", `{"message":"Bad Gateway","http_status_code":502}`, 502},
		{"/slow", `{"message":"Request timeout","http_status_code":504}`, 504},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			status, _, body := h.do(t, "GET", tc.path, map[string]string{"Accept": "*/*"})
			if status != tc.status || body != tc.body {
				t.Fatalf("got %d %q", status, body)
			}
		})
	}
}

// newSlowBackend answers after d (or when the client gives up).
func newSlowBackend(t *testing.T, d time.Duration) string {
	t.Helper()
	srv := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	})
	return srv
}

func TestApplyKeepsGoodConfig(t *testing.T) {
	be := newBackend(t, "a")
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	bad := apiJSON("bad", "/bad", []string{be.URL}, map[string]any{"flows": []any{map[string]any{
		"request": []any{map[string]any{"policy": "no-such-policy"}}}}})
	err := h.g.Apply(&Config{APIs: []*apidef.API{parseAPI(t, bad)}})
	var ve *apidef.ValidationError
	if !errors.As(err, &ve) || ve.API != "bad" || ve.Field != "flows[0].request[0].policy" {
		t.Fatalf("error %v", err)
	}
	if status, _, _ := h.do(t, "GET", "/api", nil); status != 200 {
		t.Fatalf("the good config was replaced: %d", status)
	}
}

func TestRecord(t *testing.T) {
	be := newBackend(t, "a")
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	h.do(t, "GET", "/api/p?x=1", map[string]string{"User-Agent": "ua/1", headerTransactionID: "tx-1"})
	rec := h.rec.waitN(t, 1)[0]
	want := map[string]string{
		"apiId": rec.APIID, "api": "api", "planId": rec.PlanID, "plan": "api-keyless", "gw": rec.GatewayID, "gwWant": "gw-test",
	}
	if want["apiId"] != want["api"] || want["planId"] != want["plan"] || want["gw"] != want["gwWant"] {
		t.Fatalf("record %+v", rec)
	}
	if rec.URI != "/api/p?x=1" || rec.PathInfo != "/p" || rec.HTTPMethod != "GET" || rec.Status != 200 ||
		rec.UserAgent != "ua/1" || rec.TransactionID != "tx-1" || rec.RequestID == "" || rec.Endpoint != be.URL ||
		rec.OrganizationID != "org" || rec.EnvironmentID != "env" || rec.ResponseContentLength == 0 ||
		rec.SecurityType != "KEY_LESS" || rec.ApplicationID != "1" || rec.LocalAddress == "" || rec.RemoteAddress != "127.0.0.1" {
		t.Fatalf("record %+v", rec)
	}
}

func TestSwapKeepsWarmConnections(t *testing.T) {
	var conns atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	be.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	h := newHarness(t, nil, apiJSON("api", "/api", []string{be.URL}, nil))
	h.do(t, "GET", "/api", nil)
	// A new revision with another API: the unchanged endpoint keeps its pool.
	cfg := &Config{Revision: 2, APIs: mustAPIs(t, apiJSON("api", "/api", []string{be.URL}, nil), apiJSON("b", "/b", []string{be.URL + "/x"}, nil))}
	if err := h.g.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	h.do(t, "GET", "/api", nil)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections; the pool was not reused across the swap", n)
	}
}

func TestPathMappingsInRecords(t *testing.T) {
	be := newBackend(t, "a")
	def := apiJSON("api", "/api", []string{be.URL}, nil)
	def["listeners"].([]any)[0].(map[string]any)["pathMappings"] = []any{"/products/:id", "/products"}
	h := newHarness(t, nil, def)
	for _, p := range []string{"/api/products/42", "/api/products", "/api/other"} {
		h.do(t, "GET", p, nil)
	}
	recs := h.rec.waitN(t, 3)
	for i, want := range []string{"/products/:id", "/products", ""} {
		if recs[i].MappedPath != want {
			t.Errorf("record %d mappedPath %q, want %q", i, recs[i].MappedPath, want)
		}
	}
}
