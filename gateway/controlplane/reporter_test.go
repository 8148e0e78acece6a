package controlplane

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/persist"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func openDB(t testing.TB) *persist.DB {
	t.Helper()
	db, err := persist.Open(filepath.Join(t.TempDir(), StateFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// eventually polls f every 10 ms until it returns "" or within passes.
func eventually(t testing.TB, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func rec(i int) *analytics.Record {
	return &analytics.Record{RequestID: "req-" + strconv.Itoa(i), HTTPMethod: "GET", URI: "/x", Status: 200}
}

func TestRecordNeverBlocksAndCountsOverflow(t *testing.T) {
	rp := NewReporter(openDB(t), testLogger(t), 10) // writer not started: the queue only fills
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			rp.Record(rec(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked on a full queue")
	}
	if got := rp.queueDropped.Load(); got != 90 {
		t.Fatalf("dropped %d, want 90", got)
	}
	if got := rp.requests.Load(); got != 100 {
		t.Fatalf("requests %d, want 100", got)
	}
}

func TestRecordBoundsTheBufferedBytes(t *testing.T) {
	rp := NewReporter(openDB(t), testLogger(t), 0) // writer not started
	big := rec(0)
	big.URI = "/" + strings.Repeat("x", 1<<20) // 1 MiB each
	for range 40 {
		rp.Record(big)
	}
	kept := int64(40) - rp.queueDropped.Load()
	if kept < maxBufferedBytes>>20 || kept > maxBufferedBytes>>20+1 {
		t.Fatalf("kept %d records of 1 MiB in memory, want %d (maxBufferedBytes)", kept, maxBufferedBytes>>20)
	}
	if rp.backlog() != int(kept) {
		t.Fatalf("backlog %d, want %d", rp.backlog(), kept)
	}
}

func TestShutdownFlushesTheQueueIntoTheSpool(t *testing.T) {
	db := openDB(t)
	rp := NewReporter(db, testLogger(t), 0)
	rp.Start()
	for i := range 3000 {
		rp.Record(rec(i))
	}
	rp.Shutdown()
	if st := db.SpoolStats(); st.Records != 3000 {
		t.Fatalf("spooled %d records after Shutdown, want 3000", st.Records)
	}
}

// reportGate is a /reports endpoint that fails the first failures calls
// (503 with Retry-After: 1) and then stores records by request id.
type reportGate struct {
	mu       sync.Mutex
	failures int
	keys     []string
	ids      map[string]int
	dropped  int64
}

func (g *reportGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keys = append(g.keys, r.Header.Get(wire.HeaderIdempotencyKey))
	if g.failures > 0 {
		g.failures--
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var b wire.ReportBatch
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if b.BatchID != r.Header.Get(wire.HeaderIdempotencyKey) {
		http.Error(w, "batch id and idempotency key differ", http.StatusBadRequest)
		return
	}
	for _, x := range b.Records {
		g.ids[x.RequestID]++
	}
	g.dropped += b.Dropped
	json.NewEncoder(w).Encode(wire.ReportAck{Accepted: len(b.Records)})
}

func (g *reportGate) unique() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ids)
}

func TestUploaderDeliversEverythingOnceAcknowledged(t *testing.T) {
	ca := newTestCA(t, "gate CA")
	g := &reportGate{failures: 2, ids: map[string]int{}}
	srv := tlsServer(t, ca, g)
	c, err := NewGateClient(srv.URL, "t", ca.pin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db := openDB(t)
	rp := NewReporter(db, testLogger(t), 0)
	rp.queueDropped.Add(7) // as if the queue had overflowed
	rp.Start()
	defer rp.Shutdown()
	up := newUploader(rp, c, "gw-1", testLogger(t))
	up.Start(context.Background())
	defer up.Shutdown()
	const n = 2500
	for i := range n {
		rp.Record(rec(i))
	}
	eventually(t, 20*time.Second, func() string {
		if got := g.unique(); got != n {
			return "gate has " + strconv.Itoa(got) + " records"
		}
		if st := db.SpoolStats(); st.Records != 0 {
			return "spool still holds " + strconv.FormatInt(st.Records, 10)
		}
		return ""
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.keys[0] == "" || g.keys[0] != g.keys[1] || g.keys[1] != g.keys[2] {
		t.Fatalf("a retried batch must keep its idempotency key: %v", g.keys[:3])
	}
	if g.dropped != 7 {
		t.Fatalf("gate told of %d dropped records, want 7", g.dropped)
	}
	if up.errors.Load() != 2 {
		t.Fatalf("upload errors %d, want 2", up.errors.Load())
	}
}

func TestUploaderKeepsRecordsUntilAcknowledged(t *testing.T) {
	ca := newTestCA(t, "gate CA")
	srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, `{"message":"store down"}`, http.StatusInternalServerError)
	}))
	c, err := NewGateClient(srv.URL, "t", ca.pin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db := openDB(t)
	rp := NewReporter(db, testLogger(t), 0)
	rp.Start()
	for i := range 10 {
		rp.Record(rec(i))
	}
	rp.Shutdown()
	up := newUploader(rp, c, "gw-1", testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := up.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded against a failing gate")
	}
	if st := db.SpoolStats(); st.Records != 10 {
		t.Fatalf("spool holds %d after a failed upload, want 10", st.Records)
	}
}

func TestUploaderIsolatesARecordTheGateRefuses(t *testing.T) {
	ca := newTestCA(t, "gate CA")
	var mu sync.Mutex
	ids, dropped := map[string]bool{}, int64(0)
	srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var b wire.ReportBatch
		if err := json.NewDecoder(zr).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for i, x := range b.Records {
			if x.RequestID == "req-13" {
				http.Error(w, `{"message":"records[`+strconv.Itoa(i)+`].requestId is poison"}`, http.StatusBadRequest)
				return
			}
		}
		mu.Lock()
		for _, x := range b.Records {
			ids[x.RequestID] = true
		}
		dropped += b.Dropped
		mu.Unlock()
		json.NewEncoder(w).Encode(wire.ReportAck{Accepted: len(b.Records)})
	}))
	c, err := NewGateClient(srv.URL, "t", ca.pin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db := openDB(t)
	rp := NewReporter(db, testLogger(t), 0)
	rp.Start()
	for i := range 50 {
		rp.Record(rec(i))
	}
	rp.Shutdown()
	up := newUploader(rp, c, "gw-1", testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := up.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := db.SpoolStats(); st.Records != 0 {
		t.Fatalf("spool holds %d, want 0", st.Records)
	}
	// The dropped count travels with the next acknowledged batch.
	rp2 := rp
	rp2.Start()
	rp2.Record(rec(100))
	rp2.Shutdown()
	if err := up.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 50 || ids["req-13"] {
		t.Fatalf("gate stored %d records (poison stored: %v), want the 49 good ones and the later one", len(ids), ids["req-13"])
	}
	if dropped != 1 || rp.rejected.Load() != 1 {
		t.Fatalf("gate told of %d dropped, rejected %d; want 1 and 1", dropped, rp.rejected.Load())
	}
}

// TestNewBlockRoom: a block made new (no spare to reuse) starts with room
// for a block like the last one the writer took, within bounds.
func TestNewBlockRoom(t *testing.T) {
	cases := []struct {
		name     string
		lastSize int
		want     int
	}{
		{"first block", 0, minBlockCap},
		{"small blocks", 1000, minBlockCap},
		{"typical block", 600 << 10, 750 << 10},
		{"huge block", 4 << 20, blockBytes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rp := NewReporter(openDB(t), testLogger(t), 0)
			rp.lastSize = tc.lastSize
			b := rp.takeSpare()
			if cap(b.buf) != tc.want || len(b.buf) != 0 || len(b.ends) != 0 {
				t.Fatalf("new block: len %d cap %d, %d ends; want empty with cap %d", len(b.buf), cap(b.buf), len(b.ends), tc.want)
			}
		})
	}
}

// TestSpooledRecordsAreTheEncodedRecords: what reaches the spool, through
// new, grown and reused blocks, is each record's AppendJSON, in order.
func TestSpooledRecordsAreTheEncodedRecords(t *testing.T) {
	db := openDB(t)
	rp := NewReporter(db, testLogger(t), 0)
	const n = 3*writeBatch + 17
	want := make([][]byte, n)
	for i := range n {
		r := rec(i)
		r.UserAgent = strings.Repeat("u", i%300) // blocks outgrow their first room
		want[i] = r.AppendJSON(nil)
		rp.Record(r)
		if i%writeBatch == writeBatch-1 { // play the writer: spare blocks get reused
			b, _ := rp.next(true)
			rp.write(b)
		}
	}
	for b, _ := rp.next(true); b != nil; b, _ = rp.next(true) {
		rp.write(b)
	}
	batch, err := db.PeekReports(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Records) != n {
		t.Fatalf("spooled %d records, want %d", len(batch.Records), n)
	}
	for i, got := range batch.Records {
		if string(got) != string(want[i]) {
			t.Fatalf("record %d:\n%s\nwant\n%s", i, got, want[i])
		}
	}
}
