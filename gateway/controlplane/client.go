package controlplane

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

// maxSyncBody bounds a /sync answer (64 MiB); a larger one is refused.
const maxSyncBody = 64 << 20

// pollWait is the long-poll wait asked of the gate, in seconds.
const pollWait = 30

// ErrUnauthorized wraps a 401 or 403 from the gate: the token is refused
// (revoked, expired, forged). Callers retry slowly and keep serving.
var ErrUnauthorized = errors.New("the cloud gate refused the cloud token")

// ErrPinMismatch is returned (wrapped in the TLS error) when the gate's
// certificate chain does not end in the CA the token pins.
var ErrPinMismatch = errors.New("the cloud gate's certificate is not issued by the CA pinned in the cloud token (gca)")

// StatusError is a non-2xx answer from the gate.
type StatusError struct {
	Status     int
	Message    string        // the gate's wire.Error message, or the start of the body
	RetryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("cloud gate answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Unwrap makes 401/403 match ErrUnauthorized.
func (e *StatusError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return nil
}

// GateClient talks to one Cloud Gate with one Cloud Token. It is safe for
// concurrent use.
type GateClient struct {
	base    string
	token   string
	hc      *http.Client
	headers func() http.Header // per-request identity headers
}

// pinTLSConfig trusts only a CA certificate whose DER SHA-256 is pin
// ("sha256:<hex>"); with an empty pin it returns a config that uses the
// system roots.
func pinTLSConfig(pin string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin == "" {
		return cfg, nil
	}
	want, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(pin), "sha256:"))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("gate CA pin %q is not sha256:<64 hex digits>", pin)
	}
	// The chain is verified by hand below against the pinned CA only, so
	// the default verification (system roots) is turned off.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyPinned(cs, want)
	}
	return cfg, nil
}

// verifyPinned finds the pinned CA among the presented certificates, and
// verifies the leaf for the server name with that CA as the only root.
func verifyPinned(cs tls.ConnectionState, want []byte) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("the cloud gate presented no certificate")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	found := false
	for _, c := range certs {
		sum := sha256.Sum256(c.Raw)
		if bytes.Equal(sum[:], want) {
			roots.AddCert(c)
			found = true
			continue
		}
		inter.AddCert(c)
	}
	if !found {
		return fmt.Errorf("%w: the gate sent %d certificate(s), none with the pinned hash; is the token for this gate?", ErrPinMismatch, len(certs))
	}
	if len(certs) == 1 {
		// The pinned CA is the leaf itself (a self-signed gate).
		return nil
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: cs.ServerName}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("%w: %v", ErrPinMismatch, err)
	}
	return nil
}

// newHTTPClient builds the client used for the gate: bounded dial and TLS
// handshake, no overall timeout (each request has its own deadline so a long
// poll can wait).
func newHTTPClient(tlsCfg *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: (pollWait + 15) * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr}
}

// NewGateClient returns a client for the gate at base (https://host[:port])
// trusting the CA pinned by pin (see pinTLSConfig). headers is called for
// every request to add identity headers; it may be nil.
func NewGateClient(base, token, pin string, headers func() http.Header) (*GateClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cloud gate URL %q is not an https:// URL", base)
	}
	cfg, err := pinTLSConfig(pin)
	if err != nil {
		return nil, err
	}
	if headers == nil {
		headers = func() http.Header { return http.Header{} }
	}
	return &GateClient{base: strings.TrimRight(base, "/"), token: token, hc: newHTTPClient(cfg), headers: headers}, nil
}

// Close releases idle connections.
func (c *GateClient) Close() { c.hc.CloseIdleConnections() }

func (c *GateClient) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range c.headers() {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, nil
}

// Sync makes one GET /sync. With since 0 it asks for the full configuration;
// otherwise it long-polls for changes after since. It returns (nil, nil) on
// 204 (no change during the wait).
func (c *GateClient) Sync(ctx context.Context, since int64) (*wire.SyncResponse, error) {
	path, timeout := "/sync", 20*time.Second
	if since > 0 {
		path = "/sync?since=" + strconv.FormatInt(since, 10) + "&wait=" + strconv.Itoa(pollWait)
		timeout = (pollWait + 15) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp)
	}
	return decodeSync(resp.Body)
}

// decodeSync reads a /sync answer strictly enough that garbage is refused.
func decodeSync(r io.Reader) (*wire.SyncResponse, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSyncBody+1))
	if err != nil {
		return nil, fmt.Errorf("sync: read answer: %w", err)
	}
	if len(data) > maxSyncBody {
		return nil, fmt.Errorf("sync: answer larger than %d bytes", maxSyncBody)
	}
	var sr wire.SyncResponse
	if err := json.Unmarshal(data, &sr); err != nil {
		return nil, fmt.Errorf("sync: answer is not a sync message: %w", err)
	}
	if sr.Revision <= 0 {
		return nil, fmt.Errorf("sync: answer has no revision")
	}
	return &sr, nil
}

// PostReports sends one gzip-compressed report batch body (JSON) with its
// idempotency key; it returns nil only when the gate acknowledged it.
func (c *GateClient) PostReports(ctx context.Context, batchID string, jsonBody []byte) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(jsonBody); err != nil {
		return fmt.Errorf("compress reports: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress reports: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodPost, "/reports", &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set(wire.HeaderIdempotencyKey, batchID)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("post reports: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(resp)
	}
	var ack wire.ReportAck
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ack); err != nil {
		return fmt.Errorf("post reports: acknowledgement is not a report ack: %w", err)
	}
	return nil
}

// statusError reads the gate's error message from a non-2xx answer.
func statusError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10)) // best effort: the status alone is enough
	msg := strings.TrimSpace(string(data))
	var we wire.Error
	if json.Unmarshal(data, &we) == nil && we.Message != "" {
		msg = we.Message
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return &StatusError{Status: resp.StatusCode, Message: msg, RetryAfter: retryAfter(resp.Header, time.Now())}
}
