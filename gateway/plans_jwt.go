package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtPlanConfig is Gravitee's jwt plan configuration. ClaimsToHeaders is an
// edgegate extension: it forwards claims upstream as request headers.
type jwtPlanConfig struct {
	Signature                    string          `json:"signature,omitempty"`
	PublicKeyResolver            string          `json:"publicKeyResolver,omitempty"`
	ResolverParameter            string          `json:"resolverParameter,omitempty"`
	UseSystemProxy               bool            `json:"useSystemProxy,omitempty"`
	ExtractClaims                bool            `json:"extractClaims,omitempty"`
	PropagateAuthHeader          *bool           `json:"propagateAuthHeader,omitempty"`
	UserClaim                    string          `json:"userClaim,omitempty"`
	ClientIDClaim                string          `json:"clientIdClaim,omitempty"`
	FollowRedirects              bool            `json:"followRedirects,omitempty"`
	ConfirmationMethodValidation json.RawMessage `json:"confirmationMethodValidation,omitempty"`
	TokenTypValidation           json.RawMessage `json:"tokenTypValidation,omitempty"`
	ClaimsToHeaders              []claimHeader   `json:"claimsToHeaders,omitempty"`
}

type claimHeader struct {
	Claim  string `json:"claim"`
	Header string `json:"header"`
}

// jwtSignatures maps Gravitee's signature names to JWS algorithms.
var jwtSignatures = map[string]string{
	"RSA_RS256": "RS256", "RSA_RS384": "RS384", "RSA_RS512": "RS512",
	"HMAC_HS256": "HS256", "HMAC_HS384": "HS384", "HMAC_HS512": "HS512",
}

// jwtPlan is a compiled jwt plan.
type jwtPlan struct {
	alg           string // the only algorithm accepted
	key           any    // given key: *rsa.PublicKey or []byte
	jwks          *jwksCache
	propagateAuth bool
	clientClaim   string
	headers       []claimHeader
	parser        *jwt.Parser
}

var (
	errJWTMissing = &failure{http.StatusUnauthorized, "JWT_MISSING_TOKEN", msgUnauthorized}
	errJWTInvalid = &failure{http.StatusUnauthorized, "JWT_INVALID_TOKEN", msgUnauthorized}
)

func compileJWTPlan(env *compileEnv, raw json.RawMessage) (*jwtPlan, error) {
	var c jwtPlanConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	if c.Signature == "" {
		c.Signature = "RSA_RS256"
	}
	alg, ok := jwtSignatures[c.Signature]
	if !ok {
		return nil, fieldErr("signature", fmt.Errorf("is %q; use RSA_RS256, RSA_RS384, RSA_RS512, HMAC_HS256, HMAC_HS384 or HMAC_HS512", c.Signature))
	}
	for name, raw := range map[string]json.RawMessage{"confirmationMethodValidation": c.ConfirmationMethodValidation, "tokenTypValidation": c.TokenTypValidation} {
		if enabledOption(raw) {
			return nil, fieldErr(name, errors.New("is not supported by edgegate; disable it"))
		}
	}
	p := &jwtPlan{alg: alg, propagateAuth: c.PropagateAuthHeader == nil || *c.PropagateAuthHeader,
		clientClaim: c.ClientIDClaim, headers: c.ClaimsToHeaders}
	for i, ch := range c.ClaimsToHeaders {
		if ch.Claim == "" || ch.Header == "" {
			return nil, fieldErr(fmt.Sprintf("claimsToHeaders[%d]", i), errors.New("needs a claim and a header"))
		}
	}
	p.parser = jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithLeeway(30*time.Second))
	switch c.PublicKeyResolver {
	case "", "GIVEN_KEY":
		k, err := parseGivenKey(alg, c.ResolverParameter)
		if err != nil {
			return nil, fieldErr("resolverParameter", err)
		}
		p.key = k
	case "JWKS_URL":
		if !strings.HasPrefix(c.ResolverParameter, "https://") && !strings.HasPrefix(c.ResolverParameter, "http://") {
			return nil, fieldErr("resolverParameter", fmt.Errorf("%q must be the http(s) URL of a JWKS", c.ResolverParameter))
		}
		if strings.HasPrefix(alg, "HS") {
			return nil, fieldErr("signature", errors.New("HMAC signatures cannot use a JWKS URL"))
		}
		p.jwks = env.g.jwksFor(c.ResolverParameter)
	default:
		return nil, fieldErr("publicKeyResolver", fmt.Errorf("is %q; use GIVEN_KEY or JWKS_URL", c.PublicKeyResolver))
	}
	return p, nil
}

// parseGivenKey reads an RSA public key (PEM) or an HMAC secret.
func parseGivenKey(alg, param string) (any, error) {
	if strings.HasPrefix(alg, "HS") {
		if len(param) < 32 {
			return nil, errors.New("an HMAC secret must be at least 32 bytes long")
		}
		return []byte(param), nil
	}
	k, err := jwt.ParseRSAPublicKeyFromPEM([]byte(param))
	if err != nil {
		return nil, fmt.Errorf("not a PEM RSA public key: %w", err)
	}
	return k, nil
}

// jwtToken reads "Authorization: Bearer <token>", else ?access_token.
func jwtToken(r *http.Request) (string, bool) {
	if a := firstValue(r.Header, "Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:]), true
		}
		return "", false
	}
	if r.URL.RawQuery != "" {
		if v, ok := r.URL.Query()["access_token"]; ok && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// authenticate validates the token's signature (with the one allowed
// algorithm), expiry and not-before, then finds the subscription of the
// token's client id to this plan.
func (p *jwtPlan) authenticate(x *exchange, plan *planRuntime) (bool, *failure) {
	raw, found := jwtToken(x.r)
	if !found {
		return false, nil
	}
	x.rec.SecurityType = "JWT"
	if raw == "" {
		return true, errJWTMissing
	}
	claims := jwt.MapClaims{}
	tok, err := p.parser.ParseWithClaims(raw, claims, p.keyFunc(x))
	if err != nil || !tok.Valid {
		x.g.log.Debug("jwt refused", "api", x.api.id, "err", err)
		return true, errJWTInvalid
	}
	s := x.api.clientSubscription(plan, p.clientID(claims))
	if s == nil || !s.validAt(x.startMs) {
		return true, errPlanUnresolvable
	}
	x.sub = s
	for _, ch := range p.headers {
		if v, ok := claims[ch.Claim]; ok {
			x.r.Header.Set(ch.Header, claimString(v))
		}
	}
	if !p.propagateAuth {
		x.dropHeader = "Authorization"
	}
	return true, nil
}

// clientID is the claim naming the application: clientIdClaim if set, else
// azp, client_id, then aud (when it is a single value).
func (p *jwtPlan) clientID(c jwt.MapClaims) string {
	for _, k := range []string{p.clientClaim, "azp", "client_id", "aud"} {
		if k == "" {
			continue
		}
		switch v := c[k].(type) {
		case string:
			return v
		case []any:
			if len(v) == 1 {
				if s, ok := v[0].(string); ok {
					return s
				}
			}
		}
	}
	return ""
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			parts = append(parts, claimString(e))
		}
		return strings.Join(parts, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func (p *jwtPlan) keyFunc(x *exchange) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if p.jwks == nil {
			return p.key, nil
		}
		kid, _ := t.Header["kid"].(string) // a token without kid matches a JWKS of one key
		k := p.jwks.key(x.r.Context(), kid)
		if k == nil {
			return nil, fmt.Errorf("no key %q in the JWKS", kid)
		}
		return k, nil
	}
}

// enabledOption reports whether an optional validation object asks to be
// applied: {"enabled": true} or, for confirmationMethodValidation, any
// "certificateBoundThumbprint": {"enabled": true}.
func enabledOption(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var o struct {
		Enabled bool `json:"enabled"`
		Cert    *struct {
			Enabled bool `json:"enabled"`
		} `json:"certificateBoundThumbprint"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return true // unreadable: refuse rather than ignore a security option
	}
	return o.Enabled || o.Cert != nil && o.Cert.Enabled
}
