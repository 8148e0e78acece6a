package provisioning

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func validLicense() License {
	return License{
		ID:        "lic-1",
		Org:       "acme",
		Tier:      "universe",
		Features:  []string{"apim-policy-rate-limit", "edgegate-appliance"},
		IssuedAt:  testNow.Add(-time.Hour),
		ExpiresAt: testNow.Add(365 * 24 * time.Hour),
	}
}

func signLicense(t testing.TB, l License, k ed25519.PrivateKey) string {
	t.Helper()
	s, err := SignLicense(l, k, "lk1")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLicenseRoundTrip(t *testing.T) {
	k := newKey(t)
	pub := k.Public().(ed25519.PublicKey)
	text := signLicense(t, validLicense(), k)
	// Wrapped at 76 columns, as base64 tools do, still parses.
	var wrapped strings.Builder
	for i := 0; i < len(text); i += 76 {
		wrapped.WriteString(text[i:min(i+76, len(text))] + "\n")
	}
	l, err := ParseLicense(wrapped.String(), []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if l.ID != "lic-1" || !l.HasFeature("edgegate-appliance") || l.HasFeature("x") {
		t.Fatalf("parsed %+v", l)
	}
	if warn, err := l.Check("acme", testNow); err != nil || warn != "" {
		t.Errorf("Check = %q, %v", warn, err)
	}
	// Key encoding used by the lpk claim round-trips.
	got, err := DecodePublicKey(EncodePublicKey(pub))
	if err != nil || !got.Equal(pub) {
		t.Errorf("DecodePublicKey: %v", err)
	}
}

func TestLicenseCheck(t *testing.T) {
	l := validLicense()
	if _, err := l.Check("other", testNow); !errors.Is(err, ErrLicenseOrg) || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("other org: %v", err)
	}
	if _, err := l.Check("acme", l.ExpiresAt); !errors.Is(err, ErrLicenseExpired) || !strings.Contains(err.Error(), "not served") {
		t.Errorf("expired: %v", err)
	}
	warn, err := l.Check("acme", l.ExpiresAt.Add(-10*24*time.Hour))
	if err != nil || !strings.Contains(warn, "expires in 10 days") {
		t.Errorf("warning = %q, %v", warn, err)
	}
	if warn, _ := l.Check("acme", l.ExpiresAt.Add(-31*24*time.Hour)); warn != "" {
		t.Errorf("warned 31 days before expiry: %q", warn)
	}
}

func TestParseLicenseErrors(t *testing.T) {
	k := newKey(t)
	pub := k.Public().(ed25519.PublicKey)
	trusted := []ed25519.PublicKey{pub}
	good := signLicense(t, validLicense(), k)

	// Tamper: change the org inside the signed payload, keep the signature.
	raw, _ := base64.StdEncoding.DecodeString(good)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	l := validLicense()
	l.Tier = "enterprise-unlimited"
	p, _ := json.Marshal(l)
	env.Payload = base64.RawURLEncoding.EncodeToString(p)
	tb, _ := json.Marshal(env)
	tampered := base64.StdEncoding.EncodeToString(tb)

	enc := func(v any) string { b, _ := json.Marshal(v); return base64.StdEncoding.EncodeToString(b) }

	tests := []struct {
		name    string
		text    string
		trusted []ed25519.PublicKey
		kind    error
		msg     string
	}{
		{"empty", "", trusted, ErrLicenseMalformed, "empty"},
		{"not base64", "%%%", trusted, ErrLicenseMalformed, "not base64"},
		{"not JSON", base64.StdEncoding.EncodeToString([]byte("hello")), trusted, ErrLicenseMalformed, "not an edgegate license"},
		{"wrong format", enc(envelope{Format: "x"}), trusted, ErrLicenseMalformed, "format"},
		{"tampered", tampered, trusted, ErrLicenseSignature, "altered"},
		{"other issuer", signLicense(t, validLicense(), newKey(t)), trusted, ErrLicenseSignature, "does not verify"},
		{"no trusted key", good, nil, ErrLicenseSignature, "no trusted license key"},
		{"bad signature encoding", enc(envelope{Format: LicenseFormat, Payload: "e30", Signature: "!"}), trusted, ErrLicenseSignature, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLicense(tt.text, tt.trusted)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.kind, tt.msg)
			}
		})
	}
}

func FuzzParseLicense(f *testing.F) {
	k := newKey(f)
	pub := k.Public().(ed25519.PublicKey)
	f.Add(signLicense(f, validLicense(), k))
	f.Add("e30=")
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"format":"edgegate-license-v1","payload":"e30","signature":""}`)))
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ParseLicense(text, []ed25519.PublicKey{pub})
		if err == nil {
			if l.ID == "" || l.Org == "" {
				t.Fatalf("accepted a license without id/org")
			}
			return
		}
		var le *LicenseError
		if !errors.As(err, &le) {
			t.Fatalf("error is not a *LicenseError: %v", err)
		}
	})
}
