package controlplane

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	bolt "go.etcd.io/bbolt"
	"io"
	"net/http/httptest"
)

// TestRunServesPreviousSnapshotWhenLatestIsDamaged damages the latest
// snapshot record on disk (one flipped byte, as a bad sector would) and
// restarts offline: the gateway serves the previous good revision and says
// what happened in /_node/sync.
func TestRunServesPreviousSnapshotWhenLatestIsDamaged(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	ca := newTestCA(t, "gate CA")
	g := &syncGate{deltas: map[int64]wire.SyncResponse{}, rev: 1}
	g.full = wire.SyncResponse{Revision: 1, Full: true, Organization: "acme", Environment: "prod", APIs: []json.RawMessage{apiJSON("one", "/one", backend.URL)}}
	srv := tlsServer(t, ca, g)
	token, license := creds(t, srv.URL, ca, time.Now().Add(365*24*time.Hour))
	data := t.TempDir()

	n := startRun(t, Options{DataDir: data, TokenText: token, LicenseText: license})
	n.waitStatus(t, "/one/x", http.StatusOK)
	g.push(wire.SyncResponse{Revision: 2, APIs: []json.RawMessage{apiJSON("two", "/two", backend.URL)}})
	n.waitStatus(t, "/two/x", http.StatusOK)
	if err := n.stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
	srv.Close()

	flipLatestSnapshotByte(t, filepath.Join(data, "edgegate.db"))

	n2 := startRun(t, Options{DataDir: data})
	n2.waitStatus(t, "/one/x", http.StatusOK)
	n2.waitStatus(t, "/two/x", http.StatusNotFound)
	s := n2.sync(t)
	if s.Source != SourceSnapshot || s.Revision != 1 || !strings.Contains(s.SnapshotRecovered, "previous") {
		t.Fatalf("after a damaged latest snapshot: %+v", s)
	}
}

// flipLatestSnapshotByte flips one byte inside the latest snapshot's payload.
func flipLatestSnapshotByte(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("snapshot"))
		if b == nil {
			t.Fatal("no snapshot bucket")
		}
		v := b.Get([]byte("latest"))
		if v == nil {
			t.Fatal("no latest snapshot")
		}
		rec := append([]byte(nil), v...)
		rec[len(rec)-3] ^= 0x20
		return b.Put([]byte("latest"), rec)
	})
	if err != nil {
		t.Fatal(err)
	}
}
