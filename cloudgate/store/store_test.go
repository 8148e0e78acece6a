package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
	"github.com/edgegate/edgegate/gateway/apidef"
)

// testAPI is a valid v4 definition; id "" leaves the id out.
func testAPI(id, path string) []byte {
	idField := ""
	if id != "" {
		idField = fmt.Sprintf(`"id":%q,`, id)
	}
	return []byte(fmt.Sprintf(`{%s"name":"api %s","definitionVersion":"V4","type":"proxy",
"listeners":[{"type":"http","paths":[{"path":%q}],"entrypoints":[{"type":"http-proxy"}]}],
"endpointGroups":[{"name":"default","type":"http-proxy","endpoints":[{"name":"e","type":"http-proxy","configuration":{"target":"http://127.0.0.1:1"}}]}],
"plans":[{"id":"keyless","name":"Keyless","status":"PUBLISHED","security":{"type":"key-less"}},
         {"id":"apikey","name":"Key","status":"PUBLISHED","security":{"type":"api-key"}}]}`, idField, path, path))
}

func openTest(t testing.TB, opts *Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cloudgate.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func mustEnv(t *testing.T, s *Store, org, env string) {
	t.Helper()
	if _, err := s.EnsureEnv(org, env); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureEnv(t *testing.T) {
	s, _ := openTest(t, nil)
	for _, tc := range []struct {
		org, env    string
		wantCreated bool
		wantErr     bool
	}{
		{"acme", "prod", true, false},
		{"acme", "prod", false, false},
		{"acme", "dev", true, false},
		{"bad/org", "prod", false, true},
		{"acme", "", false, true},
	} {
		t.Run(tc.org+"_"+tc.env, func(t *testing.T) {
			created, err := s.EnsureEnv(tc.org, tc.env)
			if (err != nil) != tc.wantErr || created != tc.wantCreated {
				t.Fatalf("EnsureEnv = %v, %v; want created %v, error %v", created, err, tc.wantCreated, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
	r, err := s.Sync("acme", "prod", 0)
	if err != nil || r.Revision != 1 || !r.Full || r.APIs == nil || r.Subscriptions == nil {
		t.Fatalf("a new environment syncs as %+v, %v; want full at revision 1 with empty lists", r, err)
	}
	orgs, err := s.Orgs()
	if err != nil || len(orgs) != 1 || len(orgs[0].Environments) != 2 || orgs[0].TTK == "" {
		t.Fatalf("Orgs = %+v, %v", orgs, err)
	}
}

func TestImportAPI(t *testing.T) {
	s, _ := openTest(t, nil)
	mustEnv(t, s, "acme", "prod")
	t.Run("with id", func(t *testing.T) {
		id, err := s.ImportAPI("acme", "prod", testAPI("api-1", "/one"))
		if err != nil || id != "api-1" {
			t.Fatalf("ImportAPI = %q, %v", id, err)
		}
	})
	t.Run("without id gets one", func(t *testing.T) {
		id, err := s.ImportAPI("acme", "prod", testAPI("", "/two"))
		if err != nil || len(id) != 36 {
			t.Fatalf("ImportAPI = %q, %v", id, err)
		}
		a, err := s.GetAPI("acme", "prod", id)
		if err != nil {
			t.Fatal(err)
		}
		def, err := a.Parsed()
		if err != nil || def.ID != id {
			t.Fatalf("stored definition id %v, %v", def, err)
		}
	})
	for name, def := range map[string]string{
		"not json":      `{"name":`,
		"unknown field": strings.Replace(string(testAPI("x", "/x")), `"type":"proxy"`, `"type":"proxy","tpye":1`, 1),
		"wrong version": strings.Replace(string(testAPI("x", "/x")), `"V4"`, `"V2"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.ImportAPI("acme", "prod", []byte(def))
			var ve *apidef.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ImportAPI error %v, want an apidef.ValidationError", err)
			}
		})
	}
	t.Run("missing env", func(t *testing.T) {
		_, err := s.ImportAPI("acme", "nope", testAPI("x", "/x"))
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("error %v, want ErrNotFound", err)
		}
	})
}

func TestSyncFullDeltaAndRevisions(t *testing.T) {
	s, _ := openTest(t, nil)
	mustEnv(t, s, "acme", "prod")
	for _, id := range []string{"a", "b"} {
		if _, err := s.ImportAPI("acme", "prod", testAPI(id, "/"+id)); err != nil {
			t.Fatal(err)
		}
	}
	r1, err := s.DeployAPI("acme", "prod", "a")
	if err != nil || r1 != 2 {
		t.Fatalf("deploy a = %d, %v", r1, err)
	}
	if r, _ := s.DeployAPI("acme", "prod", "b"); r != 3 {
		t.Fatalf("deploy b = %d, want 3", r)
	}
	sub, err := s.CreateSubscription("acme", "prod", "a", "apikey", "mobile")
	if err != nil || sub.Key == "" || sub.Status != wire.SubAccepted {
		t.Fatalf("CreateSubscription = %+v, %v", sub, err)
	}
	if r, _ := s.UndeployAPI("acme", "prod", "b"); r != 5 {
		t.Fatalf("undeploy b = %d, want 5", r)
	}
	if r, _ := s.UndeployAPI("acme", "prod", "b"); r != 5 {
		t.Fatalf("undeploy again = %d, want 5 (no change)", r)
	}

	cases := []struct {
		name                string
		since               int64
		wantNil, wantFull   bool
		apis, removed, subs int
	}{
		{"first", 0, false, true, 1, 0, 1},
		{"from creation", 1, false, false, 1, 1, 1},
		{"from 2", 2, false, false, 0, 1, 1},
		{"from 4", 4, false, false, 0, 1, 0},
		{"current", 5, true, false, 0, 0, 0},
		{"from the future", 99, false, true, 1, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Sync("acme", "prod", tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNil {
				if r != nil {
					t.Fatalf("Sync = %+v, want nil", r)
				}
				return
			}
			if r.Full != tc.wantFull || r.Revision != 5 || len(r.APIs) != tc.apis || len(r.RemovedAPIs) != tc.removed || len(r.Subscriptions) != tc.subs {
				t.Fatalf("Sync(%d) = full %v rev %d apis %d removed %v subs %d", tc.since, r.Full, r.Revision, len(r.APIs), r.RemovedAPIs, len(r.Subscriptions))
			}
		})
	}
	t.Run("subscription status change", func(t *testing.T) {
		if err := s.SetSubscriptionStatus("acme", "prod", sub.ID, wire.SubRevoked); err != nil {
			t.Fatal(err)
		}
		r, err := s.Sync("acme", "prod", 5)
		if err != nil || len(r.Subscriptions) != 1 || r.Subscriptions[0].Status != wire.SubRevoked {
			t.Fatalf("delta = %+v, %v", r, err)
		}
		full, _ := s.Sync("acme", "prod", 0)
		if len(full.Subscriptions) != 0 {
			t.Fatalf("full sync still lists a revoked subscription: %+v", full.Subscriptions)
		}
	})
}

func TestEventLogBoundGivesFull(t *testing.T) {
	s, _ := openTest(t, &Options{EventLogSize: 3})
	mustEnv(t, s, "acme", "prod")
	if _, err := s.ImportAPI("acme", "prod", testAPI("a", "/a")); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := s.DeployAPI("acme", "prod", "a"); err != nil {
			t.Fatal(err)
		}
	}
	e, _ := s.GetEnv("acme", "prod")
	if e.Revision != 7 || e.Floor != 4 {
		t.Fatalf("env = %+v, want revision 7 floor 4", e)
	}
	for _, tc := range []struct {
		since    int64
		wantFull bool
	}{{3, true}, {4, false}, {6, false}} {
		t.Run(fmt.Sprint(tc.since), func(t *testing.T) {
			r, err := s.Sync("acme", "prod", tc.since)
			if err != nil || r.Full != tc.wantFull {
				t.Fatalf("Sync(%d) full=%v, %v; want full=%v", tc.since, r.Full, err, tc.wantFull)
			}
		})
	}
}

func TestCreateSubscriptionErrors(t *testing.T) {
	s, _ := openTest(t, nil)
	mustEnv(t, s, "acme", "prod")
	if _, err := s.ImportAPI("acme", "prod", testAPI("a", "/a")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, api, plan string }{
		{"keyless plan", "a", "keyless"},
		{"no such plan", "a", "gold"},
		{"no such api", "zz", "apikey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateSubscription("acme", "prod", tc.api, tc.plan, ""); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	e, _ := s.GetEnv("acme", "prod")
	if e.Revision != 1 {
		t.Fatalf("failed subscriptions changed the revision to %d", e.Revision)
	}
}

func TestWatchWakesOnChange(t *testing.T) {
	s, _ := openTest(t, nil)
	mustEnv(t, s, "acme", "prod")
	if _, err := s.ImportAPI("acme", "prod", testAPI("a", "/a")); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch("acme", "prod")
	other := s.Watch("acme", "dev")
	if _, err := s.DeployAPI("acme", "prod", "a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not woken by a deploy")
	}
	select {
	case <-other:
		t.Fatal("another environment's watcher was woken")
	default:
	}
}

func rec(id string, ts int64, api string, status int, lat int64) analytics.Record {
	return analytics.Record{RequestID: id, Timestamp: ts, APIID: api, Status: status, GatewayLatencyMs: lat, HTTPMethod: "GET", URI: "/"}
}

func TestStoreReportsIdempotent(t *testing.T) {
	s, path := openTest(t, nil)
	b1 := Batch{Org: "acme", TTK: "ttk1", Key: "b1", Records: []analytics.Record{rec("r1", 1000, "a", 200, 1), rec("r2", 2000, "b", 500, 2)}}
	b2 := Batch{Org: "acme", TTK: "ttk1", Key: "b2", Records: []analytics.Record{rec("r2", 2000, "b", 500, 2), rec("r3", 3000, "a", 404, 3)}}
	for _, tc := range []struct {
		name string
		b    Batch
		want wire.ReportAck
	}{
		{"first", b1, wire.ReportAck{Accepted: 2}},
		{"same batch again", b1, wire.ReportAck{Accepted: 2}},
		{"overlapping batch", b2, wire.ReportAck{Accepted: 1, Duplicates: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack, err := s.StoreReports(tc.b)
			if err != nil || ack != tc.want {
				t.Fatalf("StoreReports = %+v, %v; want %+v", ack, err, tc.want)
			}
		})
	}
	s.Close()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for api, want := range map[string]int64{"": 3, "a": 2, "b": 1, "c": 0} {
		if n, err := s.CountRecords("acme", api); err != nil || n != want {
			t.Errorf("CountRecords(%q) = %d, %v; want %d", api, n, err, want)
		}
	}
	recs, err := s.Records("acme", Query{Limit: 2})
	if err != nil || len(recs) != 2 || recs[0].RequestID != "r3" || recs[1].RequestID != "r2" {
		t.Fatalf("Records = %+v, %v; want r3, r2", recs, err)
	}
	recs, _ = s.Records("acme", Query{From: 1500, To: 3000})
	if len(recs) != 1 || recs[0].RequestID != "r2" {
		t.Fatalf("Records [1500,3000) = %+v; want r2", recs)
	}
}

func TestBatchMemoryBounded(t *testing.T) {
	s, _ := openTest(t, &Options{MaxBatches: 2})
	for i := range 4 {
		b := Batch{Org: "acme", TTK: "t", Key: fmt.Sprint("b", i), Records: []analytics.Record{rec(fmt.Sprint("r", i), 1, "", 200, 0)}}
		if _, err := s.StoreReports(b); err != nil {
			t.Fatal(err)
		}
	}
	// b0 is forgotten, but its record is still deduplicated.
	ack, err := s.StoreReports(Batch{Org: "acme", TTK: "t", Key: "b0", Records: []analytics.Record{rec("r0", 1, "", 200, 0)}})
	if err != nil || ack != (wire.ReportAck{Duplicates: 1}) {
		t.Fatalf("forgotten batch = %+v, %v", ack, err)
	}
	if n, _ := s.CountRecords("acme", ""); n != 4 {
		t.Fatalf("count %d, want 4", n)
	}
}

func TestComputeStats(t *testing.T) {
	s, _ := openTest(t, nil)
	var recs []analytics.Record
	for i := range 100 {
		status := 200
		if i%10 == 0 {
			status = 503
		}
		recs = append(recs, rec(fmt.Sprint("r", i), int64(1000+i*100), "a", status, int64(i+1)))
	}
	if _, err := s.StoreReports(Batch{Org: "acme", TTK: "t", Key: "b", Records: recs}); err != nil {
		t.Fatal(err)
	}
	st, err := s.ComputeStats("acme", Query{From: 1000, To: 11000}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 100 || st.StatusClasses["2xx"] != 90 || st.StatusClasses["5xx"] != 10 {
		t.Fatalf("totals %+v", st)
	}
	if st.GatewayLatency != (Latency{P50: 50, P95: 95, P99: 99}) {
		t.Fatalf("latency %+v", st.GatewayLatency)
	}
	if len(st.Series) != 2 || st.Series[0].Count != 50 || st.Series[1].Count != 50 || st.Series[0].C5xx != 5 {
		t.Fatalf("series %+v", st.Series)
	}
	if len(st.TopErrors) != 1 || st.TopErrors[0] != (KeyCount{Key: "503", Count: 10}) {
		t.Fatalf("top errors %+v", st.TopErrors)
	}
	if _, err := s.ComputeStats("acme", Query{From: 10, To: 5}, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad range error %v", err)
	}
}

func TestGatewaysAndTokens(t *testing.T) {
	s, _ := openTest(t, nil)
	mustEnv(t, s, "acme", "prod")
	now := time.Now().UTC()
	g := Gateway{ID: "g1", Org: "acme", Env: "prod", Name: "edge", TokenID: "j1", CreatedAt: now}
	if err := s.CreateGateway(g, Token{ID: "j1", Org: "acme", Env: "prod", GatewayID: "g1", IssuedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGateway(g, Token{ID: "j1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate gateway error %v", err)
	}
	if err := s.SeeGateway("g1", Seen{Version: "1.0", Hostname: "box", Revision: 7, Spooled: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.SeeGateway("g1", Seen{Revision: -1, Spooled: -1}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetGateway("g1")
	if got.Version != "1.0" || got.RevisionApplied != 7 || got.Spooled != 3 || got.LastSeen.IsZero() {
		t.Fatalf("gateway %+v", got)
	}
	if err := s.RevokeToken("other", "prod", "j1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking from another org: %v", err)
	}
	if err := s.RevokeToken("acme", "prod", "j1"); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.GetToken("j1")
	got, _ = s.GetGateway("g1")
	if !tok.Revoked || !got.Revoked {
		t.Fatalf("token %+v gateway %+v not revoked", tok, got)
	}
	toks, _ := s.Tokens("acme", "prod")
	gws, _ := s.Gateways("acme", "prod")
	if len(toks) != 1 || len(gws) != 1 {
		t.Fatalf("tokens %d gateways %d", len(toks), len(gws))
	}
	data, _ := json.Marshal(gws[0])
	if !strings.Contains(string(data), `"accessPoints"`) {
		t.Fatalf("gateway JSON lacks accessPoints: %s", data)
	}
}

func TestDeployRefusesDuplicateContextPath(t *testing.T) {
	s, _ := openTest(t, nil)
	mustEnv(t, s, "acme", "prod")
	for _, tc := range []struct{ id, path string }{{"a", "/shop"}, {"b", "/shop/"}, {"c", "/shop/v2"}} {
		if _, err := s.ImportAPI("acme", "prod", testAPI(tc.id, tc.path)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeployAPI("acme", "prod", "a"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id      string
		wantErr bool
	}{{"b", true}, {"c", false}, {"a", false}} {
		t.Run(tc.id, func(t *testing.T) {
			_, err := s.DeployAPI("acme", "prod", tc.id)
			var ie *InputError
			if (err != nil) != tc.wantErr || (err != nil && (!errors.As(err, &ie) || !strings.Contains(ie.Msg, "already served by deployed API a"))) {
				t.Fatalf("DeployAPI(%s) = %v, want error %v", tc.id, err, tc.wantErr)
			}
		})
	}
	if _, err := s.UndeployAPI("acme", "prod", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeployAPI("acme", "prod", "b"); err != nil {
		t.Fatalf("deploy after the other was undeployed: %v", err)
	}
}

func TestPruneRecords(t *testing.T) {
	s, _ := openTest(t, nil)
	var recs []analytics.Record
	for i := range 10 {
		recs = append(recs, rec(fmt.Sprint("r", i), int64(1000*(i+1)), []string{"a", "b"}[i%2], 200, 1))
	}
	if _, err := s.StoreReports(Batch{Org: "acme", TTK: "t", Key: "b", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreReports(Batch{Org: "globex", TTK: "t", Key: "b", Records: recs[:2]}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max, want int
	}{{3, 3}, {100, 4}, {100, 0}} {
		n, err := s.PruneRecords(5500, tc.max)
		if err != nil || n != tc.want {
			t.Fatalf("PruneRecords(max %d) = %d, %v; want %d", tc.max, n, err, tc.want)
		}
	}
	for _, c := range []struct {
		org, api string
		want     int64
	}{{"acme", "", 5}, {"acme", "a", 2}, {"acme", "b", 3}, {"globex", "", 0}} {
		if n, _ := s.CountRecords(c.org, c.api); n != c.want {
			t.Errorf("CountRecords(%s, %q) = %d, want %d", c.org, c.api, n, c.want)
		}
	}
	left, _ := s.Records("acme", Query{})
	if len(left) != 5 || left[len(left)-1].Timestamp != 6000 {
		t.Fatalf("records left %+v", left)
	}
}

func TestOpenLockedSaysWhy(t *testing.T) {
	_, path := openTest(t, nil)
	_, err := Open(path, &Options{Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second Open = %v, want a lock error that says why", err)
	}
}

// FuzzImportAPI feeds operator input to ImportAPI: it either refuses it with
// a validation error or stores a definition that parses back with its id.
func FuzzImportAPI(f *testing.F) {
	f.Add(testAPI("a", "/a"))
	f.Add(testAPI("", "/b"))
	f.Add([]byte(`{"id":null}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"a/b","name":"x"}`))
	s, _ := openTest(f, nil)
	if _, err := s.EnsureEnv("acme", "prod"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, def []byte) {
		id, err := s.ImportAPI("acme", "prod", def)
		if err != nil {
			var ve *apidef.ValidationError
			if !errors.As(err, &ve) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("ImportAPI error %v is neither a validation nor an input error", err)
			}
			return
		}
		a, err := s.GetAPI("acme", "prod", id)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := a.Parsed()
		if err != nil || parsed.ID != id {
			t.Fatalf("stored definition does not parse back: %v", err)
		}
	})
}
