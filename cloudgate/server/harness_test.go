package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

// gate is a real Cloud Gate on a loopback TLS listener for one test.
type gate struct {
	t     testing.TB
	srv   *Server
	url   string
	hc    *http.Client
	admin string
}

func startGate(t testing.TB, opts ...func(*Options)) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{DataDir: t.TempDir(), PublicURL: "https://" + ln.Addr().String(), ListenHost: "127.0.0.1"}
	for _, f := range opts {
		f(&o)
	}
	srv, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	pool := x509.NewCertPool()
	pool.AddCert(srv.PKI().CA)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 8}
	g := &gate{t: t, srv: srv, url: o.PublicURL, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, admin: srv.PKI().AdminToken}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		tr.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

// call sends a request and returns the status and body.
func (g *gate) call(method, path, bearer string, hdr map[string]string, body []byte) (int, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.url+path, bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// mgmt calls the management API as the admin and decodes the answer.
func (g *gate) mgmt(method, path string, body any, wantStatus int, out any) {
	g.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			g.t.Fatal(err)
		}
	}
	status, resp := g.call(method, ManagementPrefix+path, g.admin, nil, data)
	if status != wantStatus {
		g.t.Fatalf("%s %s = %d %s, want %d", method, path, status, resp, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			g.t.Fatalf("%s %s: %v in %s", method, path, err, resp)
		}
	}
}

// provision creates org/env and a gateway, and returns its Cloud Token.
func (g *gate) provision(org, env string) string {
	g.t.Helper()
	g.mgmt("POST", "/orgs/"+org+"/envs/"+env, nil, http.StatusCreated, nil)
	var inst CreateGatewayResponse
	g.mgmt("POST", "/orgs/"+org+"/envs/"+env+"/gateways", map[string]any{"name": "gw", "accessPoints": []string{"gw.example"}}, http.StatusCreated, &inst)
	if inst.CloudToken == "" || inst.LicenseKey == "" {
		g.t.Fatalf("installation %+v", inst)
	}
	return inst.CloudToken
}

// deploy imports a keyless API at path and deploys it; it returns the id.
func (g *gate) deploy(org, env, id, path string) string {
	g.t.Helper()
	var imp struct{ ID string }
	g.mgmt("POST", "/orgs/"+org+"/envs/"+env+"/apis", apiJSON(id, path), http.StatusCreated, &imp)
	g.mgmt("POST", "/orgs/"+org+"/envs/"+env+"/apis/"+imp.ID+"/deploy", nil, http.StatusOK, nil)
	return imp.ID
}

func (g *gate) sync(token, query string) (int, *wire.SyncResponse, []byte) {
	g.t.Helper()
	status, body := g.call("GET", "/sync"+query, token, nil, nil)
	if status != http.StatusOK {
		return status, nil, body
	}
	var r wire.SyncResponse
	if err := json.Unmarshal(body, &r); err != nil {
		g.t.Fatalf("sync body: %v in %s", err, body)
	}
	return status, &r, body
}

func apiJSON(id, path string) []byte {
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

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
