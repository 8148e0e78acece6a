package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway/apidef"
)

func TestCompileErrorsNameTheField(t *testing.T) {
	target := "http://127.0.0.1:1"
	withFlow := func(steps ...any) map[string]any { return flowAPI(target, steps, nil) }
	cases := []struct {
		name  string
		def   map[string]any
		field string
		msg   string
	}{
		{"unknown policy", withFlow(step("no-such", nil)), "flows[0].request[0].policy", "not a policy"},
		{"unknown field in a policy", withFlow(step("rate-limit", map[string]any{"rate": map[string]any{"limit": 1, "periodTime": 1, "periodTimeUnit": "SECONDS"}, "bogus": 1})), "flows[0].request[0].configuration.bogus", "unknown field"},
		{"wrong type", withFlow(step("rate-limit", map[string]any{"rate": map[string]any{"limit": "ten", "periodTime": 1, "periodTimeUnit": "SECONDS"}})), "flows[0].request[0].configuration.rate.limit", "must be int64"},
		{"bad unit", withFlow(step("quota", map[string]any{"quota": map[string]any{"limit": 1, "periodTime": 1, "periodTimeUnit": "FORTNIGHTS"}})), "flows[0].request[0].configuration.quota.periodTimeUnit", "FORTNIGHTS"},
		{"bad cidr", withFlow(step("ip-filtering", map[string]any{"whitelistIps": []any{"10.0.0.0/99"}})), "flows[0].request[0].configuration.whitelistIps[0]", "not an IP"},
		{"EL condition", withFlow(map[string]any{"policy": "mock", "condition": "{#request.headers['x'] != null}"}), "flows[0].request[0].condition", "not supported"},
		{"bad schema keyword", withFlow(step("json-validation", map[string]any{"schema": `{"type":"object","oneOf":[]}`})), "flows[0].request[0].configuration.schema", "oneOf"},
		{"oauth2 plan", apiJSON("a", "/a", []string{target}, map[string]any{"plans": []any{map[string]any{"id": "p", "name": "p", "security": map[string]any{"type": "oauth2"}}}}), "plans[0].security.type", "not supported"},
		{"jwt bad key", apiJSON("a", "/a", []string{target}, map[string]any{"plans": []any{map[string]any{"id": "p", "name": "p", "security": map[string]any{"type": "jwt", "configuration": map[string]any{"resolverParameter": "nope"}}}}}), "plans[0].security.configuration.resolverParameter", "PEM"},
		{"short hmac secret", apiJSON("a", "/a", []string{target}, map[string]any{"plans": []any{map[string]any{"id": "p", "name": "p", "security": map[string]any{"type": "jwt", "configuration": map[string]any{"signature": "HMAC_HS256", "resolverParameter": "short"}}}}}), "plans[0].security.configuration.resolverParameter", "32 bytes"},
		{"bad health schedule", apiJSON("a", "/a", nil, map[string]any{"endpointGroups": groupWith("round-robin", []any{ep("e", target, 1, false)},
			map[string]any{"services": map[string]any{"healthCheck": map[string]any{"enabled": true, "configuration": map[string]any{"schedule": "sometimes"}}}})}), "endpointGroups[0].services.healthCheck.configuration.schedule", "sometimes"},
		{"unknown client option", apiJSON("a", "/a", nil, map[string]any{"endpointGroups": groupWith("round-robin", []any{ep("e", target, 1, false)},
			map[string]any{"sharedConfiguration": map[string]any{"http": map[string]any{"readTimeot": 5}}})}), "endpointGroups[0].sharedConfiguration.readTimeot", "unknown field"},
		{"negative failover", apiJSON("a", "/a", []string{target}, map[string]any{"failover": map[string]any{"enabled": true, "maxRetries": -1}}), "failover", "negative"},
	}
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.Compile(&Config{APIs: mustAPIs(t, tc.def)})
			var ve *apidef.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a ValidationError", err)
			}
			if ve.Field != tc.field || !strings.Contains(ve.Msg, tc.msg) || ve.API == "" {
				t.Fatalf("got api %q field %q msg %q; want field %q and %q in the message", ve.API, ve.Field, ve.Msg, tc.field, tc.msg)
			}
		})
	}
}

func TestCompileRefusesDuplicates(t *testing.T) {
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := apiJSON("a", "/same", []string{"http://127.0.0.1:1"}, nil)
	b := apiJSON("b", "/same/", []string{"http://127.0.0.1:1"}, nil)
	if _, err := g.Compile(&Config{APIs: mustAPIs(t, a, b)}); err == nil || !strings.Contains(err.Error(), "already the context path of API a") {
		t.Fatalf("duplicate context path: %v", err)
	}
	if _, err := g.Compile(&Config{APIs: mustAPIs(t, a, a)}); err == nil || !strings.Contains(err.Error(), "deployed twice") {
		t.Fatalf("duplicate id: %v", err)
	}
}
