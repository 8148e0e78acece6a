// Package client calls a Cloud Gate's management API (see
// docs/architecture.md) over HTTPS, trusting the gate's CA, with the admin
// token. The operator commands (package cli) and tests use it.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/store"
)

// Timeout bounds one management call.
const Timeout = 30 * time.Second

// ErrAPI is wrapped by every *APIError.
var ErrAPI = errors.New("management API error")

// APIError is an error answer from the gate.
type APIError struct {
	Status  int
	Message string
	Field   string
}

func (e *APIError) Error() string {
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		return fmt.Sprintf("%s (field %s; HTTP %d)", e.Message, e.Field, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// Unwrap returns ErrAPI.
func (e *APIError) Unwrap() error { return ErrAPI }

// Client talks to one gate. The zero value is not usable; use New.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for the gate at server (https://host:port) that
// trusts the CA certificates in caPEM (nil: the system roots) and sends
// adminToken.
func New(server, adminToken string, caPEM []byte) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q: want https://host:port", server)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the CA file holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, TLSHandshakeTimeout: 10 * time.Second, MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second, ForceAttemptHTTP2: true}
	return &Client{base: u, token: strings.TrimSpace(adminToken), hc: &http.Client{Transport: tr, Timeout: Timeout}}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// do sends one call; body is JSON-encoded unless it is []byte. out receives
// the JSON answer when not nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		ae := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, ae) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(data))
		}
		return ae
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

func envPath(org, env string) string {
	return "/management/v1/orgs/" + url.PathEscape(org) + "/envs/" + url.PathEscape(env)
}

// EnsureEnv creates the organization and environment when missing.
func (c *Client) EnsureEnv(ctx context.Context, org, env string) (created bool, err error) {
	var out struct {
		Created bool `json:"created"`
	}
	err = c.do(ctx, http.MethodPost, envPath(org, env), nil, nil, &out)
	return out.Created, err
}

// Installation is the answer to CreateGateway.
type Installation struct {
	Gateway    Gateway `json:"gateway"`
	CloudToken string  `json:"cloudToken"`
	LicenseKey string  `json:"licenseKey"`
}

// Gateway is a gateway as the management API lists it.
type Gateway struct {
	store.Gateway
	Online         bool  `json:"online"`
	LatestRevision int64 `json:"latestRevision"`
}

// CreateGateway generates installation details.
func (c *Client) CreateGateway(ctx context.Context, org, env, name string, accessPoints []string) (*Installation, error) {
	var out Installation
	body := map[string]any{"name": name, "accessPoints": accessPoints}
	if accessPoints == nil {
		body["accessPoints"] = []string{}
	}
	err := c.do(ctx, http.MethodPost, envPath(org, env)+"/gateways", nil, body, &out)
	return &out, err
}

// Gateways lists an environment's gateways.
func (c *Client) Gateways(ctx context.Context, org, env string) ([]Gateway, error) {
	var out []Gateway
	err := c.do(ctx, http.MethodGet, envPath(org, env)+"/gateways", nil, nil, &out)
	return out, err
}

// Tokens lists an environment's issued tokens.
func (c *Client) Tokens(ctx context.Context, org, env string) ([]store.Token, error) {
	var out []store.Token
	err := c.do(ctx, http.MethodGet, envPath(org, env)+"/tokens", nil, nil, &out)
	return out, err
}

// RevokeToken revokes a token by jti.
func (c *Client) RevokeToken(ctx context.Context, org, env, jti string) error {
	return c.do(ctx, http.MethodPost, envPath(org, env)+"/tokens/"+url.PathEscape(jti)+"/revoke", nil, nil, nil)
}

// ImportAPI imports a v4 definition and returns its id.
func (c *Client) ImportAPI(ctx context.Context, org, env string, def []byte) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, http.MethodPost, envPath(org, env)+"/apis", nil, def, &out)
	return out.ID, err
}

// APIs lists an environment's APIs.
func (c *Client) APIs(ctx context.Context, org, env string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := c.do(ctx, http.MethodGet, envPath(org, env)+"/apis", nil, nil, &out)
	return out, err
}

// Deploy deploys an API and returns the new revision.
func (c *Client) Deploy(ctx context.Context, org, env, id string) (int64, error) {
	return c.deployment(ctx, org, env, id, "deploy")
}

// Undeploy undeploys an API and returns the new revision.
func (c *Client) Undeploy(ctx context.Context, org, env, id string) (int64, error) {
	return c.deployment(ctx, org, env, id, "undeploy")
}

func (c *Client) deployment(ctx context.Context, org, env, id, action string) (int64, error) {
	var out struct {
		Revision int64 `json:"revision"`
	}
	err := c.do(ctx, http.MethodPost, envPath(org, env)+"/apis/"+url.PathEscape(id)+"/"+action, nil, nil, &out)
	return out.Revision, err
}

// Subscription is the answer to CreateKey.
type Subscription struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	Application string `json:"application"`
}

// CreateKey subscribes an application to an API-key plan and returns the key.
func (c *Client) CreateKey(ctx context.Context, org, env, api, plan, application string) (*Subscription, error) {
	var out Subscription
	body := map[string]string{"plan": plan, "application": application}
	err := c.do(ctx, http.MethodPost, envPath(org, env)+"/apis/"+url.PathEscape(api)+"/subscriptions", nil, body, &out)
	return &out, err
}

// Count returns the number of stored request records of an org (one API
// when api is not empty).
func (c *Client) Count(ctx context.Context, org, api string) (int64, error) {
	var out struct {
		Count int64 `json:"count"`
	}
	q := url.Values{}
	if api != "" {
		q.Set("api", api)
	}
	err := c.do(ctx, http.MethodGet, "/management/v1/orgs/"+url.PathEscape(org)+"/analytics/count", q, nil, &out)
	return out.Count, err
}
