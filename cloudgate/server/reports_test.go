package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
)

func batchJSON(t testing.TB, id string, dropped int64, reqIDs ...string) []byte {
	t.Helper()
	b := wire.ReportBatch{BatchID: id, GatewayID: "node-1", Dropped: dropped, Records: []analytics.Record{}}
	for i, r := range reqIDs {
		b.Records = append(b.Records, analytics.Record{Timestamp: 1_700_000_000_000 + int64(i), RequestID: r, HTTPMethod: "GET", URI: "/demo", Status: 200, APIID: "a"})
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (g *gate) report(token string, hdr map[string]string, body []byte) (int, []byte) {
	g.t.Helper()
	return g.call("POST", "/reports", token, hdr, body)
}

func TestReports(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	gzipped := map[string]string{"Content-Encoding": "gzip"}
	withKey := func(k string) map[string]string {
		return map[string]string{"Content-Encoding": "gzip", wire.HeaderIdempotencyKey: k}
	}
	for _, tc := range []struct {
		name       string
		hdr        map[string]string
		body       []byte
		wantStatus int
		wantAck    wire.ReportAck
		wantMsg    string
	}{
		{"gzip batch", withKey("b1"), gz(t, batchJSON(t, "b1", 2, "r1", "r2", "r3")), 200, wire.ReportAck{Accepted: 3}, ""},
		{"same batch again", withKey("b1"), gz(t, batchJSON(t, "b1", 2, "r1", "r2", "r3")), 200, wire.ReportAck{Accepted: 3}, ""},
		{"overlapping batch", withKey("b2"), gz(t, batchJSON(t, "b2", 0, "r3", "r4")), 200, wire.ReportAck{Accepted: 1, Duplicates: 1}, ""},
		{"identity encoding", map[string]string{wire.HeaderIdempotencyKey: "b3"}, batchJSON(t, "b3", 0, "r5"), 200, wire.ReportAck{Accepted: 1}, ""},
		{"batch id from body only", gzipped, gz(t, batchJSON(t, "b4", 0, "r6")), 200, wire.ReportAck{Accepted: 1}, ""},
		{"garbage", gzipped, gz(t, []byte("this is not json")), 400, wire.ReportAck{}, "not a JSON report batch"},
		{"not gzip", gzipped, []byte(`{"batchId":"x","records":[]}`), 400, wire.ReportAck{}, "not gzip"},
		{"unknown encoding", map[string]string{"Content-Encoding": "br"}, []byte("x"), 400, wire.ReportAck{}, "Content-Encoding"},
		{"record without requestId", withKey("b5"), gz(t, []byte(`{"batchId":"b5","records":[{"timestamp":1}]}`)), 400, wire.ReportAck{}, "records[0].requestId"},
		{"no records field", withKey("b6"), gz(t, []byte(`{"batchId":"b6"}`)), 400, wire.ReportAck{}, "records"},
		{"no batch id", gzipped, gz(t, batchJSON(t, "", 0, "r7")), 400, wire.ReportAck{}, "no id"},
		{"key differs from batchId", withKey("other"), gz(t, batchJSON(t, "b8", 0, "r8")), 400, wire.ReportAck{}, "differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := g.report(token, tc.hdr, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", status, body, tc.wantStatus)
			}
			if tc.wantStatus == 200 {
				var ack wire.ReportAck
				if err := json.Unmarshal(body, &ack); err != nil || ack != tc.wantAck {
					t.Fatalf("ack %s, want %+v", body, tc.wantAck)
				}
				return
			}
			var e wire.Error
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Message, tc.wantMsg) {
				t.Fatalf("error %s, want a message with %q", body, tc.wantMsg)
			}
		})
	}
	var count struct{ Count int64 }
	g.mgmt("GET", "/orgs/acme/analytics/count", nil, 200, &count)
	if count.Count != 6 {
		t.Fatalf("stored %d records, want 6 (each once)", count.Count)
	}
	var gws []GatewayView
	g.mgmt("GET", "/orgs/acme/envs/prod/gateways", nil, 200, &gws)
	if len(gws) != 1 || gws[0].Dropped != 2 || !gws[0].Online {
		t.Fatalf("gateway %+v, want dropped 2 (counted once) and online", gws)
	}
	var recs []analytics.Record
	g.mgmt("GET", "/orgs/acme/analytics/records?limit=1", nil, 200, &recs)
	if len(recs) != 1 || recs[0].OrganizationID != "acme" || recs[0].EnvironmentID != "prod" || recs[0].GatewayID == "" {
		t.Fatalf("records %+v: want org, env and gateway stamped", recs)
	}
}

func TestReportsTooLarge(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	big := bytes.Repeat([]byte(" "), wire.MaxReportBatchBytes+1)
	big = append(big, batchJSON(t, "big", 0, "r1")...)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		body []byte
	}{
		{"plain over the bound", nil, big},
		{"gzip bomb", map[string]string{"Content-Encoding": "gzip"}, bomb(t, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := g.report(token, tc.hdr, tc.body)
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d %s, want 413", status, body)
			}
		})
	}
}

func TestReportsStoreUnavailable(t *testing.T) {
	g := startGate(t)
	token := g.provision("acme", "prod")
	// Closing the database under the server is a real failure, not a fake.
	if err := g.srv.store.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", g.url+"/reports", bytes.NewReader(gz(t, batchJSON(t, "b", 0, "r"))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := g.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q with the store closed, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// bomb is a small gzip stream (about 20 KiB: repeated members of 1 MiB of
// zeros each) that inflates to mib MiB.
func bomb(t testing.TB, mib int) []byte {
	member := gz(t, make([]byte, 1<<20))
	return bytes.Repeat(member, mib)
}

func TestReadReportBodyBomb(t *testing.T) {
	_, err := ReadReportBody(bytes.NewReader(bomb(t, 1024)), "gzip")
	if !errors.Is(err, ErrReportTooLarge) {
		t.Fatalf("error %v, want ErrReportTooLarge", err)
	}
}

func FuzzDecodeReportBatch(f *testing.F) {
	f.Add([]byte(`{"batchId":"b","gatewayId":"g","records":[{"timestamp":1,"requestId":"r","httpMethod":"GET","uri":"/","status":200}]}`))
	f.Add([]byte(`{"batchId":"b","records":[]}`))
	f.Add([]byte(`{"records":[{"requestId":""}]}`))
	f.Add([]byte(`{"batchId":"b","dropped":-1,"records":[]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"batchId":"b","records":[]} trailing`))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, enc := range []string{"identity", "gzip"} {
			body, err := ReadReportBody(bytes.NewReader(data), enc)
			if err != nil {
				continue
			}
			b, err := DecodeReportBatch(body)
			if err != nil {
				if !errors.Is(err, ErrReportInvalid) {
					t.Fatalf("error %v does not wrap ErrReportInvalid", err)
				}
				continue
			}
			for i, r := range b.Records {
				if r.RequestID == "" || len(r.RequestID) > MaxRequestIDLen || r.Timestamp < 0 {
					t.Fatalf("accepted record %d %+v", i, r)
				}
			}
			if b.Records == nil || b.Dropped < 0 {
				t.Fatalf("accepted batch %+v", b)
			}
		}
	})
}

func ExampleDecodeReportBatch() {
	b, err := DecodeReportBatch([]byte(`{"batchId":"b1","records":[{"timestamp":1,"requestId":"r1","httpMethod":"GET","uri":"/demo","status":200}]}`))
	fmt.Println(len(b.Records), err)
	// Output: 1 <nil>
}

func TestAnalyticsRetention(t *testing.T) {
	g := startGate(t, func(o *Options) { o.AnalyticsRetention = time.Hour })
	token := g.provision("acme", "prod")
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	b := wire.ReportBatch{BatchID: "b", Records: []analytics.Record{
		{Timestamp: old, RequestID: "old", HTTPMethod: "GET", URI: "/", Status: 200},
		{Timestamp: time.Now().UnixMilli(), RequestID: "new", HTTPMethod: "GET", URI: "/", Status: 200},
	}}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := g.report(token, map[string]string{"Content-Encoding": "gzip"}, gz(t, data)); status != 200 {
		t.Fatalf("report = %d %s", status, body)
	}
	g.srv.pruneOnce(context.Background())
	var count struct{ Count int64 }
	g.mgmt("GET", "/orgs/acme/analytics/count", nil, 200, &count)
	if count.Count != 1 {
		t.Fatalf("%d records after pruning, want 1", count.Count)
	}
}

// BenchmarkReports measures storing one gzip batch of 500 new records
// through POST /reports (TLS, auth, decode, one bbolt transaction).
func BenchmarkReports(b *testing.B) {
	g := startGate(b)
	token := g.provision("acme", "prod")
	const perBatch = 500
	hdr := map[string]string{"Content-Encoding": "gzip"}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ids := make([]string, perBatch)
		for j := range ids {
			ids[j] = fmt.Sprintf("r-%d-%d", i, j)
		}
		body := gz(b, batchJSON(b, fmt.Sprint("batch-", i), 0, ids...))
		b.StartTimer()
		if status, resp := g.report(token, hdr, body); status != 200 {
			b.Fatalf("report = %d %s", status, resp)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/record")
}
