package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/provisioning"
)

// Error codes in wire.Error.Code on gateway endpoints.
const (
	CodeTokenMissing   = "TOKEN_MISSING"
	CodeTokenInvalid   = "TOKEN_INVALID"
	CodeTokenExpired   = "TOKEN_EXPIRED"
	CodeTokenRevoked   = "TOKEN_REVOKED"
	CodeForbidden      = "FORBIDDEN"
	CodeBadRequest     = "BAD_REQUEST"
	CodeTooLarge       = "TOO_LARGE"
	CodeUnavailable    = "UNAVAILABLE"
	CodeUnsupportedEnc = "UNSUPPORTED_ENCODING"
)

// RetryAfter is the Retry-After a 503 carries, in seconds.
const RetryAfter = 5

// gwError is a failure on a gateway endpoint.
type gwError struct {
	status int
	code   string
	msg    string
}

func (e *gwError) Error() string { return e.msg }

func gwErr(status int, code, format string, args ...any) *gwError {
	return &gwError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// writeGWError answers with a wire.Error body.
func writeGWError(w http.ResponseWriter, e *gwError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudgate"`)
	}
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	writeJSON(w, e.status, wire.Error{Message: e.msg, Code: e.code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status is sent; an encoding error here can only be a broken
	// connection, which the client sees.
	_ = json.NewEncoder(w).Encode(v)
}

// caller is an authenticated gateway.
type caller struct {
	token     *provisioning.Token
	org, env  string
	gatewayID string
	ttk       string
}

const reissue = "generate new installation details (`cloudgate gateway create`) and provision the new cloud-token"

// authGateway verifies the request's Cloud Token: signature by one of the
// gate's token keys with an allowed algorithm, audience, expiry, that this
// gate issued it and did not revoke it, and that its organization and
// environment exist.
func (s *Server) authGateway(r *http.Request) (*caller, *gwError) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, gwErr(http.StatusUnauthorized, CodeTokenMissing, "missing \"Authorization: Bearer <Cloud Token>\" header")
	}
	tok, err := provisioning.VerifyToken(raw, s.pki.Tokens.Public, s.now())
	if err != nil {
		code := CodeTokenInvalid
		if errors.Is(err, provisioning.ErrTokenExpired) {
			code = CodeTokenExpired
		}
		return nil, gwErr(http.StatusUnauthorized, code, "%v", err)
	}
	if e := s.checkIssued(tok); e != nil {
		return nil, e
	}
	env, err := tok.Environment(r.URL.Query().Get("env"))
	if err != nil {
		return nil, gwErr(http.StatusForbidden, CodeForbidden, "%v", err)
	}
	c := &caller{token: tok, org: tok.Claims.Org, env: env, gatewayID: tok.Claims.GatewayID, ttk: tok.Claims.TTK}
	if _, err := s.store.GetEnv(c.org, c.env); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, gwErr(http.StatusForbidden, CodeForbidden, "cloud token is for %s/%s, which does not exist on this gate", c.org, c.env)
		}
		return nil, storeUnavailable(err)
	}
	if c.gatewayID == "" {
		c.gatewayID = r.Header.Get(wire.HeaderGatewayID)
	}
	return c, nil
}

// checkIssued refuses tokens this gate did not issue (a kept key with a
// reset database) or revoked.
func (s *Server) checkIssued(tok *provisioning.Token) *gwError {
	rec, err := s.store.GetToken(tok.Claims.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return gwErr(http.StatusUnauthorized, CodeTokenInvalid, "cloud token %s was not issued by this gate; %s", tok.Claims.ID, reissue)
	case err != nil:
		return storeUnavailable(err)
	case rec.Revoked:
		return gwErr(http.StatusUnauthorized, CodeTokenRevoked, "cloud token %s was revoked at %s; %s", rec.ID, rec.RevokedAt.UTC().Format(time.RFC3339), reissue)
	case rec.Org != tok.Claims.Org:
		return gwErr(http.StatusUnauthorized, CodeTokenInvalid, "cloud token %s does not match what this gate issued", rec.ID)
	}
	return nil
}

func storeUnavailable(err error) *gwError {
	return gwErr(http.StatusServiceUnavailable, CodeUnavailable, "the gate's store is unavailable (%v); retry later", err)
}

// see records what the gateway's headers say about it. Failures are logged:
// tracking must not fail a sync or a report.
func (s *Server) see(r *http.Request, c *caller) {
	if c.gatewayID == "" {
		return
	}
	seen := store.Seen{
		NodeID:   r.Header.Get(wire.HeaderGatewayID),
		Version:  r.Header.Get(wire.HeaderGatewayVersion),
		Hostname: r.Header.Get(wire.HeaderGatewayHostname),
		Revision: headerInt(r, wire.HeaderRevision),
		Spooled:  headerInt(r, wire.HeaderSpooled),
	}
	if err := s.store.SeeGateway(c.gatewayID, seen); err != nil {
		s.log.Warn("record gateway", "gateway", c.gatewayID, "err", err)
	}
}

func headerInt(r *http.Request, name string) int64 {
	v, err := strconv.ParseInt(r.Header.Get(name), 10, 64)
	if err != nil || v < 0 {
		return -1
	}
	return v
}
