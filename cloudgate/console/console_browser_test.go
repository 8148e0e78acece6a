package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/edgegate/edgegate/cloudgate/console"
)

// journeyTimeout bounds the whole browser journey, builds excluded.
const journeyTimeout = 110 * time.Second

// apiDefinition is the v4 API the test imports from the page, proxying to target.
func apiDefinition(target string) string {
	return fmt.Sprintf(`{
  "id": "console-echo",
  "name": "Console echo",
  "apiVersion": "1.0",
  "definitionVersion": "V4",
  "type": "proxy",
  "listeners": [{"type": "http", "paths": [{"path": "/echo"}], "entrypoints": [{"type": "http-proxy"}]}],
  "endpointGroups": [{"name": "default", "type": "http-proxy",
    "endpoints": [{"name": "backend", "type": "http-proxy", "configuration": {"target": %q}}]}],
  "plans": [{"id": "keyless", "name": "Keyless", "status": "PUBLISHED", "security": {"type": "key-less"}}]
}`, target)
}

// TestConsoleJourney walks the console as a new operator does, against the
// real cloudgate and edgegate binaries: sign in, deploy a gateway with the
// wizard, start it with the token and license copied from the page, see it
// online, import and deploy an API and get a proxied answer, see the
// requests in Analytics, revoke the token and see the gateway refused. It
// saves a screenshot of every page (see screenshotDir).
func TestConsoleJourney(t *testing.T) {
	bins := buildBinaries(t)
	g := startGate(t, bins)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"backend":"console-test","path":%q}`, r.URL.Path)
	}))
	t.Cleanup(backend.Close)

	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	start := time.Now()
	p := newPage(t, ctx)
	defer p.checkNoExceptions()
	p.grantClipboard(g.url)

	signIn(t, p, g)
	gwListen, gwAdmin := freeAddr(t), freeAddr(t)
	token, license, gatewayID := deployGatewayWizard(t, p, "http://"+gwListen)

	gw := startGateway(t, bins, token, license, gwListen, gwAdmin)
	p.waitJS("the gateway online on the verify step", `document.querySelector('#verify-status')?.textContent.includes('Online')`, 30*time.Second)
	p.shot("wizard-verify-online")
	verifyAccessPoint(t, p, "http://"+gwListen)

	p.click("#wizard-finish")
	p.waitText(fmt.Sprintf(`[data-gateway-state=%q]`, gatewayID), "Online")
	p.shot("overview-gateway-online")

	apiID, deployed := importAndDeploy(t, p, backend.URL)
	client := &http.Client{Timeout: 5 * time.Second}
	sent := proxyThroughGateway(t, client, "http://"+gwListen)
	t.Logf("deploy clicked → first proxied answer: %v", time.Since(deployed).Round(time.Millisecond))
	p.waitText(`[data-api-running="console-echo"]`, "1 / 1 gateways")
	p.shot("apis-deployed")
	apiDetail(t, p, apiID)
	apiKeys(t, p, backend.URL, "http://"+gwListen)
	analytics(t, p, sent, gatewayID)
	otherPlatforms(t, p, token)
	revoke(t, p, gatewayID, "http://"+gwAdmin)
	// As the revoke dialog says: refused by the gate, the gateway keeps serving its last configuration.
	if code, _, err := get(client, "http://"+gwListen+"/echo/after-revoke"); err != nil || code != http.StatusOK {
		t.Errorf("GET /echo/after-revoke through the refused gateway = %d, %v; want 200", code, err)
	}
	phone(t, p, gatewayID)
	dark(t, p, gatewayID)
	gateDown(t, p, g)
	if t.Failed() {
		return
	}
	select {
	case <-gw.done:
		t.Errorf("edgegate exited after its token was revoked (it should keep serving its last configuration): %v", gw.err)
	default:
	}
	t.Logf("browser journey took %v (builds excluded)", time.Since(start).Round(time.Millisecond))
}

func signIn(t *testing.T, p *page, g *gate) {
	t.Helper()
	p.do("open the console", navigate(g.url+"/"))
	p.waitJS("the sign-in form", `document.querySelector('#admin-token')`, pollTimeout)
	p.shot("login")

	p.typeInto("#admin-token", "not-the-admin-token")
	p.click(`form.login button[type=submit]`)
	p.waitText("#login-error", "not the admin credential")
	p.shot("login-wrong-credential")

	p.do("clear", setValue("#admin-token", ""))
	p.typeInto("#admin-token", g.adminToken)
	p.click(`form.login button[type=submit]`)
	p.waitJS("the overview", `document.querySelector('#overview')`, pollTimeout)
	p.waitText("#overview", "Deploy your first hybrid gateway")
	p.shot("overview-empty")
}

// deployGatewayWizard walks Gateways → Deploy Gateway → Hybrid → Linux →
// new environment → access points → Generate, and returns what the page
// shows: the token and license (read back from the clipboard after the Copy
// buttons) and the new gateway's id.
func deployGatewayWizard(t *testing.T, p *page, accessPoint string) (token, license, gatewayID string) {
	t.Helper()
	p.click(`a[data-nav=gateways]`)
	p.waitJS("the gateways page", `document.querySelector('#deploy-gateway')`, pollTimeout)
	p.shot("gateways-empty")
	p.click("#deploy-gateway")
	p.waitJS("the wizard", `document.querySelector('#wizard')?.dataset.step === 'Gateway type'`, pollTimeout)
	p.click(`label[data-choice=hybrid]`)
	p.shot("wizard-hybrid")
	p.click("#wizard-next")

	// Platform: Next without a choice says what is missing.
	p.waitJS("the platform step", `document.querySelector('#wizard').dataset.step === 'Platform'`, pollTimeout)
	p.click("#wizard-next")
	p.waitText("#platform-error", "Choose where the gateway will run")
	p.click(`label[data-choice=linux]`)
	p.shot("wizard-platform")
	p.click("#wizard-next")

	// Environment: none exists yet, so the wizard creates one.
	p.waitJS("the environment step", `document.querySelector('#wizard').dataset.step === 'Environment'`, pollTimeout)
	p.click("#wizard-next")
	p.waitText("#org-error", "Enter an organization id")
	p.typeInto("#org", "acme")
	p.typeInto("#env", "prod")
	p.shot("wizard-environment")
	p.click("#wizard-next")

	// Access point: HTTPS is enforced by default.
	p.waitJS("the access point step", `document.querySelector('#wizard').dataset.step === 'Access point'`, pollTimeout)
	p.typeInto("#ap-0", accessPoint)
	p.click("#wizard-next")
	p.waitText("#ap-0-error", "must use HTTPS")
	p.shot("wizard-access-point-https-enforced")
	p.click("#allow-http")
	p.click("#add-ap")
	p.typeInto("#ap-1", "https://gw-paris.acme.example")
	p.typeInto("#gw-name", "paris-1")
	p.shot("wizard-access-points")
	p.click("#wizard-next")

	p.waitJS("the generate step", `document.querySelector('#wizard').dataset.step === 'Installation details'`, pollTimeout)
	p.shot("wizard-generate")
	p.click("#generate")
	p.waitJS("the installation details", `document.querySelector('#cloud-token')?.value`, pollTimeout)
	p.waitText("#install-linux", "edgegate run --cloud-token-file")
	p.waitText("#install-linux", "RestartPreventExitStatus=125")

	token = copyFromPage(t, p, "Cloud Token")
	license = copyFromPage(t, p, "License")
	if got := js[string](p, `document.querySelector('#cloud-token').value`); got != token {
		t.Fatalf("clipboard token differs from the page's:\n%q\n%q", token, got)
	}
	p.shot("wizard-installation-details")

	p.click("#wizard-next")
	p.waitJS("the verify step", `document.querySelector('#wizard').dataset.step === 'Verify'`, pollTimeout)
	p.waitText("#verify-status", "Configured")
	p.shot("wizard-verify-waiting")

	gatewayID = js[string](p, `fetch('/management/v1/orgs/acme/envs/prod/gateways', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('edgegate.adminToken')}}).then(r => r.json()).then(l => l.length === 1 ? l[0].id : '')`)
	if gatewayID == "" {
		t.Fatal("the gate does not list exactly one gateway after the wizard")
	}
	return token, license, gatewayID
}

// copyFromPage clicks the Copy button of a secret and reads the clipboard.
func copyFromPage(t *testing.T, p *page, label string) string {
	t.Helper()
	p.click(fmt.Sprintf(`button[aria-label=%q]`, "Copy "+label))
	p.waitJS(label+" copied", fmt.Sprintf(`document.querySelector('button[aria-label=%q]').dataset.copied === 'yes'`, "Copy "+label), pollTimeout)
	v := strings.TrimSpace(js[string](p, `navigator.clipboard.readText()`))
	if v == "" {
		t.Fatalf("the clipboard is empty after copying the %s", label)
	}
	return v
}

// verifyAccessPoint does what the verify step says: GET the access point and
// expect Gravitee's 404 text.
func verifyAccessPoint(t *testing.T, p *page, accessPoint string) {
	t.Helper()
	want := strings.TrimSpace(p.text("#expected-answer"))
	if want != "No context-path matches the request URI." {
		t.Errorf("verify step expects %q", want)
	}
	if cmd := p.text(`pre[data-name=verify]`); !strings.Contains(cmd, "curl -i "+accessPoint+"/") {
		t.Errorf("verify step command %q does not GET %s", cmd, accessPoint)
	}
	code, body, err := get(&http.Client{Timeout: 5 * time.Second}, accessPoint+"/")
	if err != nil || code != http.StatusNotFound || strings.TrimSpace(body) != want {
		t.Errorf("GET %s/ = %d %q, %v; want 404 %q", accessPoint, code, body, err, want)
	}
}

// importAndDeploy imports the API from the page, deploys it, and returns its
// id and when Deploy was clicked.
func importAndDeploy(t *testing.T, p *page, backendURL string) (string, time.Time) {
	t.Helper()
	p.click(`a[data-nav=apis]`)
	p.waitJS("the import form", `document.querySelector('#api-definition')`, pollTimeout)

	// A definition with a wrong target: the gate's error shows next to the field.
	bad := apiDefinition(strings.TrimPrefix(backendURL, "http://"))
	p.do("paste a bad definition", setValue("#api-definition", bad))
	p.click("#import-api")
	p.waitText("#api-definition-error", "endpointGroups[0].endpoints[0].configuration.target")
	p.waitText("#api-definition-error", "(line 9)")
	if sel := js[string](p, `(t => t.value.slice(t.selectionStart, t.selectionEnd))(document.querySelector('#api-definition'))`); sel != `"target"` {
		t.Errorf("the definition field selects %q, want the offending key \"target\"", sel)
	}
	if inv := js[string](p, `document.querySelector('#api-definition').getAttribute('aria-invalid')`); inv != "true" {
		t.Errorf("the definition field is not marked invalid (aria-invalid=%q)", inv)
	}
	p.shot("apis-import-error")

	p.do("paste the definition", setValue("#api-definition", apiDefinition(backendURL)))
	p.click("#import-api")
	p.waitText("#import-result", "Imported console-echo")
	p.waitJS("the API in the list", `document.querySelector('[data-action=deploy][data-api="console-echo"]')`, pollTimeout)
	deployed := time.Now()
	p.click(`[data-action=deploy][data-api="console-echo"]`)
	p.waitText(`[data-api-status="console-echo"]`, "Deployed")
	return "console-echo", deployed
}

// proxyThroughGateway waits for the deployed API to answer through the
// gateway, then sends a few more requests (and some to no API, for 404s).
// It returns how many requests it sent in all.
func proxyThroughGateway(t *testing.T, c *http.Client, gw string) int {
	t.Helper()
	sent := 0
	waitFor(t, 10*time.Second, "the API to answer through the gateway", func() error {
		sent++
		code, body, err := get(c, gw+"/echo/hello")
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(body, `"backend":"console-test"`) {
			return fmt.Errorf("GET /echo/hello = %d %q", code, body)
		}
		return nil
	})
	for i := range 9 {
		path := fmt.Sprintf("/echo/item/%d", i)
		if i%3 == 2 {
			path = fmt.Sprintf("/missing/%d", i)
		}
		sent++
		if _, _, err := get(c, gw+path); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return sent
}

// keyedDefinition is an API whose only plan needs an API key.
func keyedDefinition(target string) string {
	return fmt.Sprintf(`{"id": "console-keyed", "name": "Console keyed", "definitionVersion": "V4", "type": "proxy",
  "listeners": [{"type": "http", "paths": [{"path": "/keyed"}], "entrypoints": [{"type": "http-proxy"}]}],
  "endpointGroups": [{"name": "default", "type": "http-proxy",
    "endpoints": [{"name": "backend", "type": "http-proxy", "configuration": {"target": %q}}]}],
  "plans": [{"id": "apikey", "name": "API key", "status": "PUBLISHED", "security": {"type": "api-key"}}]}`, target)
}

// apiKeys imports and deploys an API-key API, creates a key on its page,
// calls it through the gateway with the key, then revokes the subscription.
func apiKeys(t *testing.T, p *page, backendURL, gw string) {
	t.Helper()
	p.click(`a[data-nav=apis]`)
	p.waitJS("the import form", `document.querySelector('#api-definition')`, pollTimeout)
	// This one comes from a file, as an export from Gravitee would.
	file := filepath.Join(t.TempDir(), "console-keyed.json")
	if err := os.WriteFile(file, []byte(keyedDefinition(backendURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	p.do("choose the definition file", chromedp.SetUploadFiles(chromedp.CSS("#api-file"), []string{file}))
	p.waitJS("the file in the field", `document.querySelector('#api-definition').value.includes('"id": "console-keyed"')`, pollTimeout)
	p.click("#import-api")
	p.waitText("#import-result", "Imported console-keyed")
	p.waitJS("the keyed API in the list", `document.querySelector('[data-action=deploy][data-api="console-keyed"]')`, pollTimeout)
	p.click(`[data-action=deploy][data-api="console-keyed"]`)
	p.waitText(`[data-api-status="console-keyed"]`, "Deployed")
	c := &http.Client{Timeout: 5 * time.Second}
	expectStatus(t, c, gw+"/keyed/x", "", http.StatusUnauthorized)

	p.do("open the keyed API", setHash("#/apis/acme/prod/console-keyed"))
	p.waitJS("the subscription form", `document.querySelector('#create-key')`, pollTimeout)
	p.typeInto("#sub-app", "mobile-app")
	p.click("#create-key")
	p.waitJS("the new key", `document.querySelector('#new-api-key')?.textContent`, pollTimeout)
	key := p.text("#new-api-key")
	p.waitText("#api-subscriptions", "mobile-app")
	expectStatus(t, c, gw+"/keyed/x", key, http.StatusOK)
	p.shot("api-keys")

	sub := js[string](p, `document.querySelector('[data-sub-status]').dataset.subStatus`)
	p.click(fmt.Sprintf(`[data-sub-action="revoke:%s"]`, sub))
	p.waitText(fmt.Sprintf(`[data-sub-status=%q]`, sub), "REVOKED")
	expectStatus(t, c, gw+"/keyed/x", key, http.StatusUnauthorized)

	// Undeploy from the API's page: the gateway stops serving it.
	p.click(`[data-action=undeploy][data-api="console-keyed"]`)
	p.waitText("#api-status", "Not deployed")
	expectStatus(t, c, gw+"/keyed/x", key, http.StatusNotFound)
}

// expectStatus waits until GET url (with the API key, if any) answers want.
func expectStatus(t *testing.T, c *http.Client, url, key string, want int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("GET %s to answer %d", url, want), func() error {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if key != "" {
			req.Header.Set("X-Gravitee-Api-Key", key)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		if err := resp.Body.Close(); err != nil {
			return err
		}
		if resp.StatusCode != want {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func apiDetail(t *testing.T, p *page, apiID string) {
	t.Helper()
	p.do("open the API", setHash("#/apis/acme/prod/"+apiID))
	p.waitText("#api-gateways", "runs revision")
	p.shot("api-detail")
}

func analytics(t *testing.T, p *page, sent int, gatewayID string) {
	t.Helper()
	p.click(`a[data-nav=analytics]`)
	p.waitJS("the analytics page", `document.querySelector('#analytics-results')`, pollTimeout)
	// Reports arrive in batches; the page refreshes itself every 5 s.
	p.waitJS(fmt.Sprintf("%d requests in the analytics", sent),
		fmt.Sprintf(`Number(document.querySelector('#analytics-results')?.dataset.total) >= %d`, sent), 40*time.Second)
	bars := js[int](p, `[...document.querySelectorAll('#chart-requests svg g[data-total]')].reduce((s, g) => s + Number(g.dataset.total), 0)`)
	if bars < sent {
		t.Errorf("the requests chart shows %d requests, want at least %d", bars, sent)
	}
	p.waitText("#chart-status", "2xx")
	p.waitText("#chart-status", "4xx")
	p.waitText("#recent-requests", "/echo/hello")
	p.shot("analytics")

	p.do("filter on the API", selectOption("#f-api", "console-echo"))
	p.waitJS("the API-only totals", fmt.Sprintf(`Number(document.querySelector('#analytics-results').dataset.total) < %d`, sent), pollTimeout)
	p.shot("analytics-one-api")

	p.do("all APIs", selectOption("#f-api", ""))
	p.do("one gateway", selectOption("#f-gateway", gatewayID))
	p.waitJS("the gateway's requests", fmt.Sprintf(`Number(document.querySelector('#analytics-results').dataset.total) >= %d`, sent), pollTimeout)
	p.do("another gateway", setHash("#/analytics?org=acme&gateway=gateway-with-no-traffic"))
	p.waitJS("no request for another gateway", `document.querySelector('#analytics-results')?.dataset.total === '0'`, pollTimeout)
	p.do("back to the gateway", setHash("#/analytics?org=acme&gateway="+gatewayID))
	p.waitJS("the gateway's requests again", fmt.Sprintf(`Number(document.querySelector('#analytics-results')?.dataset.total) >= %d`, sent), pollTimeout)
	p.do("a custom range", selectOption("#f-range", "custom"))
	p.waitJS("the custom range inputs", `document.querySelector('#f-from') && document.querySelector('#f-to')`, pollTimeout)
	p.waitJS("every request in the custom range", fmt.Sprintf(`Number(document.querySelector('#analytics-results').dataset.total) >= %d`, sent), pollTimeout)
}

// revoke revokes the gateway's token on the Tokens page and waits until the
// gateway is refused: by the gate (its next sync) and on the overview.
func revoke(t *testing.T, p *page, gatewayID, nodeAPI string) {
	t.Helper()
	p.click(`a[data-nav=tokens]`)
	p.waitJS("the tokens page", `document.querySelector('[data-revoke]')`, pollTimeout)
	p.shot("tokens")
	jti := js[string](p, `document.querySelector('[data-revoke]').dataset.revoke`)
	p.click(fmt.Sprintf(`[data-revoke=%q]`, jti))
	p.waitJS("the confirmation dialog", `document.querySelector('dialog[open]')`, pollTimeout)
	p.shot("tokens-revoke-confirm")
	p.click(`dialog[open] button[value=ok]`)
	p.waitText(fmt.Sprintf(`[data-token-status=%q]`, jti), "Revoked")
	p.shot("tokens-revoked")

	c := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 20*time.Second, "the gateway to be refused by the gate", func() error {
		_, body, err := get(c, nodeAPI+"/_node/sync")
		if err != nil {
			return err
		}
		if !strings.Contains(strings.ToLower(body), "revoked") {
			return fmt.Errorf("/_node/sync = %s", body)
		}
		return nil
	})
	p.click(`a[data-nav=overview]`)
	p.waitText(fmt.Sprintf(`[data-gateway-state=%q]`, gatewayID), "Refused")
	p.shot("overview-gateway-refused")
}

// phone looks at the overview and the analytics on a phone-sized screen: no
// page may scroll sideways (tables scroll inside their cards).
func phone(t *testing.T, p *page, gatewayID string) {
	t.Helper()
	p.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	defer p.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
	for _, pg := range []struct{ nav, ready string }{
		{"overview", fmt.Sprintf(`[data-gateway-state=%q]`, gatewayID)},
		{"analytics", "#recent-requests"},
	} {
		p.click(fmt.Sprintf(`a[data-nav=%s]`, pg.nav))
		p.waitJS(pg.nav+" on a phone", fmt.Sprintf(`document.querySelector(%s)`, quote(pg.ready)), pollTimeout)
		if w := js[int](p, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("%s is %d px wide on a 390 px screen", pg.nav, w)
		}
		p.shot(pg.nav + "-phone")
	}
}

// otherPlatforms runs the wizard for the Docker and appliance platforms in
// the existing environment and checks their filled-in instructions; the new
// gateways are listed as configured (never connected) on the overview.
func otherPlatforms(t *testing.T, p *page, firstToken string) {
	t.Helper()
	for _, c := range []struct {
		platform, newEnv, host, section string
		want                            []string
	}{
		{"docker", "staging", "https://gw-docker.acme.example", "#install-docker", []string{"docker run -d --name edgegate", "-p 8082:8082", "-e gravitee_cloud_token='", "-e gravitee_license_key='"}},
		{"appliance", "", "https://gw-box.acme.example:8443", "#install-appliance", []string{"make image TARGET=amd64", "edgegate provision --token-file cloud-token --license-file license.key --out prov.img", "dd if=prov.img"}},
	} {
		p.click(`a[data-nav=gateways]`)
		p.waitJS("the gateways page", `document.querySelector('#gateways table')`, pollTimeout)
		p.click("#deploy-gateway")
		p.waitJS("the wizard", `document.querySelector('#wizard')?.dataset.step === 'Gateway type'`, pollTimeout)
		p.click("#wizard-next")
		p.click(fmt.Sprintf(`label[data-choice=%s]`, c.platform))
		p.click("#wizard-next")
		p.waitJS("the environment step", `document.querySelector('#env-select')`, pollTimeout)
		if env := js[string](p, `document.querySelector('#env-select').value`); env != "acme/prod" {
			t.Errorf("the wizard offers %q as the existing environment, want acme/prod", env)
		}
		if c.newEnv != "" {
			p.click(`label[data-choice=new]`)
			p.typeInto("#org", "acme")
			p.typeInto("#env", c.newEnv)
		}
		p.click("#wizard-next")
		p.typeInto("#ap-0", c.host)
		p.click("#wizard-next")
		p.click("#generate")
		p.waitJS("the installation details", fmt.Sprintf(`document.querySelector(%s)`, quote(c.section)), pollTimeout)
		text := p.text(c.section)
		token := js[string](p, `document.querySelector('#cloud-token').value`)
		if token == "" || token == firstToken {
			t.Errorf("%s: the wizard shows no new token", c.platform)
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s instructions lack %q:\n%s", c.platform, w, text)
			}
		}
		if c.platform == "docker" && !strings.Contains(text, token) {
			t.Error("the docker run line does not carry the new token")
		}
		p.shot("wizard-installation-" + c.platform)
	}
	promote(t, p)
	p.click(`a[data-nav=overview]`)
	p.waitJS("three gateways, two configured", `document.querySelectorAll('[data-gateway-state]').length === 3 && [...document.querySelectorAll('[data-gateway-state]')].filter(e => e.textContent.includes('Configured')).length === 2`, pollTimeout)
	p.shot("overview-configured-gateways")
}

// dark looks at the overview with the dark colour scheme.
func dark(t *testing.T, p *page, gatewayID string) {
	t.Helper()
	scheme := func(v string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
			})
			return err
		})
	}
	p.do("dark colour scheme", scheme("dark"))
	defer p.do("light colour scheme", scheme("light"))
	p.click(`a[data-nav=overview]`)
	p.waitJS("the overview", fmt.Sprintf(`document.querySelector('[data-gateway-state=%q]')`, gatewayID), pollTimeout)
	p.shot("overview-dark")
}

// gateDown stops the Cloud Gate: the page keeps what it showed and says
// that it cannot reach the gate.
func gateDown(t *testing.T, p *page, g *gate) {
	t.Helper()
	g.proc.stop(t)
	p.waitText("#conn", "Cannot reach the Cloud Gate")
	p.shot("overview-gate-unreachable")
}

// TestApplianceDownloadLinks checks that the wizard's appliance step links
// the images a gate offers (console.Options.DownloadsDir). The console is
// served alone here: the appliance step needs no management API call.
func TestApplianceDownloadLinks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "edgegate-amd64.img"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.New(&console.Options{DownloadsDir: dir}))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := newPage(t, ctx)
	defer p.checkNoExceptions()
	p.do("open the console", navigate(srv.URL+"/console/"))
	p.waitJS("the sign-in page", `document.querySelector('#admin-token')`, pollTimeout)
	p.do("show the appliance steps", chromedp.Evaluate[chromedp.Void](
		`import('./js/pages/install.js').then(m => document.querySelector('main').replaceChildren(
			m.installation('appliance', {cloudToken: 'token-text', licenseKey: 'license-text'}, {org: 'acme', env: 'prod'})))`,
		chromedp.EvalAwaitPromise))
	p.waitText("#image-downloads", "edgegate-amd64.img (1 MiB)")
	href := js[string](p, `document.querySelector('#image-downloads a').href`)
	code, body, err := get(srv.Client(), href)
	if err != nil || code != http.StatusOK || len(body) != 1<<20 {
		t.Fatalf("GET %s = %d, %d bytes, %v", href, code, len(body), err)
	}
	p.shot("appliance-download-links")
}

// promote deploys the echo API to acme/staging from its page in acme/prod.
func promote(t *testing.T, p *page) {
	t.Helper()
	p.do("open the echo API", setHash("#/apis/acme/prod/console-echo"))
	p.waitJS("the promote form", `document.querySelector('#promote-env')`, pollTimeout)
	p.do("choose staging", selectOption("#promote-env", "acme/staging"))
	p.click("#promote")
	p.waitText("#promote-result", "Deployed to acme / staging")
	p.do("open staging's APIs", setHash("#/apis?env=acme%2Fstaging"))
	p.waitText(`[data-api-status="console-echo"]`, "Deployed")
	p.shot("apis-staging")
}
