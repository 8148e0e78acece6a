package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/provisioning"
	"github.com/golang-jwt/jwt/v5"
)

// claimsOf decodes a token's claims without verifying it.
func claimsOf(t *testing.T, token string) (provisioning.Claims, string) {
	t.Helper()
	tok, err := provisioning.ParseToken(token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Claims, tok.KeyID
}

func sign(t *testing.T, c provisioning.Claims, key ed25519.PrivateKey, kid string) string {
	t.Helper()
	s, err := provisioning.SignToken(c, key, kid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGatewayTokenRefused checks every forged, wrong or revoked token is
// refused on both gateway endpoints with a message that says why.
func TestGatewayTokenRefused(t *testing.T) {
	g := startGate(t)
	good := g.provision("acme", "prod")
	other := g.provision("globex", "prod")
	g.mgmt("POST", "/orgs/globex/envs/staging", nil, http.StatusCreated, nil)
	claims, kid := claimsOf(t, good)
	_, activeKey := g.srv.pki.Tokens.Active()

	_, strangerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	expired := claims
	expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	otherOrg := claims
	otherOrg.Org = "globex" // the jti was issued to acme
	unknownJTI := claims
	unknownJTI.ID = "never-issued"
	wrongAud := claims
	wrongAud.Audience = jwt.ClaimStrings{"SomethingElse"}

	// HS256 "signed" with the public key bytes: the classic key-confusion forgery.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims)
	hs.Header["kid"] = kid
	hsToken, err := hs.SignedString([]byte(activeKey.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + kid + `","typ":"JWT"}`))
	noneToken := noneHeader + "." + parts[1] + "."

	for _, tc := range []struct {
		name, token, query string
		wantStatus         int
		wantCode, wantMsg  string
	}{
		{"missing", "", "", 401, CodeTokenMissing, "Authorization"},
		{"not a JWT", "abc", "", 401, CodeTokenInvalid, "not a JWT"},
		{"signed by another key", sign(t, claims, strangerKey, kid), "", 401, CodeTokenInvalid, "signature"},
		{"unknown kid", sign(t, claims, strangerKey, "token-nope"), "", 401, CodeTokenInvalid, "unknown key"},
		{"alg none", noneToken, "", 401, CodeTokenInvalid, "not allowed"},
		{"HS256 with the public key", hsToken, "", 401, CodeTokenInvalid, "not allowed"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"org":"globex"}`)) + "." + parts[2], "", 401, CodeTokenInvalid, "signature"},
		{"expired", sign(t, expired, activeKey, kid), "", 401, CodeTokenExpired, "expired"},
		{"wrong audience", sign(t, wrongAud, activeKey, kid), "", 401, CodeTokenInvalid, "audience"},
		{"not issued by this gate", sign(t, unknownJTI, activeKey, kid), "", 401, CodeTokenInvalid, "not issued"},
		{"claims another org", sign(t, otherOrg, activeKey, kid), "", 401, CodeTokenInvalid, "does not match"},
		{"another org's environment", other, "?env=staging", 403, CodeForbidden, "not in this token"},
		{"own org, another environment", good, "?env=dev", 403, CodeForbidden, "not in this token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range []struct{ method, path string }{{"GET", "/sync"}, {"POST", "/reports"}} {
				status, body := g.call(ep.method, ep.path+tc.query, tc.token, map[string]string{"Content-Encoding": "gzip"}, gz(t, batchJSON(t, "b", 0, "r")))
				var e wire.Error
				if status != tc.wantStatus || json.Unmarshal(body, &e) != nil || e.Code != tc.wantCode || !strings.Contains(e.Message, tc.wantMsg) {
					t.Fatalf("%s %s = %d %s; want %d %s with %q", ep.method, ep.path, status, body, tc.wantStatus, tc.wantCode, tc.wantMsg)
				}
			}
		})
	}
	var count struct{ Count int64 }
	g.mgmt("GET", "/orgs/globex/analytics/count", nil, 200, &count)
	if count.Count != 0 {
		t.Fatalf("refused reports stored %d records", count.Count)
	}
}

func TestRevokedTokenRefusedAndHeldPollEnds(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	g.deploy("acme", "prod", "a", "/a")
	claims, _ := claimsOf(t, token)
	if status, _, body := g.sync(token, ""); status != 200 {
		t.Fatalf("sync before revocation = %d %s", status, body)
	}

	done := make(chan []byte, 1)
	go func() {
		status, body := g.call("GET", "/sync?since=2&wait=20", token, nil, nil)
		if status != http.StatusUnauthorized {
			body = append([]byte("unexpected status: "), body...)
		}
		done <- body
	}()
	waitHeld(t, g, "acme", "prod")
	g.mgmt("POST", "/orgs/acme/envs/prod/tokens/"+claims.ID+"/revoke", nil, http.StatusNoContent, nil)
	select {
	case body := <-done:
		var e wire.Error
		if json.Unmarshal(body, &e) != nil || e.Code != CodeTokenRevoked || !strings.Contains(e.Message, "revoked") {
			t.Fatalf("held poll after revocation: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held poll not ended by the revocation")
	}
	for _, ep := range []string{"/sync", "/reports"} {
		status, body := g.call(map[string]string{"/sync": "GET", "/reports": "POST"}[ep], ep, token, nil, batchJSON(t, "b", 0, "r"))
		if status != http.StatusUnauthorized || !strings.Contains(string(body), "was revoked") {
			t.Fatalf("%s with a revoked token = %d %s", ep, status, body)
		}
	}
	var gws []GatewayView
	g.mgmt("GET", "/orgs/acme/envs/prod/gateways", nil, 200, &gws)
	if len(gws) != 1 || !gws[0].Revoked {
		t.Fatalf("gateway not shown revoked: %+v", gws)
	}
}

func TestManagementAuth(t *testing.T) {
	g := startGate(t)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"none", "", 401},
		{"wrong", "not-the-token", 401},
		{"prefix of the right one", g.admin[:10], 401},
		{"a cloud token", g.provision("acme", "prod"), 401},
		{"right", g.admin, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := g.call("GET", ManagementPrefix+"/orgs", tc.token, nil, nil)
			if status != tc.want {
				t.Fatalf("status %d %s, want %d", status, body, tc.want)
			}
		})
	}
}
