package persist

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"

	"github.com/edgegate/edgegate/internal/cputime"
)

// reportRecord returns a realistic v4 metrics record of about 400 bytes.
func reportRecord(i int) []byte {
	return fmt.Appendf(nil, `{"timestamp":%d,"requestId":"5f0c1d2e-%08d-4a7b-9c3d-1e2f3a4b5c6d","transactionId":"5f0c1d2e-%08d-4a7b-9c3d-1e2f3a4b5c6d","apiId":"api-17","apiName":"Orders service 17","planId":"plan-key-17","applicationId":"app-3","organizationId":"acme","environmentId":"prod","gateway":"gw-branch-12","httpMethod":"GET","remoteAddress":"10.1.2.3","uri":"/orders-17/items/%d","endpoint":"http://10.0.0.17:8080/orders","endpointResponseTimeMs":12,"status":200,"responseContentLength":512,"gatewayResponseTimeMs":14,"gatewayLatencyMs":2}`,
		1_764_000_000_000+int64(i), i, i, i)
}

// BenchmarkSpoolAppend measures spooling with one fsync per batch; it
// reports records/s and the process CPU time per record (user + system,
// from getrusage: what the gateway pays per proxied request; fsync makes
// up most of the wall time but little of the CPU). The spool is acked as it
// goes so it stays small; the drain is not measured.
func BenchmarkSpoolAppend(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := openBench(b, nil)
			recs := benchRecords(size)
			cpu := &cpuMeter{b: b}
			b.SetBytes(int64(size * len(recs[0])))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				cpu.start()
				if _, err := db.AppendReports(recs); err != nil {
					b.Fatal(err)
				}
				cpu.stop()
				if i%10 == 9 {
					b.StopTimer()
					drain(b, db)
					b.StartTimer()
				}
			}
			cpu.report(b.N * size)
		})
	}
}

// cpuMeter adds up the process CPU time of the measured parts of a
// benchmark.
type cpuMeter struct {
	b                  *testing.B
	total, sys         time.Duration
	fromTotal, fromSys time.Duration
}

func (m *cpuMeter) start() { m.fromTotal, m.fromSys = cputime.Used(m.b) }

func (m *cpuMeter) stop() {
	total, sys := cputime.Used(m.b)
	m.total += total - m.fromTotal
	m.sys += sys - m.fromSys
}

// report adds cpu-ns/record (user + system), sys-ns/record (the kernel's
// share) and records/s for records handled in all.
func (m *cpuMeter) report(records int) {
	m.b.ReportMetric(float64(m.total.Nanoseconds())/float64(records), "cpu-ns/record")
	m.b.ReportMetric(float64(m.sys.Nanoseconds())/float64(records), "sys-ns/record")
	m.b.ReportMetric(float64(records)/m.b.Elapsed().Seconds(), "records/s")
}

func openBench(b *testing.B, opts *Options) *DB {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "state.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

func benchRecords(n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = reportRecord(i)
	}
	return recs
}

func drain(b *testing.B, db *DB) {
	for {
		batch, err := db.PeekReports(5000)
		if err != nil {
			b.Fatal(err)
		}
		if len(batch.Records) == 0 {
			return
		}
		if err := db.AckReports(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotLoad1000 measures loading (verify and decode) a snapshot
// of 1,000 v4 API definitions with 2,000 subscriptions.
func BenchmarkSnapshotLoad1000(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "state.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	}()
	s := testSnapshot(42, 1000)
	for i := range 2000 {
		s.Subscriptions = append(s.Subscriptions, wire.Subscription{ID: fmt.Sprintf("sub-%d", i),
			API: fmt.Sprintf("api-%d", i%1000), Plan: fmt.Sprintf("plan-key-%d", i%1000),
			Application: fmt.Sprintf("app-%d", i), Key: strings.Repeat("k", 32), Status: wire.SubAccepted,
			StartingAt: time.Now().UnixMilli()})
	}
	if err := db.SaveSnapshot(s); err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, a := range s.APIs {
		size += len(a)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.LoadSnapshot()
		if err != nil || len(got.APIs) != 1000 {
			b.Fatalf("LoadSnapshot: %v", err)
		}
	}
}

// BenchmarkSnapshotSave1000 measures saving the same snapshot (one fsync).
func BenchmarkSnapshotSave1000(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "state.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	}()
	s := testSnapshot(42, 1000)
	for b.Loop() {
		if err := db.SaveSnapshot(s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAPIJSONValid(t *testing.T) {
	for _, i := range []int{0, 999} {
		if !json.Valid([]byte(apiJSON(i))) {
			t.Fatalf("apiJSON(%d) is not valid JSON", i)
		}
	}
	if !json.Valid(reportRecord(1)) || len(reportRecord(1)) < 350 {
		t.Fatalf("reportRecord is not a ~400-byte JSON record: %s", reportRecord(1))
	}
}

// BenchmarkOpenVerify measures Open of a file with 64 MiB of spooled
// records (the default VerifyMaxBytes bound on record bytes; the file is
// larger) after an unclean shutdown: structure walk plus bbolt's check.
func BenchmarkOpenVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.db")
	db, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([][]byte, 10_000)
	for i := range recs {
		recs[i] = reportRecord(i)
	}
	for db.SpoolStats().Bytes < 64<<20 {
		if _, err := db.AppendReports(recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	for b.Loop() {
		if err := os.WriteFile(path+markerSuffix, nil, 0o600); err != nil {
			b.Fatal(err)
		}
		db, err := Open(path, &Options{VerifyMaxBytes: -1})
		if err != nil || db.Recovered() != "" {
			b.Fatalf("Open: %v %q", err, db.Recovered())
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpoolAppendFull measures appends to a full spool, where every
// batch first drops as many old records (bound 20,000 records).
func BenchmarkSpoolAppendFull(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := openBench(b, &Options{MaxSpoolRecords: 20_000})
			recs := benchRecords(size)
			for range 20_000 / size {
				if _, err := db.AppendReports(recs); err != nil {
					b.Fatal(err)
				}
			}
			cpu := &cpuMeter{b: b}
			b.ReportAllocs()
			for b.Loop() {
				cpu.start()
				n, err := db.AppendReports(recs)
				cpu.stop()
				if err != nil || n != len(recs) {
					b.Fatalf("AppendReports = %d, %v; want %d dropped", n, err, len(recs))
				}
			}
			cpu.report(b.N * size)
		})
	}
}

// BenchmarkSpoolPeekAck measures the uploader's side: peek a batch of
// 1,000 records and acknowledge it. The records are spooled beforehand in
// appends of 100 (the gateway's batches), which is not measured.
func BenchmarkSpoolPeekAck(b *testing.B) {
	const size, per = 1000, 100
	db := openBench(b, nil)
	recs := benchRecords(per)
	cpu := &cpuMeter{b: b}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range size / per {
			if _, err := db.AppendReports(recs); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		cpu.start()
		batch, err := db.PeekReports(size)
		if err == nil {
			err = db.AckReports(batch)
		}
		cpu.stop()
		if err != nil || len(batch.Records) != size {
			b.Fatalf("peek+ack: %d records, %v", len(batch.Records), err)
		}
	}
	cpu.report(b.N * size)
}
