package controlplane

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/analytics"

	"github.com/edgegate/edgegate/internal/cputime"
)

// BenchmarkReporterThroughput measures records per second from Record to
// committed in the spool (fsync per block), including the final flush. The
// loop waits whenever the writer falls a whole queue behind, so nothing is
// dropped and the figure is the writer's capacity, not the drop rate; the
// spool's bound is large enough to keep everything. cpu-ns/record is the
// process CPU time (user + system, getrusage) per record: the request
// path's and the writer's share together, what the gateway pays per
// proxied request; sys-ns/record is the kernel's part (writes, fsync).
func BenchmarkReporterThroughput(b *testing.B) { benchThroughput(b, rec(1), 2) }

// BenchmarkReporterThroughputTypical is BenchmarkReporterThroughput with
// records shaped like the api-key benchmark's (about 600 bytes of JSON);
// it waits for the writer at a quarter of the queue, so that the backlog
// stays under maxBufferedBytes. The default spool bound (256 MiB) holds
// about 400,000 of them: with a larger -benchtime the spool evicts (counted
// as dropped), which measures the full-spool path instead.
func BenchmarkReporterThroughputTypical(b *testing.B) { benchThroughput(b, typicalRecord(), 4) }

// benchThroughput records r b.N times, waiting for the writer whenever
// queue/part records are buffered.
func benchThroughput(b *testing.B, r *analytics.Record, part int) {
	db := openDB(b)
	const queue = 1 << 16
	rp := NewReporter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), queue)
	rp.Start()
	cpu0, sys0 := cputime.Used(b)
	start := time.Now()
	n := 0
	for b.Loop() {
		rp.Record(r)
		if n++; n%(queue/part) == 0 {
			for rp.backlog() > queue/part {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	rp.Shutdown()
	elapsed := time.Since(start)
	cpu1, sys1 := cputime.Used(b)
	st := db.SpoolStats()
	if got := st.Records + rp.queueDropped.Load() + rp.spoolDropped.Load(); got != int64(b.N) {
		b.Fatalf("%d spooled + %d dropped from the queue + %d dropped from the full spool = %d, want %d",
			st.Records, rp.queueDropped.Load(), rp.spoolDropped.Load(), got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(rp.queueDropped.Load()+rp.spoolDropped.Load()), "dropped")
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/record")
	b.ReportMetric(float64((sys1-sys0).Nanoseconds())/float64(b.N), "sys-ns/record")
}

// backlog is how many records wait in memory.
func (rp *Reporter) backlog() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.buffered
}

// BenchmarkReporterRecord measures what Record costs the request path:
// encoding a typical record into the current block under the mutex. The
// writer is played inline (blocks are taken and recycled as they fill,
// without touching the disk), so the figure is the request's share only.
func BenchmarkReporterRecord(b *testing.B) {
	rp := NewReporter(openDB(b), slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	r := typicalRecord()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rp.Record(r)
		if n++; n%writeBatch == 0 {
			blk, _ := rp.next(true)
			rp.recycle(blk)
		}
	}
}

// typicalRecord is shaped like the api-key benchmark's records: UUIDs,
// short ids, one URI, no error.
func typicalRecord() *analytics.Record {
	return &analytics.Record{Timestamp: 1764150000000, RequestID: "5f0c1d2e-8a9b-4a7b-9c3d-1e2f3a4b5c6d",
		TransactionID: "5f0c1d2e-8a9b-4a7b-9c3d-1e2f3a4b5c6d", APIID: "api-17", APIName: "Orders service 17",
		PlanID: "plan-key-17", ApplicationID: "app-3", SubscriptionID: "sub-3", OrganizationID: "acme",
		EnvironmentID: "prod", GatewayID: "gw-branch-12", HTTPMethod: "GET", RemoteAddress: "10.1.2.3",
		Host: "api.example.com", URI: "/orders-17/items/42", Endpoint: "http://10.0.0.17:8080/orders",
		EndpointResponseTimeMs: 12, Status: 200, ResponseContentLength: 512, GatewayResponseTimeMs: 14,
		GatewayLatencyMs: 2, SecurityType: "API_KEY"}
}
