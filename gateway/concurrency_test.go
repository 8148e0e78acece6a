package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

// TestConcurrentTraffic sends mixed traffic from many goroutines over
// HTTP/1.1 and HTTP/2 (run with -race) and checks every answer.
func TestConcurrentTraffic(t *testing.T) {
	be := newBackend(t, "a")
	keyed := apiKeyAPI("k", "/k", be.URL)
	keyed["flows"] = []any{map[string]any{"request": []any{
		step("rate-limit", map[string]any{"rate": map[string]any{"limit": 1 << 30, "periodTime": 1, "periodTimeUnit": "MINUTES"}}),
		step("transform-headers", map[string]any{"addHeaders": []any{map[string]any{"name": "X-T", "value": "1"}}}),
	}}}
	cached := flowAPI(be.URL, []any{step("cache", map[string]any{"timeToLiveSeconds": 60})}, nil)
	g, err := New(Options{Recorder: &memRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	subs := []wire.Subscription{{ID: "s", API: "k", Plan: "k-key", Application: "app", Key: "key1", Status: wire.SubAccepted}}
	if err := g.Apply(&Config{APIs: mustAPIs(t, apiJSON("a", "/a", []string{be.URL}, nil), keyed, cached), Subscriptions: subs}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		c, base := s.h1, s.httpURL
		if w%2 == 1 {
			c, base = s.h2, s.tlsURL
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if err := mixedRequest(c, base, w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Swap configurations while traffic flows.
	for i := range 5 {
		if err := g.Apply(&Config{Revision: int64(i), APIs: mustAPIs(t, apiJSON("a", "/a", []string{be.URL}, nil), keyed, cached), Subscriptions: subs}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func mixedRequest(c *http.Client, base string, w, i int) error {
	var req *http.Request
	var err error
	want := ""
	switch i % 4 {
	case 0:
		req, err = http.NewRequest("GET", fmt.Sprintf("%s/a/%d/%d", base, w, i), nil)
		want = fmt.Sprintf("a GET /%d/%d body=", w, i)
	case 1:
		body := fmt.Sprintf("payload-%d-%d", w, i)
		req, err = http.NewRequest("POST", base+"/a/post", strings.NewReader(body))
		want = "a POST /post body=" + body
	case 2:
		req, err = http.NewRequest("GET", base+"/k/x", nil)
		if req != nil {
			req.Header.Set(apiKeyHeader, "key1")
		}
		want = "a GET /x body="
	case 3:
		req, err = http.NewRequest("GET", fmt.Sprintf("%s/p/c%d", base, i%3), nil)
		want = fmt.Sprintf("a GET /c%d body=", i%3)
	}
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(b) != want {
		return fmt.Errorf("%s %s: %d %q, want %q", req.Method, req.URL.Path, resp.StatusCode, b, want)
	}
	return nil
}
