package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/golang-jwt/jwt/v5"
)

func TestEndpointClientOptions(t *testing.T) {
	be := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s close=%v x-env=%s", r.Host, r.Close, r.Header.Get("X-Env"))
	})
	cases := []struct {
		name   string
		shared map[string]any
		host   string
		want   string
	}{
		{"defaults", nil, "client.example", "host=" + strings.TrimPrefix(be, "http://") + " close=false x-env="},
		{"keep-alive off", map[string]any{"http": map[string]any{"keepAlive": false}}, "", "close=true"},
		{"client host propagated", map[string]any{"http": map[string]any{"propagateClientHost": true}}, "client.example", "host=client.example "},
		{"headers added", map[string]any{"headers": []any{map[string]any{"name": "X-Env", "value": "prod"}}}, "", "x-env=prod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := apiJSON("o", "/o", []string{be}, nil)
			if tc.shared != nil {
				def["endpointGroups"].([]any)[0].(map[string]any)["sharedConfiguration"] = tc.shared
			}
			h := newHarness(t, nil, def)
			hdr := map[string]string{}
			if tc.host != "" {
				hdr["Host"] = tc.host
			}
			if status, _, body := h.do(t, "GET", "/o", hdr); status != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %q, want %q in it", status, body, tc.want)
			}
		})
	}
}

func TestPlanAndPolicyOptions(t *testing.T) {
	be := newBackend(t, "a")
	propagate := apiJSON("prop", "/prop", []string{be.URL}, map[string]any{"plans": []any{
		map[string]any{"id": "prop-key", "name": "k", "security": map[string]any{"type": "api-key", "configuration": map[string]any{"propagateApiKey": true}}}}})
	corsFlow := flowAPI(be.URL, []any{step("cors", map[string]any{"enabled": true, "allowOrigin": []any{"*"}, "allowMethods": []any{"GET"}})}, nil)
	whitelist := apiJSON("wl", "/wl", []string{be.URL}, map[string]any{"flows": []any{map[string]any{"request": []any{
		step("transform-headers", map[string]any{"whitelistHeaders": []any{"X-Keep"}})}}}})
	secret := strings.Repeat("k", 32)
	jwtDef := jwtAPI("j", be.URL, map[string]any{"signature": "HMAC_HS256", "resolverParameter": secret})
	subs := []wire.Subscription{
		{ID: "s1", API: "prop", Plan: "prop-key", Application: "app", Key: "pk", Status: wire.SubAccepted},
		{ID: "s2", API: "j", Plan: "j-jwt", Application: "app", ClientID: "c1", Status: wire.SubAccepted},
	}
	h := newHarness(t, subs, propagate, corsFlow, whitelist, jwtDef)
	token := sign(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"client_id": "c1", "exp": time.Now().Add(time.Hour).Unix()})

	if status, _, _ := h.do(t, "GET", "/prop", map[string]string{apiKeyHeader: "pk"}); status != 200 || be.lastRequest().Header.Get(apiKeyHeader) != "pk" {
		t.Fatalf("propagateApiKey: %d %v", status, be.lastRequest().Header)
	}
	status, rh, _ := h.do(t, "OPTIONS", "/p", map[string]string{"Origin": "https://x.example", "Access-Control-Request-Method": "GET"})
	if status != 200 || rh.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("cors policy preflight: %d %v", status, rh)
	}
	if _, rh, _ := h.do(t, "GET", "/p", map[string]string{"Origin": "https://x.example"}); rh.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("cors policy on the answer: %v", rh)
	}
	h.do(t, "GET", "/wl", map[string]string{"X-Keep": "1", "X-Drop": "1"})
	if up := be.lastRequest().Header; up.Get("X-Keep") != "1" || up.Get("X-Drop") != "" {
		t.Fatalf("whitelist: %v", up)
	}
	if status, _, _ := h.do(t, "GET", "/j?access_token="+token, nil); status != 200 {
		t.Fatalf("jwt in the query: %d", status)
	}
}
