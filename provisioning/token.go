// Package provisioning reads, checks and issues what a gateway is provisioned
// with: the Cloud Token (a signed JWT that names the account, environment,
// region and analytics index, and how to reach and trust the regional Cloud
// Gate) and the license (an Ed25519-signed document naming the org, tier,
// features and expiry).
//
// # Cloud Token
//
// The claims follow Gravitee's hybrid gateway tokens: iss, aud ("CloudGate"),
// org, envs, cpg (geography), ttk (analytics index), iat, exp, jti and the
// kid header. edgegate adds, for self-hosted control planes:
//
//   - gate: the gate's HTTPS base URL; without it the URL is derived from cpg
//     as https://{cpg}.cloudgate.{domain};
//   - gca: "sha256:<hex>", the SHA-256 of the DER of the CA certificate that
//     signed the gate's certificate, so a new gateway trusts the gate with no
//     other file (as kubeadm join's --discovery-token-ca-cert-hash does);
//   - gid: the gateway id the token was issued for, and aps: its access points;
//   - lpk: the Ed25519 public key (base64url) that signs this org's licenses.
//
// A gateway cannot verify the token's signature (it does not hold the gate's
// keys); it checks structure, audience and expiry so a wrong token is refused
// with a useful message before any network call. The gate verifies every
// token on every request with VerifyToken.
//
// # License
//
// See ParseLicense. The gateway verifies a license against keys it trusts
// independently of the license: the token's lpk and any key given with
// --license-pubkey-file.
package provisioning

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience is the aud every Cloud Token carries.
const Audience = "CloudGate"

// DefaultGateDomain is the domain gate URLs are derived under when a token
// has no gate claim: https://{cpg}.cloudgate.{DefaultGateDomain}.
const DefaultGateDomain = "edgegate.cloud"

// AllowedAlgorithms are the only JWT algorithms a Cloud Token may use.
var AllowedAlgorithms = []string{"EdDSA", "ES256", "RS256", "RS512"}

// MaxTokenSize bounds a Cloud Token's text (16 KiB).
const MaxTokenSize = 16 << 10

// Claims are a Cloud Token's claims.
type Claims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.ClaimStrings `json:"aud"`
	Subject   string           `json:"sub,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	ID        string           `json:"jti"`

	Org    string   `json:"org"`
	Envs   []string `json:"envs"`
	CPG    string   `json:"cpg"`
	TTK    string   `json:"ttk"`
	Target string   `json:"target,omitempty"`
	Scopes []string `json:"scopes,omitempty"`

	// Self-hosted extension; see the package documentation.
	Gate         string   `json:"gate,omitempty"`
	GateCA       string   `json:"gca,omitempty"`
	GatewayID    string   `json:"gid,omitempty"`
	AccessPoints []string `json:"aps,omitempty"`
	LicenseKey   string   `json:"lpk,omitempty"`
}

// GetExpirationTime and the other getters implement jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt, nil }

// GetNotBefore implements jwt.Claims; Cloud Tokens have no nbf.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) { return c.Audience, nil }

// Token is a parsed Cloud Token.
type Token struct {
	Raw    string
	KeyID  string // the kid header
	Alg    string // the alg header
	Claims Claims
}

// Token errors callers branch on. Every error ParseToken and VerifyToken
// return wraps one of them inside a *TokenError with a precise message.
var (
	ErrTokenMalformed   = errors.New("malformed cloud token")
	ErrTokenClaim       = errors.New("cloud token claim missing or invalid")
	ErrTokenExpired     = errors.New("cloud token expired")
	ErrTokenAudience    = errors.New("cloud token has the wrong audience")
	ErrTokenEnvironment = errors.New("cloud token environment not chosen")
	ErrTokenSignature   = errors.New("cloud token signature invalid")
	ErrTokenAlgorithm   = errors.New("cloud token algorithm not allowed")
	ErrTokenRevoked     = errors.New("cloud token revoked")
)

// TokenError is a token problem with the message an operator acts on.
type TokenError struct {
	Kind error // one of the ErrToken* sentinels
	Msg  string
}

func (e *TokenError) Error() string { return "cloud token: " + e.Msg }

// Unwrap returns the sentinel.
func (e *TokenError) Unwrap() error { return e.Kind }

func tokenErr(kind error, format string, args ...any) error {
	return &TokenError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

const fixToken = "generate new installation details on the Cloud Gate (`cloudgate gateway create`) and provision the new cloud-token"

// ParseToken decodes a Cloud Token without verifying its signature and checks
// everything a gateway can check alone: structure, encoding, algorithm,
// required claims, audience and expiry at now.
func ParseToken(raw string, now time.Time) (*Token, error) {
	t, err := decodeToken(raw)
	if err != nil {
		return nil, err
	}
	if err := t.Check(now); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeToken splits and decodes the JWT without judging its claims.
func decodeToken(raw string) (*Token, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, tokenErr(ErrTokenMalformed, "empty; paste the whole token from \"Generate Installation Details\"")
	}
	if len(raw) > MaxTokenSize {
		return nil, tokenErr(ErrTokenMalformed, "%d bytes is longer than any cloud token (%d at most); is this the right file?", len(raw), MaxTokenSize)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, tokenErr(ErrTokenMalformed, "not a JWT: expected 3 dot-separated parts, found %d; the token looks like xxxxx.yyyyy.zzzzz", len(parts))
	}
	names := [3]string{"header", "payload", "signature"}
	var dec [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return nil, tokenErr(ErrTokenMalformed, "bad encoding: the %s is not base64url (%v); was the token cut or wrapped when copied?", names[i], err)
		}
		dec[i] = b
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(dec[0], &hdr); err != nil {
		return nil, tokenErr(ErrTokenMalformed, "bad encoding: the header is not JSON (%v)", err)
	}
	t := &Token{Raw: raw, KeyID: hdr.Kid, Alg: hdr.Alg}
	if err := json.Unmarshal(dec[1], &t.Claims); err != nil {
		return nil, tokenErr(ErrTokenMalformed, "bad encoding: the payload is not a JSON object of claims (%v)", err)
	}
	return t, nil
}

// Check validates the claims a gateway can judge alone.
func (t *Token) Check(now time.Time) error {
	if !slices.Contains(AllowedAlgorithms, t.Alg) {
		return tokenErr(ErrTokenAlgorithm, "algorithm %q is not allowed; cloud tokens are signed with one of %s", t.Alg, strings.Join(AllowedAlgorithms, ", "))
	}
	if t.KeyID == "" {
		return tokenErr(ErrTokenClaim, "header has no \"kid\" naming the signing key")
	}
	c := &t.Claims
	for _, req := range []struct{ name, val string }{
		{"iss", c.Issuer}, {"org", c.Org}, {"cpg", c.CPG}, {"ttk", c.TTK}, {"jti", c.ID},
	} {
		if strings.TrimSpace(req.val) == "" {
			return tokenErr(ErrTokenClaim, "claim %q is missing; %s", req.name, fixToken)
		}
	}
	if len(c.Envs) == 0 {
		return tokenErr(ErrTokenClaim, "claim \"envs\" is missing or empty; %s", fixToken)
	}
	if c.IssuedAt == nil {
		return tokenErr(ErrTokenClaim, "claim \"iat\" is missing; %s", fixToken)
	}
	if c.ExpiresAt == nil {
		return tokenErr(ErrTokenClaim, "claim \"exp\" is missing; %s", fixToken)
	}
	if !slices.Contains([]string(c.Audience), Audience) {
		return tokenErr(ErrTokenAudience, "audience is %q, not %q: this token is not for a Cloud Gate", strings.Join(c.Audience, ","), Audience)
	}
	if !now.Before(c.ExpiresAt.Time) {
		return tokenErr(ErrTokenExpired, "expired at %s (now %s); %s", c.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), fixToken)
	}
	if c.Gate != "" {
		u, err := url.Parse(c.Gate)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return tokenErr(ErrTokenClaim, "claim \"gate\" %q is not an https:// URL", c.Gate)
		}
	}
	if c.GateCA != "" && !validPin(c.GateCA) {
		return tokenErr(ErrTokenClaim, "claim \"gca\" %q is not \"sha256:\" followed by 64 hex digits", c.GateCA)
	}
	if c.LicenseKey != "" {
		if _, err := decodeEd25519(c.LicenseKey); err != nil {
			return tokenErr(ErrTokenClaim, "claim \"lpk\": %v", err)
		}
	}
	return nil
}

func validPin(pin string) bool {
	h, ok := strings.CutPrefix(pin, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	return strings.Trim(strings.ToLower(h), "0123456789abcdef") == ""
}

// Environment picks the environment the gateway serves: chosen when set (it
// must be one of the token's), else the token's only one.
func (t *Token) Environment(chosen string) (string, error) {
	envs := t.Claims.Envs
	if chosen != "" {
		if !slices.Contains(envs, chosen) {
			return "", tokenErr(ErrTokenEnvironment, "environment %q is not in this token (it names %s)", chosen, strings.Join(envs, ", "))
		}
		return chosen, nil
	}
	if len(envs) == 1 {
		return envs[0], nil
	}
	return "", tokenErr(ErrTokenEnvironment, "the token names %d environments (%s) and none was chosen; start the gateway with --environment ENV", len(envs), strings.Join(envs, ", "))
}

// GateURL is the base URL of the regional Cloud Gate the token names: the
// gate claim when present, else https://{cpg}.cloudgate.{domain}.
func (t *Token) GateURL(domain string) string {
	if t.Claims.Gate != "" {
		return strings.TrimRight(t.Claims.Gate, "/")
	}
	if domain == "" {
		domain = DefaultGateDomain
	}
	return "https://" + strings.ToLower(t.Claims.CPG) + ".cloudgate." + domain
}

// KeySet resolves a token's kid to the public key that verifies it. It
// returns nil when the kid is unknown.
type KeySet func(kid string) crypto.PublicKey

// VerifyToken is the gate's check of a Cloud Token: signature by a known key
// with an allowed algorithm that matches the key's type, then everything
// ParseToken checks. Revocation is the caller's (it owns the jti list).
func VerifyToken(raw string, keys KeySet, now time.Time) (*Token, error) {
	t, err := decodeToken(raw)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(AllowedAlgorithms, t.Alg) {
		return nil, tokenErr(ErrTokenAlgorithm, "algorithm %q is not allowed; cloud tokens are signed with one of %s", t.Alg, strings.Join(AllowedAlgorithms, ", "))
	}
	key := keys(t.KeyID)
	if key == nil {
		return nil, tokenErr(ErrTokenSignature, "signed with unknown key %q; %s", t.KeyID, fixToken)
	}
	p := jwt.NewParser(jwt.WithValidMethods(AllowedAlgorithms), jwt.WithoutClaimsValidation())
	var c Claims
	_, err = p.ParseWithClaims(strings.TrimSpace(raw), &c, func(tok *jwt.Token) (any, error) {
		if !algFitsKey(tok.Method.Alg(), key) {
			return nil, fmt.Errorf("algorithm %s does not fit key %q", tok.Method.Alg(), t.KeyID)
		}
		return key, nil
	})
	if err != nil {
		return nil, tokenErr(ErrTokenSignature, "signature does not verify (%v); the token was not issued by this gate or was altered", err)
	}
	if err := t.Check(now); err != nil {
		return nil, err
	}
	return t, nil
}

func algFitsKey(alg string, key crypto.PublicKey) bool {
	switch key.(type) {
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *ecdsa.PublicKey:
		return alg == "ES256"
	case *rsa.PublicKey:
		return alg == "RS256" || alg == "RS512"
	}
	return false
}

// SignToken issues a Cloud Token with an Ed25519 key named kid.
func SignToken(c Claims, key ed25519.PrivateKey, kid string) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign cloud token: %w", err)
	}
	return s, nil
}
