package controlplane

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkReporterThroughput measures records per second from Record to
// committed in the spool (fsync per block), including the final flush. The
// loop waits whenever the writer falls a whole queue behind, so nothing is
// dropped and the figure is the writer's capacity, not the drop rate; the
// spool's bound is large enough to keep everything.
func BenchmarkReporterThroughput(b *testing.B) {
	db := openDB(b)
	const queue = 1 << 16
	rp := NewReporter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), queue)
	rp.Start()
	r := rec(1)
	start := time.Now()
	n := 0
	for b.Loop() {
		rp.Record(r)
		if n++; n%(queue/2) == 0 {
			for rp.backlog() > queue/2 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	rp.Shutdown()
	elapsed := time.Since(start)
	st := db.SpoolStats()
	if got := st.Records + rp.queueDropped.Load() + rp.spoolDropped.Load(); got != int64(b.N) {
		b.Fatalf("%d spooled + %d dropped from the queue + %d dropped from the full spool = %d, want %d",
			st.Records, rp.queueDropped.Load(), rp.spoolDropped.Load(), got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(rp.queueDropped.Load()+rp.spoolDropped.Load()), "dropped")
}

// backlog is how many records wait in memory.
func (rp *Reporter) backlog() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.buffered
}
