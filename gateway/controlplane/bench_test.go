package controlplane

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkReporterThroughput measures records per second from Record to
// committed in the spool (fsync per batch), including the final flush.
func BenchmarkReporterThroughput(b *testing.B) {
	db := openDB(b)
	rp := NewReporter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), 1<<20)
	rp.Start()
	r := rec(1)
	start := time.Now()
	for b.Loop() {
		rp.Record(r)
	}
	rp.Shutdown()
	elapsed := time.Since(start)
	if st := db.SpoolStats(); st.Records+rp.queueDropped.Load() != int64(b.N) {
		b.Fatalf("%d spooled + %d dropped, want %d", st.Records, rp.queueDropped.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(rp.queueDropped.Load()), "dropped")
}
