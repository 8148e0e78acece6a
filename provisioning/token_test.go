package provisioning

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func validClaims() Claims {
	return Claims{
		Issuer:    "cloudgate-local",
		Audience:  jwt.ClaimStrings{Audience},
		IssuedAt:  jwt.NewNumericDate(testNow.Add(-time.Hour)),
		ExpiresAt: jwt.NewNumericDate(testNow.Add(365 * 24 * time.Hour)),
		ID:        "jti-1",
		Org:       "acme",
		Envs:      []string{"prod"},
		CPG:       "eu",
		TTK:       "idx-acme",
		Gate:      "https://127.0.0.1:9443",
		GateCA:    "sha256:" + strings.Repeat("ab", 32),
		GatewayID: "gw-1",
	}
}

func sign(t testing.TB, c Claims, k ed25519.PrivateKey) string {
	t.Helper()
	s, err := SignToken(c, k, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken assembles a JWT from a header and claims without a real signature.
func rawToken(hdr map[string]any, c any, sig []byte) string {
	h, _ := json.Marshal(hdr)
	p, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig)
}

func TestParseTokenValid(t *testing.T) {
	tok, err := ParseToken(sign(t, validClaims(), newKey(t)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if tok.KeyID != "k1" || tok.Alg != "EdDSA" || tok.Claims.Org != "acme" {
		t.Fatalf("parsed %+v", tok)
	}
	if got := tok.GateURL(""); got != "https://127.0.0.1:9443" {
		t.Errorf("GateURL = %q", got)
	}
	env, err := tok.Environment("")
	if err != nil || env != "prod" {
		t.Errorf("Environment = %q, %v", env, err)
	}
}

func TestGateURLFromGeography(t *testing.T) {
	c := validClaims()
	c.Gate = ""
	c.CPG = "US"
	tok, err := ParseToken(sign(t, c, newKey(t)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.GateURL(""); got != "https://us.cloudgate.edgegate.cloud" {
		t.Errorf("GateURL = %q", got)
	}
	if got := tok.GateURL("example.net"); got != "https://us.cloudgate.example.net" {
		t.Errorf("GateURL(example.net) = %q", got)
	}
}

func TestParseTokenErrors(t *testing.T) {
	k := newKey(t)
	mod := func(f func(*Claims)) string {
		c := validClaims()
		f(&c)
		return sign(t, c, k)
	}
	tests := []struct {
		name string
		raw  string
		kind error
		msg  string
	}{
		{"empty", "  ", ErrTokenMalformed, "empty"},
		{"not a JWT", "hello", ErrTokenMalformed, "not a JWT"},
		{"four parts", "a.b.c.d", ErrTokenMalformed, "found 4"},
		{"bad base64", "a$$.b.c", ErrTokenMalformed, "bad encoding: the header"},
		{"header not JSON", "bm90anNvbg.e30.c2ln", ErrTokenMalformed, "header is not JSON"},
		{"payload not JSON", rawToken(map[string]any{"alg": "EdDSA", "kid": "k"}, "x", []byte("s")), ErrTokenMalformed, "payload is not a JSON object"},
		{"alg none", rawToken(map[string]any{"alg": "none", "kid": "k"}, validClaims(), nil), ErrTokenAlgorithm, `"none" is not allowed`},
		{"no kid", rawToken(map[string]any{"alg": "EdDSA"}, validClaims(), []byte("s")), ErrTokenClaim, "kid"},
		{"missing org", mod(func(c *Claims) { c.Org = "" }), ErrTokenClaim, `"org" is missing`},
		{"missing ttk", mod(func(c *Claims) { c.TTK = "" }), ErrTokenClaim, `"ttk" is missing`},
		{"missing cpg", mod(func(c *Claims) { c.CPG = "" }), ErrTokenClaim, `"cpg" is missing`},
		{"missing jti", mod(func(c *Claims) { c.ID = "" }), ErrTokenClaim, `"jti" is missing`},
		{"missing envs", mod(func(c *Claims) { c.Envs = nil }), ErrTokenClaim, `"envs"`},
		{"missing exp", mod(func(c *Claims) { c.ExpiresAt = nil }), ErrTokenClaim, `"exp"`},
		{"missing iat", mod(func(c *Claims) { c.IssuedAt = nil }), ErrTokenClaim, `"iat"`},
		{"expired", mod(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Minute)) }), ErrTokenExpired, "expired at"},
		{"wrong audience", mod(func(c *Claims) { c.Audience = jwt.ClaimStrings{"Portal"} }), ErrTokenAudience, "not for a Cloud Gate"},
		{"gate not https", mod(func(c *Claims) { c.Gate = "http://x" }), ErrTokenClaim, `"gate"`},
		{"bad pin", mod(func(c *Claims) { c.GateCA = "md5:00" }), ErrTokenClaim, `"gca"`},
		{"bad lpk", mod(func(c *Claims) { c.LicenseKey = "abc" }), ErrTokenClaim, `"lpk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseToken(tt.raw, testNow)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestEnvironmentChoice(t *testing.T) {
	c := validClaims()
	c.Envs = []string{"dev", "prod"}
	tok, err := ParseToken(sign(t, c, newKey(t)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Environment(""); !errors.Is(err, ErrTokenEnvironment) || !strings.Contains(err.Error(), "--environment") {
		t.Errorf("no choice: err = %v", err)
	}
	if _, err := tok.Environment("qa"); !errors.Is(err, ErrTokenEnvironment) {
		t.Errorf("unknown choice: err = %v", err)
	}
	if env, err := tok.Environment("dev"); err != nil || env != "dev" {
		t.Errorf("dev: %q %v", env, err)
	}
}

func TestVerifyToken(t *testing.T) {
	gateKey := newKey(t)
	otherKey := newKey(t)
	keys := func(kid string) crypto.PublicKey {
		if kid == "k1" {
			return gateKey.Public()
		}
		return nil
	}
	good := sign(t, validClaims(), gateKey)
	if _, err := VerifyToken(good, keys, testNow); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}

	expired := validClaims()
	expired.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Second))

	// An HS256 token "signed" with the public key bytes: the classic
	// algorithm-confusion forgery.
	pub := []byte(gateKey.Public().(ed25519.PublicKey))
	hsUnsigned := rawToken(map[string]any{"alg": "HS256", "kid": "k1"}, validClaims(), nil)
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsUnsigned[:strings.LastIndex(hsUnsigned, ".")]))
	hsForged := hsUnsigned[:strings.LastIndex(hsUnsigned, ".")+1] + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	tampered := validClaims()
	tampered.Org = "evil"
	parts := strings.Split(good, ".")
	p, _ := json.Marshal(tampered)
	tamperedTok := parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]

	tests := []struct {
		name string
		raw  string
		kind error
	}{
		{"another key", sign(t, validClaims(), otherKey), ErrTokenSignature},
		{"unknown kid", func() string { s, _ := SignToken(validClaims(), gateKey, "k9"); return s }(), ErrTokenSignature},
		{"alg none", rawToken(map[string]any{"alg": "none", "kid": "k1"}, validClaims(), nil), ErrTokenAlgorithm},
		{"HS256 forged with public key", hsForged, ErrTokenAlgorithm},
		{"expired", sign(t, expired, gateKey), ErrTokenExpired},
		{"tampered claims", tamperedTok, ErrTokenSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyToken(tt.raw, keys, testNow); !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	k := newKey(f)
	f.Add(sign(f, validClaims(), k))
	f.Add("a.b.c")
	f.Add(rawToken(map[string]any{"alg": "none"}, map[string]any{"envs": 3}, nil))
	f.Add("eyJhbGciOiJFZERTQSJ9..")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := ParseToken(raw, testNow)
		if err == nil {
			if tok.Claims.Org == "" || len(tok.Claims.Envs) == 0 {
				t.Fatalf("accepted a token without org/envs: %q", raw)
			}
			return
		}
		var te *TokenError
		if !errors.As(err, &te) {
			t.Fatalf("error is not a *TokenError: %v", err)
		}
	})
}
