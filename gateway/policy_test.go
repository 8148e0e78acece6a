package gateway

import (
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/persist"
)

// flowAPI is a key-less API whose one flow runs the given request and
// response steps.
func flowAPI(target string, req, resp []any) map[string]any {
	fl := map[string]any{"name": "f", "selectors": []any{map[string]any{"type": "http", "path": "/", "pathOperator": "STARTS_WITH"}}}
	if req != nil {
		fl["request"] = req
	}
	if resp != nil {
		fl["response"] = resp
	}
	return apiJSON("p", "/p", []string{target}, map[string]any{"flows": []any{fl}})
}

func step(policy string, cfg map[string]any) map[string]any {
	return map[string]any{"name": policy, "policy": policy, "configuration": cfg}
}

func TestCounterPolicies(t *testing.T) {
	be := newBackend(t, "a")
	cases := []struct {
		policy, obj, prefix, msg, key string
	}{
		{"rate-limit", "rate", "X-Rate-Limit", "Rate limit exceeded! You reached the limit of 2 requests per 1 minutes", "RATE_LIMIT_TOO_MANY_REQUESTS"},
		{"quota", "quota", "X-Quota", "Quota exceeded! You reached the limit of 2 requests per 1 minutes", "QUOTA_TOO_MANY_REQUESTS"},
		{"spike-arrest", "spike", "X-Spike-Arrest", "Spike limit exceeded! You reached the limit of 1 requests per 30000 ms.", "SPIKE_ARREST_TOO_MANY_REQUESTS"},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			cfg := map[string]any{tc.obj: map[string]any{"limit": 2, "periodTime": 1, "periodTimeUnit": "MINUTES"}}
			h := newHarness(t, nil, flowAPI(be.URL, []any{step(tc.policy, cfg)}, nil))
			allowed := 2
			if tc.policy == "spike-arrest" {
				allowed = 1
			}
			for i := 0; i < allowed; i++ {
				status, rh, _ := h.do(t, "GET", "/p", nil)
				if status != 200 || rh.Get(tc.prefix+"-Remaining") != strconv.Itoa(allowed-i-1) || rh.Get(tc.prefix+"-Limit") != strconv.Itoa(allowed) {
					t.Fatalf("request %d: %d %v", i, status, rh)
				}
				// The end of the window, in Unix ms: within a minute from now.
				reset, err := strconv.ParseInt(rh.Get(tc.prefix+"-Reset"), 10, 64)
				if now := time.Now().UnixMilli(); err != nil || reset < now-1000 || reset > now+61_000 {
					t.Fatalf("request %d: reset %q (%v)", i, rh.Get(tc.prefix+"-Reset"), err)
				}
			}
			status, rh, body := h.do(t, "GET", "/p", map[string]string{"Accept": "text/plain"})
			if status != 429 || body != tc.msg || rh.Get(tc.prefix+"-Remaining") != "0" || rh.Get(tc.prefix+"-Limit") != strconv.Itoa(allowed) {
				t.Fatalf("refusal: %d %q %v", status, body, rh)
			}
			if rec := h.rec.waitN(t, allowed+1)[allowed]; rec.ErrorKey != tc.key {
				t.Fatalf("error key %q", rec.ErrorKey)
			}
		})
	}
}

func TestQuotaSurvivesRestart(t *testing.T) {
	be := newBackend(t, "a")
	path := filepath.Join(t.TempDir(), "state.db")
	def := flowAPI(be.URL, []any{step("quota", map[string]any{"quota": map[string]any{"limit": 3, "periodTime": 1, "periodTimeUnit": "DAYS"}})}, nil)
	run := func(wantRemaining string) {
		db, err := persist.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		g, err := New(Options{Counters: db})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Apply(&Config{APIs: mustAPIs(t, def)}); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(g.Handler())
		defer srv.Close()
		status, rh, _ := doReq(t, srv.Client(), "GET", srv.URL+"/p", nil, "")
		if status != 200 || rh.Get("X-Quota-Remaining") != wantRemaining {
			t.Fatalf("status %d remaining %q, want %q", status, rh.Get("X-Quota-Remaining"), wantRemaining)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run("2")
	run("1") // a new gateway on the same state continues the count
}

func TestIPFiltering(t *testing.T) {
	be := newBackend(t, "a")
	cases := []struct {
		name   string
		cfg    map[string]any
		xff    string
		status int
	}{
		{"whitelisted", map[string]any{"whitelistIps": []any{"127.0.0.0/8"}}, "", 200},
		{"not whitelisted", map[string]any{"whitelistIps": []any{"10.0.0.1"}}, "", 403},
		{"blacklisted", map[string]any{"blacklistIps": []any{"127.0.0.1"}}, "", 403},
		{"xff ignored by default", map[string]any{"blacklistIps": []any{"10.9.9.9"}}, "10.9.9.9", 200},
		{"xff checked when asked", map[string]any{"blacklistIps": []any{"10.9.9.9"}, "matchAllFromXForwardedFor": true}, "10.9.9.9", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil, flowAPI(be.URL, []any{step("ip-filtering", tc.cfg)}, nil))
			hdr := map[string]string{}
			if tc.xff != "" {
				hdr["X-Forwarded-For"] = tc.xff
			}
			status, _, body := h.do(t, "GET", "/p", hdr)
			if status != tc.status {
				t.Fatalf("status %d: %s", status, body)
			}
			if status == 403 && body != "Your IP (127.0.0.1) or one of the proxies your request passed through is not allowed to reach this resource" {
				t.Fatalf("body %q", body)
			}
		})
	}
}

func TestTransformHeaders(t *testing.T) {
	be := newBackend(t, "a")
	req := step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Added", "value": "v"}}, "removeHeaders": []any{"x-drop"}})
	resp := step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-Resp", "value": "r"}}, "removeHeaders": []any{"X-Backend"}})
	h := newHarness(t, nil, flowAPI(be.URL, []any{req}, []any{resp}))
	status, rh, _ := h.do(t, "GET", "/p", map[string]string{"X-Drop": "1", "X-Keep": "1"})
	up := be.lastRequest()
	if status != 200 || up.Header.Get("X-Added") != "v" || up.Header.Get("X-Drop") != "" || up.Header.Get("X-Keep") != "1" {
		t.Fatalf("request headers %v", up.Header)
	}
	if rh.Get("X-Resp") != "r" || rh.Get("X-Backend") != "" {
		t.Fatalf("response headers %v", rh)
	}
}

func TestCORS(t *testing.T) {
	be := newBackend(t, "a")
	def := apiJSON("c", "/c", []string{be.URL}, nil)
	def["listeners"].([]any)[0].(map[string]any)["cors"] = map[string]any{"enabled": true, "allowOrigin": []any{"https://app.example.com"},
		"allowMethods": []any{"GET", "POST"}, "allowHeaders": []any{"X-Custom"}, "maxAge": 600, "exposeHeaders": []any{"X-Backend"}}
	h := newHarness(t, nil, def)
	cases := []struct {
		name, method, origin, reqMethod string
		status                          int
		allowOrigin                     string
	}{
		{"preflight allowed", "OPTIONS", "https://app.example.com", "POST", 200, "https://app.example.com"},
		{"preflight bad origin", "OPTIONS", "https://evil.example.com", "POST", 400, ""},
		{"preflight bad method", "OPTIONS", "https://app.example.com", "DELETE", 400, ""},
		{"actual request", "GET", "https://app.example.com", "", 200, "https://app.example.com"},
		{"actual request other origin", "GET", "https://evil.example.com", "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Origin": tc.origin}
			if tc.reqMethod != "" {
				hdr["Access-Control-Request-Method"] = tc.reqMethod
			}
			before := be.count()
			status, rh, _ := h.do(t, tc.method, "/c", hdr)
			if status != tc.status || rh.Get("Access-Control-Allow-Origin") != tc.allowOrigin {
				t.Fatalf("%d %v", status, rh)
			}
			if tc.method == "OPTIONS" && be.count() != before {
				t.Fatal("a preflight reached the backend")
			}
			if tc.name == "preflight allowed" && (rh.Get("Access-Control-Max-Age") != "600" || rh.Get("Access-Control-Allow-Methods") != "GET, POST") {
				t.Fatalf("preflight headers %v", rh)
			}
		})
	}
}

func TestRequestContentLimit(t *testing.T) {
	be := newBackend(t, "a")
	h := newHarness(t, nil, flowAPI(be.URL, []any{step("request-content-limit", map[string]any{"limit": 5})}, nil))
	cases := []struct {
		body   string
		status int
	}{{"12345", 200}, {"123456", 413}}
	for _, tc := range cases {
		status, _, body := doReq(t, h.srv.Client(), "POST", h.srv.URL+"/p", nil, tc.body)
		if status != tc.status {
			t.Fatalf("body %q: %d %s", tc.body, status, body)
		}
	}
}

func TestJSONValidation(t *testing.T) {
	be := newBackend(t, "a")
	schema := `{"type":"object","required":["name"],"properties":{"name":{"type":"string","minLength":1},"age":{"type":"integer","minimum":0}},"additionalProperties":false}`
	h := newHarness(t, nil, flowAPI(be.URL, []any{step("json-validation", map[string]any{"schema": schema, "errorMessage": "bad payload"})}, nil))
	cases := []struct {
		body   string
		status int
	}{
		{`{"name":"x","age":3}`, 200},
		{`{"age":3}`, 400},
		{`{"name":"x","age":-1}`, 400},
		{`{"name":"x","extra":1}`, 400},
		{`{"name":`, 400},
	}
	for _, tc := range cases {
		status, _, body := doReq(t, h.srv.Client(), "POST", h.srv.URL+"/p", nil, tc.body)
		if status != tc.status {
			t.Fatalf("%s: %d %s", tc.body, status, body)
		}
		if status == 400 && body != "bad payload" {
			t.Fatalf("body %q", body)
		}
		if status == 200 && !strings.HasSuffix(body, "body="+tc.body) {
			t.Fatalf("the body did not reach the backend intact: %q", body)
		}
	}
}

func TestMockAndCache(t *testing.T) {
	be := newBackend(t, "a")
	mock := step("mock", map[string]any{"status": 201, "content": "mocked", "headers": []any{map[string]any{"name": "X-Mock", "value": "1"}}})
	h := newHarness(t, nil, flowAPI(be.URL, []any{mock}, nil))
	status, rh, body := h.do(t, "GET", "/p", nil)
	if status != 201 || body != "mocked" || rh.Get("X-Mock") != "1" || be.count() != 0 {
		t.Fatalf("mock: %d %q %v", status, body, rh)
	}
	h2 := newHarness(t, nil, flowAPI(be.URL, []any{step("cache", map[string]any{"timeToLiveSeconds": 60})}, nil))
	for i := 0; i < 3; i++ {
		if status, _, body := h2.do(t, "GET", "/p/x", nil); status != 200 || body != "a GET /x body=" {
			t.Fatalf("cache: %d %q", status, body)
		}
	}
	if be.count() != 1 {
		t.Fatalf("backend called %d times behind the cache", be.count())
	}
	h2.do(t, "POST", "/p/x", nil)
	if be.count() != 2 {
		t.Fatalf("POST must not be cached")
	}
}
