package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// This file drives the console in headless Chromium (Debian's chromium
// package) with chromedp. See console_browser_test.go for the journey.

// actionTimeout bounds one browser step; pollTimeout one wait for the page.
const (
	actionTimeout = 20 * time.Second
	pollTimeout   = 20 * time.Second
)

// chromiumPath finds the browser: $EDGEGATE_CHROMIUM, else chromium on $PATH.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("EDGEGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium (apt-get install -y chromium; make test does it) or set EDGEGATE_CHROMIUM")
	return ""
}

// screenshotDir is $EDGEGATE_SCREENSHOTS (kept after the test) or a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("EDGEGATE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// page is one browser tab under test.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string
	n     int

	mu         sync.Mutex
	exceptions []string // uncaught exceptions and unhandled rejections
}

// newPage starts a headless Chromium that trusts nothing but ignores the
// development CA's certificate errors (the gate's CA is made per test), and
// records the page's console. The browser ends with ctx.
func newPage(t *testing.T, ctx context.Context) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	p := &page{t: t, ctx: bctx, shots: screenshotDir(t)}
	// Start the browser now, with no timeout on this first call (it would end the browser).
	if err := chromedp.Do(bctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go p.readConsole(&wg)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
	})
	return p
}

// readConsole logs the page's console and keeps its exceptions; it ends
// with the tab's context.
func (p *page) readConsole(wg *sync.WaitGroup) {
	defer wg.Done()
	for m, err := range chromedp.Console(p.ctx) {
		if err != nil {
			return
		}
		if m.IsException() {
			p.mu.Lock()
			p.exceptions = append(p.exceptions, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m.Text))
			p.mu.Unlock()
		}
	}
}

// checkNoExceptions fails the test if a script threw.
func (p *page) checkNoExceptions() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.exceptions) > 0 {
		p.t.Errorf("the console threw %d exception(s):\n%s", len(p.exceptions), strings.Join(p.exceptions, "\n"))
	}
}

// do runs browser actions with a time bound.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

// fail takes a screenshot of the failing state and stops the test.
func (p *page) fail(what string, err error) {
	p.t.Helper()
	p.shot("FAILED")
	p.t.Fatalf("%s: %v", what, err)
}

// click clicks the element the CSS selector finds.
func (p *page) click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into an input, as a user does (input events fire).
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.do("type into "+sel, chromedp.Click(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// js evaluates an expression and decodes its value.
func js[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("evaluate "+expr, err)
	}
	return v
}

// waitJS waits until the expression is truthy.
func (p *page) waitJS(what, expr string, d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		p.fail("wait for "+what, err)
	}
}

// quote makes a JavaScript string literal.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

// waitText waits until the element's text contains want.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("%q in %s", want, sel),
		fmt.Sprintf(`(document.querySelector(%s)?.textContent || '').includes(%s)`, quote(sel), quote(want)), pollTimeout)
}

// text returns the element's text content ("" when absent).
func (p *page) text(sel string) string {
	p.t.Helper()
	return js[string](p, fmt.Sprintf(`document.querySelector(%s)?.textContent || ''`, quote(sel)))
}

// unlabelledJS lists form controls and charts that a screen reader could not name.
const unlabelledJS = `[
  ...[...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select, textarea')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.closest('label'))
    .map(e => e.outerHTML.slice(0, 80)),
  ...[...document.querySelectorAll('svg.chart')].filter(e => !e.getAttribute('aria-label')).map(() => 'svg.chart without aria-label'),
  ...[...document.querySelectorAll('button')].filter(e => !e.textContent.trim() && !e.getAttribute('aria-label')).map(e => e.outerHTML.slice(0, 80)),
]`

// shot saves a full-page PNG screenshot and logs its path. It also fails the
// test for controls without an accessible name on the page.
func (p *page) shot(name string) string {
	p.t.Helper()
	if bad := js[[]string](p, unlabelledJS); len(bad) > 0 {
		p.t.Errorf("page %s has controls without an accessible name: %q", name, bad)
	}
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	// From the top: a full-page capture of a scrolled page draws the sticky header mid-page.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)")); err != nil {
		p.t.Errorf("scroll up for screenshot %s: %v", name, err)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p.n++
	path := filepath.Join(p.shots, fmt.Sprintf("%s-%02d-%s.png", strings.TrimPrefix(p.t.Name(), "Test"), p.n, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p.t.Logf("screenshot %s", path)
	return path
}

// grantClipboard lets the page write and read the clipboard, so the test
// reads what the Copy buttons copied.
func (p *page) grantClipboard(origin string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted,
			Origin:     origin,
		})
		if err != nil {
			p.t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// navigate loads url in the tab.
func navigate(url string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(url) }

// setValue sets a field's value at once, as a paste does, and fires its input event.
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true})); })()`,
		quote(sel), quote(v)))
}

// setHash moves the console to another route, as a bookmark does.
func setHash(hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void]("location.hash = " + quote(hash))
}

// selectOption picks an option of a <select> and fires its change event.
func selectOption(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const s = document.querySelector(%s); s.value = %s; s.dispatchEvent(new Event('change', {bubbles: true})); })()`,
		quote(sel), quote(value)))
}
