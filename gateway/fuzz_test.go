package gateway

import (
	"encoding/json"
	"testing"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// FuzzCompile feeds arbitrary definitions to the compiler: it must return a
// runtime or an error, never panic.
func FuzzCompile(f *testing.F) {
	seeds := []map[string]any{
		apiJSON("a", "/a", []string{"http://127.0.0.1:1"}, nil),
		apiKeyAPI("k", "/k", "http://127.0.0.1:1"),
		flowAPI("http://127.0.0.1:1", []any{step("rate-limit", map[string]any{"rate": map[string]any{"limit": 1, "periodTime": 1, "periodTimeUnit": "SECONDS"}})}, nil),
		jwtAPI("j", "http://127.0.0.1:1", map[string]any{"signature": "HMAC_HS256", "resolverParameter": "0123456789abcdef0123456789abcdef"}),
	}
	for _, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	g, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := apidef.Parse(data)
		if err != nil {
			return
		}
		rt, err := g.Compile(&Config{APIs: []*apidef.API{a}})
		if err == nil && rt == nil {
			t.Fatal("no runtime and no error")
		}
		if rt != nil {
			g.pools.keep(nil) // compiled, never served: drop its pools
		}
	})
}

// policyFuzz checks that a policy's configuration parser refuses or accepts
// any input without panicking.
func policyFuzz(f *testing.F, policy string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	g, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	env := &compileEnv{g: g, api: &apiRuntime{id: "fuzz"}, field: "flows[0].request[0]"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, req := range []bool{true, false} {
			p, err := compilePolicy(env, policy, raw, req)
			if err == nil && p == nil {
				t.Fatal("known policy compiled to nothing")
			}
		}
	})
}

func FuzzRateLimitConfig(f *testing.F) {
	policyFuzz(f, "rate-limit", `{"rate":{"limit":10,"periodTime":1,"periodTimeUnit":"SECONDS"},"addHeaders":true}`, `{"rate":{"limit":-1}}`)
}
func FuzzQuotaConfig(f *testing.F) {
	policyFuzz(f, "quota", `{"quota":{"limit":10,"periodTime":1,"periodTimeUnit":"MONTHS"}}`)
}
func FuzzSpikeArrestConfig(f *testing.F) {
	policyFuzz(f, "spike-arrest", `{"spike":{"limit":10,"periodTime":1,"periodTimeUnit":"SECONDS"}}`)
}
func FuzzIPFilteringConfig(f *testing.F) {
	policyFuzz(f, "ip-filtering", `{"whitelistIps":["10.0.0.0/8","::1"],"blacklistIps":["1.2.3.4"]}`)
}
func FuzzTransformHeadersConfig(f *testing.F) {
	policyFuzz(f, "transform-headers", `{"addHeaders":[{"name":"X","value":"y"}],"removeHeaders":["Z"],"whitelistHeaders":["A"]}`)
}
func FuzzCORSConfig(f *testing.F) {
	policyFuzz(f, "cors", `{"enabled":true,"allowOrigin":["*","https://a\\.example"],"allowMethods":["GET"],"maxAge":10}`)
}
func FuzzRequestContentLimitConfig(f *testing.F) {
	policyFuzz(f, "request-content-limit", `{"limit":1024}`)
}
func FuzzJSONValidationConfig(f *testing.F) {
	policyFuzz(f, "json-validation", `{"schema":"{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^x\"}}}"}`)
}
func FuzzMockConfig(f *testing.F) {
	policyFuzz(f, "mock", `{"status":201,"content":"x","headers":[{"name":"A","value":"b"}]}`)
}
func FuzzCacheConfig(f *testing.F) {
	policyFuzz(f, "cache", `{"timeToLiveSeconds":60,"methods":["GET","HEAD"],"scope":"APPLICATION"}`)
}

// FuzzJSONSchema validates arbitrary documents against a fixed schema.
func FuzzJSONSchema(f *testing.F) {
	s, err := parseSchema([]byte(`{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer","minimum":0}},"b":{"enum":["x",1]}}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"a":[1,2],"b":"x"}`))
	f.Add([]byte(`[1,{"a":null}]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		_ = s.validate(v, "$") // any verdict is fine; it must not panic
	})
}
