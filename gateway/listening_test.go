package gateway

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestListeningFollowsServe: Listening is what readiness adds to Ready, so it
// must be true exactly while Serve's listeners are bound.
func TestListeningFollowsServe(t *testing.T) {
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Listening() {
		t.Fatal("listening before Serve")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, Listeners{HTTPListener: ln}) }()
	deadline := time.Now().Add(5 * time.Second)
	for !g.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("not listening 5 s after Serve started")
		}
		time.Sleep(time.Millisecond)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("listening, but a connection was refused: %v", err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if g.Listening() {
		t.Fatal("still listening after Serve returned")
	}
}
