package controlplane

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

func TestPinnedTLS(t *testing.T) {
	gateCA, otherCA := newTestCA(t, "gate CA"), newTestCA(t, "other CA")
	srv := tlsServer(t, gateCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"revision":1,"full":true,"apis":[],"subscriptions":[]}`)
	}))
	for _, tc := range []struct {
		name    string
		pin     string
		wantErr error
	}{
		{"pinned CA", gateCA.pin(), nil},
		{"pin of another CA", otherCA.pin(), ErrPinMismatch},
		{"no pin uses system roots", "", errUnknownAuthority},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewGateClient(srv.URL, "tok", tc.pin, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Sync(context.Background(), 0)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("sync: %v", err)
			case tc.wantErr == errUnknownAuthority:
				if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
					t.Fatalf("got %v, want an unknown-authority error", err)
				}
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// errUnknownAuthority marks the system-roots case in TestPinnedTLS.
var errUnknownAuthority = errors.New("unknown authority")

func TestPinnedTLSRefusesAGateFromAnotherCA(t *testing.T) {
	gateCA, impostorCA := newTestCA(t, "gate CA"), newTestCA(t, "impostor CA")
	impostor := tlsServer(t, impostorCA, http.NotFoundHandler())
	c, err := NewGateClient(impostor.URL, "tok", gateCA.pin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Sync(context.Background(), 0); !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("impostor gate accepted or wrong error: %v", err)
	}
}

func TestBadPinIsRefused(t *testing.T) {
	if _, err := NewGateClient("https://127.0.0.1:1", "t", "sha256:xyz", nil); err == nil {
		t.Fatal("a malformed pin was accepted")
	}
	if _, err := NewGateClient("http://127.0.0.1:1", "t", "", nil); err == nil {
		t.Fatal("a plain http gate URL was accepted")
	}
}

func TestSyncAnswers(t *testing.T) {
	ca := newTestCA(t, "gate CA")
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		header  map[string]string
		want    int64 // revision; 0 = nil answer
		wantErr string
		unauth  bool
		retry   time.Duration
	}{
		{name: "full", status: 200, body: `{"revision":7,"full":true,"apis":[],"subscriptions":[]}`, want: 7},
		{name: "no change", status: 204},
		{name: "revoked token", status: 401, body: `{"message":"cloud token revoked","code":"revoked"}`, wantErr: "cloud token revoked", unauth: true},
		{name: "forbidden", status: 403, body: `{"message":"another org"}`, wantErr: "another org", unauth: true},
		{name: "overloaded", status: 503, body: "busy", header: map[string]string{"Retry-After": "12"}, wantErr: "503", retry: 12 * time.Second},
		{name: "garbage", status: 200, body: "\x00\x01not json", wantErr: "not a sync message"},
		{name: "no revision", status: 200, body: `{"full":true}`, wantErr: "no revision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotHdr http.Header
			srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotHdr = r.Header.Clone()
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			c, err := NewGateClient(srv.URL, "the-token", ca.pin(), func() http.Header {
				return http.Header{wire.HeaderGatewayID: {"gw-1"}}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sr, err := c.Sync(context.Background(), 0)
			if gotHdr.Get("Authorization") != "Bearer the-token" || gotHdr.Get(wire.HeaderGatewayID) != "gw-1" {
				t.Fatalf("headers not sent: %v", gotHdr)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if errors.Is(err, ErrUnauthorized) != tc.unauth {
					t.Fatalf("errors.Is(ErrUnauthorized) = %v, want %v", !tc.unauth, tc.unauth)
				}
				var se *StatusError
				if tc.retry != 0 && (!errors.As(err, &se) || se.RetryAfter != tc.retry) {
					t.Fatalf("Retry-After not honoured: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (sr == nil) != (tc.want == 0) || (sr != nil && sr.Revision != tc.want) {
				t.Fatalf("answer %+v, want revision %d", sr, tc.want)
			}
		})
	}
}

func TestSyncLongPollQuery(t *testing.T) {
	ca := newTestCA(t, "gate CA")
	got := make(chan string, 1)
	srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.RawQuery
		w.WriteHeader(http.StatusNoContent)
	}))
	c, err := NewGateClient(srv.URL, "t", ca.pin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Sync(context.Background(), 42); err != nil {
		t.Fatal(err)
	}
	if q := <-got; q != "since=42&wait=30" {
		t.Fatalf("query %q, want since=42&wait=30", q)
	}
}

func TestPostReportsIsGzipWithIdempotencyKey(t *testing.T) {
	ca := newTestCA(t, "gate CA")
	type seen struct {
		key, enc string
		body     []byte
	}
	got := make(chan seen, 1)
	srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got <- seen{r.Header.Get(wire.HeaderIdempotencyKey), r.Header.Get("Content-Encoding"), b}
		json.NewEncoder(w).Encode(wire.ReportAck{Accepted: 1})
	}))
	c, err := NewGateClient(srv.URL, "t", ca.pin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PostReports(context.Background(), "batch-1", []byte(`{"batchId":"batch-1"}`)); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.key != "batch-1" || s.enc != "gzip" || string(s.body) != `{"batchId":"batch-1"}` {
		t.Fatalf("gate saw %+v", s)
	}
}

func FuzzDecodeSync(f *testing.F) {
	f.Add([]byte(`{"revision":1,"full":true,"organization":"acme","environment":"prod","apis":[{"id":"a"}],"subscriptions":[{"id":"s","api":"a","plan":"p","application":"x","key":"k","status":"ACCEPTED"}],"serverTime":1}`))
	f.Add([]byte(`{"revision":2,"full":false,"apis":[],"removedApis":["a"],"removedSubscriptions":["s"]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"revision":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := decodeSync(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if sr.Revision <= 0 {
			t.Fatalf("accepted revision %d", sr.Revision)
		}
		// Whatever decodes must merge or be refused with an error, never panic.
		if next, err := merge(nil, &wire.SyncResponse{Revision: sr.Revision, Full: true, APIs: sr.APIs, Subscriptions: sr.Subscriptions}); err == nil && next == nil {
			t.Fatal("merge returned neither state nor error")
		}
	})
}
