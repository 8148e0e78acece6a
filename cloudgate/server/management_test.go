package server

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/provisioning"
)

func TestManagementAPI(t *testing.T) {
	g := startGate(t)
	g.mgmt("POST", "/orgs/acme/envs/prod", nil, http.StatusCreated, nil)
	var again map[string]any
	g.mgmt("POST", "/orgs/acme/envs/prod", nil, http.StatusOK, &again)
	if again["created"] != false || again["org"] != "acme" || again["env"] != "prod" {
		t.Fatalf("second create = %v", again)
	}

	var inst CreateGatewayResponse
	g.mgmt("POST", "/orgs/acme/envs/prod/gateways", map[string]any{"name": "edge-1", "accessPoints": []string{"https://edge-1.example"}}, http.StatusCreated, &inst)
	tok, err := provisioning.VerifyToken(inst.CloudToken, g.srv.pki.Tokens.Public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims
	if c.Org != "acme" || len(c.Envs) != 1 || c.Envs[0] != "prod" || c.CPG != "local" || c.TTK == "" || c.Gate != g.url ||
		c.GateCA != g.srv.pki.CAPin || c.GatewayID != inst.Gateway.ID || len(c.AccessPoints) != 1 || c.LicenseKey == "" {
		t.Fatalf("claims %+v", c)
	}
	if tok.GateURL("") != g.url {
		t.Fatalf("GateURL %q, want %q", tok.GateURL(""), g.url)
	}
	lpk, err := provisioning.DecodePublicKey(c.LicenseKey)
	if err != nil {
		t.Fatal(err)
	}
	lic, err := provisioning.ParseLicense(inst.LicenseKey, []ed25519.PublicKey{lpk})
	if err != nil {
		t.Fatal(err)
	}
	if warn, err := lic.Check("acme", time.Now()); err != nil || warn != "" || lic.Tier != "universe" {
		t.Fatalf("license %+v: %q %v", lic, warn, err)
	}

	var orgs []map[string]any
	g.mgmt("GET", "/orgs", nil, 200, &orgs)
	if len(orgs) != 1 || orgs[0]["id"] != "acme" {
		t.Fatalf("orgs %v", orgs)
	}

	t.Run("invalid definition names the field", func(t *testing.T) {
		bad := strings.Replace(string(apiJSON("x", "/x")), `"type":"proxy"`, `"type":"message"`, 1)
		var e struct{ Message, Field string }
		g.mgmt("POST", "/orgs/acme/envs/prod/apis", []byte(bad), http.StatusBadRequest, &e)
		if e.Field != "type" || !strings.Contains(e.Message, "proxy") {
			t.Fatalf("error %+v", e)
		}
	})
	id := g.deploy("acme", "prod", "", "/demo")
	var apis []APIView
	g.mgmt("GET", "/orgs/acme/envs/prod/apis", nil, 200, &apis)
	if len(apis) != 1 || apis[0].ID != id || !apis[0].Deployed || apis[0].DeployedRevision != 2 || apis[0].ContextPaths[0] != "/demo" || len(apis[0].Plans) != 2 || apis[0].Plans[1].Security != "api-key" {
		t.Fatalf("apis %+v", apis)
	}
	var one struct {
		Definition json.RawMessage
		Deployed   bool
	}
	g.mgmt("GET", "/orgs/acme/envs/prod/apis/"+id, nil, 200, &one)
	if !one.Deployed || !strings.Contains(string(one.Definition), id) {
		t.Fatalf("api %s", one.Definition)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"missing env", "GET", "/orgs/acme/envs/nope/apis", nil, 404},
		{"missing api", "POST", "/orgs/acme/envs/prod/apis/nope/deploy", nil, 404},
		{"bad org id", "POST", "/orgs/a%20b/envs/prod", nil, 400},
		{"key on keyless plan", "POST", "/orgs/acme/envs/prod/apis/" + id + "/subscriptions", map[string]string{"plan": "keyless"}, 400},
		{"unknown body field", "POST", "/orgs/acme/envs/prod/gateways", map[string]string{"nmae": "x"}, 400},
		{"revoke unknown token", "POST", "/orgs/acme/envs/prod/tokens/nope/revoke", nil, 404},
		{"unknown endpoint", "GET", "/nothing", nil, 404},
		{"bad stats range", "GET", "/orgs/acme/analytics/stats?from=x", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e struct{ Message string }
			g.mgmt(tc.method, tc.path, tc.body, tc.want, &e)
			if e.Message == "" {
				t.Fatal("error without a message")
			}
		})
	}

	var sub struct{ ID, Key string }
	g.mgmt("POST", "/orgs/acme/envs/prod/apis/"+id+"/subscriptions", map[string]string{"plan": "apikey", "application": "mobile"}, http.StatusCreated, &sub)
	g.mgmt("POST", "/orgs/acme/envs/prod/subscriptions/"+sub.ID+"/revoke", nil, http.StatusNoContent, nil)
	var subs []store.Subscription
	g.mgmt("GET", "/orgs/acme/envs/prod/subscriptions", nil, 200, &subs)
	if len(subs) != 1 || subs[0].Status != "REVOKED" || subs[0].ApplicationName != "mobile" {
		t.Fatalf("subscriptions %+v", subs)
	}
	var toks []store.Token
	g.mgmt("GET", "/orgs/acme/envs/prod/tokens", nil, 200, &toks)
	if len(toks) != 1 || toks[0].ID != c.ID || toks[0].GatewayID != inst.Gateway.ID {
		t.Fatalf("tokens %+v", toks)
	}
	var stats store.Stats
	g.mgmt("GET", "/orgs/acme/analytics/stats?interval=1h", nil, 200, &stats)
	if stats.Total != 0 || len(stats.Series) != 24 {
		t.Fatalf("stats %+v", stats)
	}
	if status, body := g.call("GET", "/healthz", "", nil, nil); status != 200 || string(body) != "ok\n" {
		t.Fatalf("GET /healthz = %d %q", status, body)
	}
	status, _ := g.call("GET", "/", "", nil, nil)
	if status != http.StatusOK { // the redirect is followed to the console
		t.Fatalf("GET / = %d", status)
	}
}

// TestKeyRotation rotates both keyrings on a running gate: tokens issued
// before keep working, new ones carry the new kid and license key.
func TestKeyRotation(t *testing.T) {
	g := startGate(t)
	before := g.provision("acme", "prod")
	oldClaims, oldKID := claimsOf(t, before)
	var rot struct{ KID string }
	g.mgmt("POST", "/keys/token/rotate", nil, 200, &rot)
	if rot.KID == "" || rot.KID == oldKID {
		t.Fatalf("rotated kid %q (old %q)", rot.KID, oldKID)
	}
	var lrot struct{ KID string }
	g.mgmt("POST", "/keys/license/rotate", nil, 200, &lrot)
	g.mgmt("POST", "/keys/other/rotate", nil, 404, nil)

	var inst CreateGatewayResponse
	g.mgmt("POST", "/orgs/acme/envs/prod/gateways", map[string]any{"accessPoints": []string{}}, http.StatusCreated, &inst)
	newClaims, newKID := claimsOf(t, inst.CloudToken)
	if newKID != rot.KID || newClaims.LicenseKey == oldClaims.LicenseKey {
		t.Fatalf("new token kid %q lpk changed %v", newKID, newClaims.LicenseKey != oldClaims.LicenseKey)
	}
	lpk, err := provisioning.DecodePublicKey(newClaims.LicenseKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provisioning.ParseLicense(inst.LicenseKey, []ed25519.PublicKey{lpk}); err != nil {
		t.Fatalf("new license does not verify with the new token's lpk: %v", err)
	}
	for name, tok := range map[string]string{"before rotation": before, "after rotation": inst.CloudToken} {
		if status, _, body := g.sync(tok, ""); status != 200 {
			t.Fatalf("token issued %s: sync = %d %s", name, status, body)
		}
	}
	var keys map[string]KeyringView
	g.mgmt("GET", "/keys", nil, 200, &keys)
	if keys["token"].Active != rot.KID || len(keys["token"].KIDs) != 2 || len(keys["license"].KIDs) != 2 {
		t.Fatalf("keys %+v", keys)
	}
}
