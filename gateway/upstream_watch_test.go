package gateway

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownAbortsUpstreamOfKeepAliveConnection: on package h1's
// listener one watch of the connection's context serves all its requests
// (connInfo.watch). After two exchanges on one client connection, a third
// stuck on a silent upstream must be aborted when shutdown gives up on it,
// long before the upstream's read timeout (60 s here).
func TestShutdownAbortsUpstreamOfKeepAliveConnection(t *testing.T) {
	got := make(chan struct{}, 1)
	ended := make(chan struct{}, 1)
	be := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/slow") {
			_, _ = w.Write([]byte("fast"))
			return
		}
		got <- struct{}{}
		select {
		case <-r.Context().Done(): // the gateway dropped the upstream connection
			ended <- struct{}{}
		case <-time.After(30 * time.Second):
		}
	})
	def := apiJSON("api", "/api", []string{be}, nil)
	def["endpointGroups"].([]any)[0].(map[string]any)["sharedConfiguration"] = map[string]any{"http": map[string]any{"readTimeout": 60000}}
	g, err := New(Options{Limits: Limits{ShutdownTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, def)}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	if _, err := getWithRetry(s.h1, s.httpURL+"/api/ready"); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(s.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		if _, err := c.Write([]byte("GET /api/fast HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if _, err := c.Write([]byte("GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never reached the backend")
	}
	start := time.Now()
	s.stopOnce.Do(func() {
		s.cancel() // shutdown gives up on the request after 200 ms and ends its context
		select {
		case err := <-s.done:
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not shut down")
		}
	})
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("shutdown took %v: the upstream exchange was not aborted", d)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection was not closed")
	}
}

// TestWatchReleaseAndAbort covers connInfo.watch's handshake between an
// exchange's stop and the context's end.
func TestWatchReleaseAndAbort(t *testing.T) {
	newConn := func(t *testing.T) (*h1Conn, *atomic.Int32) {
		aborted := new(atomic.Int32)
		return &h1Conn{abort: func() { aborted.Add(1) }}, aborted
	}
	waitAborted := func(t *testing.T, aborted *atomic.Int32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for aborted.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // AfterFunc runs on its own goroutine
		}
		if n := aborted.Load(); n != 1 {
			t.Fatalf("aborted %d times", n)
		}
	}
	t.Run("stop before the end", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ci := &connInfo{connScoped: true}
		c, aborted := newConn(t)
		stop := ci.watch(ctx, c)
		if !stop() {
			t.Fatal("stop reported the context ended")
		}
		if stop() {
			t.Fatal("a second stop must report false, as AfterFunc's does")
		}
		c2, aborted2 := newConn(t)
		if !ci.watch(ctx, c2)() || aborted.Load() != 0 || aborted2.Load() != 0 {
			t.Fatalf("second exchange: aborted %d %d", aborted.Load(), aborted2.Load())
		}
	})
	t.Run("end during the exchange", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ci := &connInfo{connScoped: true}
		c, aborted := newConn(t)
		stop := ci.watch(ctx, c)
		cancel()
		waitAborted(t, aborted)
		if stop() {
			t.Fatal("stop reported the context alive after it ended")
		}
	})
	t.Run("ended before the exchange", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ci := &connInfo{connScoped: true}
		c, aborted := newConn(t)
		stop := ci.watch(ctx, c)
		waitAborted(t, aborted)
		if stop() {
			t.Fatal("stop reported an ended context alive")
		}
	})
}
