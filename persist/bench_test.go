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
)

// reportRecord returns a realistic v4 metrics record of about 400 bytes.
func reportRecord(i int) []byte {
	return fmt.Appendf(nil, `{"timestamp":%d,"requestId":"5f0c1d2e-%08d-4a7b-9c3d-1e2f3a4b5c6d","transactionId":"5f0c1d2e-%08d-4a7b-9c3d-1e2f3a4b5c6d","apiId":"api-17","apiName":"Orders service 17","planId":"plan-key-17","applicationId":"app-3","organizationId":"acme","environmentId":"prod","gateway":"gw-branch-12","httpMethod":"GET","remoteAddress":"10.1.2.3","uri":"/orders-17/items/%d","endpoint":"http://10.0.0.17:8080/orders","endpointResponseTimeMs":12,"status":200,"responseContentLength":512,"gatewayResponseTimeMs":14,"gatewayLatencyMs":2}`,
		1_764_000_000_000+int64(i), i, i, i)
}

// BenchmarkSpoolAppend measures spooling with one fsync per batch; it
// reports records/s. The spool is acked as it goes so it stays small.
func BenchmarkSpoolAppend(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "state.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := db.Close(); err != nil {
					b.Error(err)
				}
			}()
			recs := make([][]byte, size)
			for i := range recs {
				recs[i] = reportRecord(i)
			}
			b.SetBytes(int64(size * len(recs[0])))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := db.AppendReports(recs); err != nil {
					b.Fatal(err)
				}
				if i%10 == 9 {
					b.StopTimer()
					drain(b, db)
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
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
	db, err := Open(filepath.Join(b.TempDir(), "state.db"), &Options{MaxSpoolRecords: 20_000})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	}()
	recs := make([][]byte, 1000)
	for i := range recs {
		recs[i] = reportRecord(i)
	}
	for range 20 {
		if _, err := db.AppendReports(recs); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if n, err := db.AppendReports(recs); err != nil || n != len(recs) {
			b.Fatalf("AppendReports = %d, %v; want %d dropped", n, err, len(recs))
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
