package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/edgegate/edgegate/gateway/analytics"
)

// TestForwardedFieldsMatchOutboundHeader: the fields h1Client writes
// straight from the client's header (forwardedFields) are those of the
// map outboundHeader builds for other clients.
func TestForwardedFieldsMatchOutboundHeader(t *testing.T) {
	cases := []struct {
		name    string
		hdr     http.Header
		drop    string
		tls     bool
		headers []headerValue
	}{
		{"plain", http.Header{"User-Agent": {"wrk"}, "Accept": {"*/*"}}, "", false, nil},
		{"no user agent", http.Header{"Accept": {"a", "b"}}, "", false, nil},
		{"hop-by-hop and listed", http.Header{"Connection": {"keep-alive, X-Secret"}, "X-Secret": {"s"},
			"Keep-Alive": {"timeout=5"}, "Proxy-Authorization": {"Basic x"}, "Upgrade": {"h2c"}, "X-Other": {"kept"}}, "", false, nil},
		{"prior forwarding and ids", http.Header{"X-Forwarded-For": {"10.0.0.1", "10.0.0.2"}, "X-Forwarded-Proto": {"https"},
			"X-Forwarded-Host": {"evil"}, headerRequestID: {"client-chosen"}, headerTransactionID: {"tx"}}, "", true, nil},
		{"api key dropped", http.Header{apiKeyHeader: {"k"}, "Accept": {"*/*"}}, apiKeyHeader, false, nil},
		{"te trailers", http.Header{"Te": {"trailers"}}, "", false, nil},
		{"te trailers, other case", http.Header{"Te": {"Trailers"}}, "", false, nil},
		{"te other", http.Header{"Te": {"gzip"}}, "", false, nil},
		{"endpoint headers override", http.Header{"X-Env": {"client"}, "Accept": {"*/*"}}, "", false,
			[]headerValue{{Name: "x-env", Value: "prod"}, {Name: "X-Added", Value: "1"}}},
		{"framing fields", http.Header{"Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X-T"}, "Host": {"h"}}, "", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: "GET", Host: "gw.example", RemoteAddr: "192.0.2.7:4000", Header: tc.hdr}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			x := &exchange{r: r, rec: &analytics.Record{TransactionID: "tx-1", RequestID: "rq-1"}, dropHeader: tc.drop}
			ep := &endpoint{headers: canonicalHeaders(tc.headers)}
			viaMap := writtenHeader(t, &http.Request{Method: "GET", Host: "up", URL: mustURL(t, "http://up/x"), Header: x.outboundHeader(ep, false)}, nil)
			x.fwdEndpoint = ep
			direct := writtenHeader(t, &http.Request{Method: "GET", Host: "up", URL: mustURL(t, "http://up/x")}, x)
			if !reflect.DeepEqual(viaMap, direct) {
				t.Fatalf("via map:\n%v\ndirect:\n%v", viaMap, direct)
			}
			if direct.Get("X-Forwarded-For") == "" || direct.Get(headerRequestID) != "rq-1" {
				t.Fatalf("forwarding fields missing: %v", direct)
			}
			// Both paths share the selection of the client's fields
			// (forwardsAsIs): check what it must leave out on its own.
			for _, k := range []string{apiKeyHeader, "X-Secret", "Keep-Alive", "Proxy-Authorization", "Upgrade", "Connection"} {
				if _, ok := direct[k]; ok {
					t.Fatalf("%s forwarded: %v", k, direct)
				}
			}
			if len(tc.headers) > 0 && direct.Get("X-Env") != "prod" {
				t.Fatalf("endpoint header not applied: %v", direct)
			}
		})
	}
}

// writtenHeader is the header of the request h1Client writes for req.
func writtenHeader(t *testing.T, req *http.Request, fw fieldAppender) http.Header {
	t.Helper()
	var out bytes.Buffer
	c := &h1Conn{bw: bufio.NewWriter(&out)}
	cl := &h1Client{keepAlive: true}
	if err := cl.writeRequest(c, req, fw); err != nil {
		t.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&out))
	if err != nil {
		t.Fatalf("%v in %q", err, out.String())
	}
	return got.Header
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConnOptions: tokens split once answer as listedIn does, including
// beyond the inline capacity.
func TestConnOptions(t *testing.T) {
	cases := [][]string{
		nil,
		{"keep-alive"},
		{"close, X-Secret", " x-other ,,"},
		{"a,b,c,d,e,f,g,h,i,j", "X-Late"},
	}
	names := []string{"Keep-Alive", "Close", "X-Secret", "X-Other", "A", "J", "X-Late", "X-Absent"} // header names are never empty
	for _, conn := range cases {
		var o connOptions
		o.parse(conn)
		for _, k := range names {
			if got, want := o.lists(k), listedIn(conn, k); got != want {
				t.Errorf("Connection %q, %q: lists %v, listedIn %v", conn, k, got, want)
			}
		}
	}
}
