package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/golang-jwt/jwt/v5"
)

func rsaPEM(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jwtAPI(id, target string, cfg map[string]any) map[string]any {
	return apiJSON(id, "/"+id, []string{target}, map[string]any{"plans": []any{
		map[string]any{"id": id + "-jwt", "name": "jwt", "status": "PUBLISHED", "security": map[string]any{"type": "jwt", "configuration": cfg}},
	}})
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTPlan(t *testing.T) {
	be := newBackend(t, "a")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 32)
	jwks := map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "k1", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}}
	jwksURL := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jwks) // the test client reads it
	})
	subs := []wire.Subscription{
		{ID: "s-given", API: "given", Plan: "given-jwt", Application: "app", ClientID: "client-1", Status: wire.SubAccepted},
		{ID: "s-jwks", API: "jwks", Plan: "jwks-jwt", Application: "app", ClientID: "client-1", Status: wire.SubAccepted},
		{ID: "s-hmac", API: "hmac", Plan: "hmac-jwt", Application: "app", ClientID: "client-1", Status: wire.SubAccepted},
	}
	h := newHarness(t, subs,
		jwtAPI("given", be.URL, map[string]any{"signature": "RSA_RS256", "publicKeyResolver": "GIVEN_KEY", "resolverParameter": rsaPEM(t, key),
			"claimsToHeaders": []any{map[string]any{"claim": "sub", "header": "X-User"}}, "propagateAuthHeader": false}),
		jwtAPI("jwks", be.URL, map[string]any{"signature": "RSA_RS256", "publicKeyResolver": "JWKS_URL", "resolverParameter": jwksURL}),
		jwtAPI("hmac", be.URL, map[string]any{"signature": "HMAC_HS256", "resolverParameter": secret}),
	)
	exp := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "alice", "client_id": "client-1", "exp": exp}
	cases := []struct {
		name, path, token string
		status            int
		key               string
	}{
		{"given key", "/given", sign(t, jwt.SigningMethodRS256, key, "", good), 200, ""},
		{"jwks", "/jwks", sign(t, jwt.SigningMethodRS256, key, "k1", good), 200, ""},
		{"hmac", "/hmac", sign(t, jwt.SigningMethodHS256, []byte(secret), "", good), 200, ""},
		{"no token", "/given", "", 401, keyPlanUnresolvable},
		{"wrong key", "/given", sign(t, jwt.SigningMethodRS256, other, "", good), 401, "JWT_INVALID_TOKEN"},
		{"alg not allowed", "/given", sign(t, jwt.SigningMethodRS512, key, "", good), 401, "JWT_INVALID_TOKEN"},
		{"hs256 with the public key as secret", "/given", sign(t, jwt.SigningMethodHS256, []byte(rsaPEM(t, key)), "", good), 401, "JWT_INVALID_TOKEN"},
		{"expired", "/given", sign(t, jwt.SigningMethodRS256, key, "", jwt.MapClaims{"client_id": "client-1", "exp": time.Now().Add(-time.Hour).Unix()}), 401, "JWT_INVALID_TOKEN"},
		{"unknown kid", "/jwks", sign(t, jwt.SigningMethodRS256, key, "k9", good), 401, "JWT_INVALID_TOKEN"},
		{"no subscription", "/given", sign(t, jwt.SigningMethodRS256, key, "", jwt.MapClaims{"client_id": "nobody", "exp": exp}), 401, keyPlanUnresolvable},
		{"garbage", "/given", "not.a.jwt", 401, "JWT_INVALID_TOKEN"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.token != "" {
				hdr["Authorization"] = "Bearer " + tc.token
			}
			status, _, body := h.do(t, "GET", tc.path, hdr)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			rec := h.rec.waitN(t, i+1)[i]
			if rec.ErrorKey != tc.key {
				t.Fatalf("error key %q, want %q", rec.ErrorKey, tc.key)
			}
			if tc.status == 200 && rec.SubscriptionID != "s-"+strings.TrimPrefix(tc.path, "/") {
				t.Fatalf("subscription %q", rec.SubscriptionID)
			}
		})
	}
	up := be.lastRequest()
	_ = up
	h.do(t, "GET", "/given", map[string]string{"Authorization": "Bearer " + cases[0].token})
	if up := be.lastRequest(); up.Header.Get("X-User") != "alice" || up.Header.Get("Authorization") != "" {
		t.Fatalf("claims to headers / auth header: %v", up.Header)
	}
}

func TestMTLSPlan(t *testing.T) {
	be := newBackend(t, "a")
	clientCert, _ := testCert(t)
	strangerCert, _ := testCert(t)
	def := apiJSON("m", "/m", []string{be.URL}, map[string]any{"plans": []any{
		map[string]any{"id": "m-mtls", "name": "mtls", "status": "PUBLISHED", "security": map[string]any{"type": "mtls"}}}})
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	subs := []wire.Subscription{{ID: "s1", API: "m", Plan: "m-mtls", Application: "app", ClientID: CertFingerprint(clientCert.Certificate[0]), Status: wire.SubAccepted}}
	if err := g.Apply(&Config{APIs: mustAPIs(t, def), Subscriptions: subs}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	cases := []struct {
		name   string
		cert   *tls.Certificate
		status int
	}{{"subscribed certificate", &clientCert, 200}, {"unknown certificate", &strangerCert, 401}, {"no certificate", nil, 401}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc2 := &tls.Config{RootCAs: s.pool}
			if tc.cert != nil {
				tc2.Certificates = []tls.Certificate{*tc.cert}
			}
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc2}}
			defer c.CloseIdleConnections()
			resp, err := getWithRetry(c, s.tlsURL+"/m")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestDropQueryParam(t *testing.T) {
	cases := []struct{ in, want string }{
		{"api-key=k", ""},
		{"b=2&api-key=k&a=1", "b=2&a=1"},
		{"api%2Dkey=k&z=%20x", "z=%20x"},
		{"x=1&api-key=1&api-key=2", "x=1"},
		{"api-keys=1", "api-keys=1"},
	}
	for _, tc := range cases {
		if got := dropQueryParam(tc.in, "api-key"); got != tc.want {
			t.Errorf("dropQueryParam(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
