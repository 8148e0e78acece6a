package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestWebSocketPassThrough(t *testing.T) {
	echo := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			return
		}
		if err := brw.Flush(); err != nil {
			return
		}
		_, _ = io.Copy(c, brw) // echo until the client closes
	})
	addr, _ := edgeGatewayFor(t, apiJSON("ws", "/ws", []string{echo}, nil))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /ws/chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"ping", "pong-and-more"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
}

// edgeGatewayFor serves defs on a real HTTP listener.
func edgeGatewayFor(t *testing.T, defs ...map[string]any) (string, *Gateway) {
	t.Helper()
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, defs...)}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, Listeners{HTTPListener: l}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String(), g
}

func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	slow := newBackendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			return // health check
		}
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "finished") // the gateway reads it
	})
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	hc := map[string]any{"services": map[string]any{"healthCheck": map[string]any{"enabled": true,
		"configuration": map[string]any{"schedule": "1s", "target": "/"}}}}
	def := apiJSON("s", "/s", nil, map[string]any{"endpointGroups": groupWith("round-robin", []any{ep("slow", slow, 1, false)}, hc)})
	if err := g.Apply(&Config{APIs: mustAPIs(t, def)}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := getWithRetry(s.h1, s.httpURL+"/s/x")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the backend")
	}
	s.cancel() // shutdown starts while the request waits on the backend
	time.Sleep(50 * time.Millisecond)
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	s.stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for goroutinesMatching("edgegate/gateway.") != "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if stack := goroutinesMatching("edgegate/gateway."); stack != "" {
		t.Fatalf("gateway goroutines left after shutdown:\n%s", stack)
	}
}

// goroutinesMatching returns the stacks of goroutines mentioning s, except
// test goroutines.
func goroutinesMatching(s string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, s) && !strings.Contains(g, "_test.go") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
