package provisioning

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LicenseFormat names the license envelope version.
const LicenseFormat = "edgegate-license-v1"

// ExpiryWarning is how long before expiry a license starts to be reported as
// expiring (log lines, /_node/sync).
const ExpiryWarning = 30 * 24 * time.Hour

// MaxLicenseSize bounds a license's text (64 KiB).
const MaxLicenseSize = 64 << 10

// License is the signed content of a license.key.
type License struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	Tier      string    `json:"tier"`
	Packs     []string  `json:"packs,omitempty"`
	Features  []string  `json:"features"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// HasFeature reports whether the license grants feature f.
func (l *License) HasFeature(f string) bool {
	for _, x := range l.Features {
		if x == f {
			return true
		}
	}
	return false
}

// envelope is the JSON that license.key holds, base64-encoded.
type envelope struct {
	Format    string `json:"format"`
	KeyID     string `json:"kid"`
	Payload   string `json:"payload"`   // base64url of the License JSON
	Signature string `json:"signature"` // base64url Ed25519 signature of the payload bytes
}

// License errors callers branch on.
var (
	ErrLicenseMalformed = errors.New("malformed license")
	ErrLicenseSignature = errors.New("license signature invalid")
	ErrLicenseExpired   = errors.New("license expired")
	ErrLicenseOrg       = errors.New("license is for another organization")
)

// LicenseError is a license problem with the message an operator acts on.
type LicenseError struct {
	Kind error
	Msg  string
}

func (e *LicenseError) Error() string { return "license: " + e.Msg }

// Unwrap returns the sentinel.
func (e *LicenseError) Unwrap() error { return e.Kind }

func licenseErr(kind error, format string, args ...any) error {
	return &LicenseError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

const fixLicense = "download a new license.key from the Cloud Gate (`cloudgate gateway create`) and provision it"

// SignLicense returns the base64 text of a license.key for l.
func SignLicense(l License, key ed25519.PrivateKey, kid string) (string, error) {
	payload, err := json.Marshal(l)
	if err != nil {
		return "", fmt.Errorf("sign license: %w", err)
	}
	env, err := json.Marshal(envelope{
		Format:    LicenseFormat,
		KeyID:     kid,
		Payload:   base64.RawURLEncoding.EncodeToString(payload),
		Signature: base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, payload)),
	})
	if err != nil {
		return "", fmt.Errorf("sign license: %w", err)
	}
	return base64.StdEncoding.EncodeToString(env), nil
}

// ParseLicense decodes a license.key text and verifies its signature against
// trusted keys, which must not come from the license itself. It does not
// judge expiry or org: see Check.
func ParseLicense(text string, trusted []ed25519.PublicKey) (*License, error) {
	text = strings.Join(strings.Fields(text), "") // tolerate wrapped base64
	if text == "" {
		return nil, licenseErr(ErrLicenseMalformed, "empty; %s", fixLicense)
	}
	if len(text) > MaxLicenseSize {
		return nil, licenseErr(ErrLicenseMalformed, "%d bytes is longer than any license (%d at most); is this the right file?", len(text), MaxLicenseSize)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, licenseErr(ErrLicenseMalformed, "not base64 (%v); was it cut when copied?", err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, licenseErr(ErrLicenseMalformed, "not an edgegate license (%v)", err)
	}
	if env.Format != LicenseFormat {
		return nil, licenseErr(ErrLicenseMalformed, "format %q is not %q", env.Format, LicenseFormat)
	}
	payload, err := base64.RawURLEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, licenseErr(ErrLicenseMalformed, "payload is not base64url (%v)", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, licenseErr(ErrLicenseSignature, "signature is not a base64url Ed25519 signature; %s", fixLicense)
	}
	if len(trusted) == 0 {
		return nil, licenseErr(ErrLicenseSignature, "no trusted license key: the cloud token has no \"lpk\" claim and no --license-pubkey-file was given")
	}
	verified := false
	for _, k := range trusted {
		if ed25519.Verify(k, payload, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, licenseErr(ErrLicenseSignature, "signature does not verify with the trusted license key (kid %q): the license was altered or issued by another control plane; %s", env.KeyID, fixLicense)
	}
	var l License
	if err := json.Unmarshal(payload, &l); err != nil {
		return nil, licenseErr(ErrLicenseMalformed, "signed payload is not a license (%v)", err)
	}
	if l.ID == "" || l.Org == "" || l.ExpiresAt.IsZero() {
		return nil, licenseErr(ErrLicenseMalformed, "signed payload lacks id, org or expiresAt")
	}
	return &l, nil
}

// Check judges a verified license for org at now. It returns a non-empty
// warning from ExpiryWarning before expiry, and an error when the license is
// expired or for another organization.
func (l *License) Check(org string, now time.Time) (warning string, err error) {
	if org != "" && l.Org != org {
		return "", licenseErr(ErrLicenseOrg, "issued to organization %q, but the cloud token is for %q; provision the license.key generated with this token", l.Org, org)
	}
	if !now.Before(l.ExpiresAt) {
		return "", licenseErr(ErrLicenseExpired, "%s expired at %s; APIs are not served until a valid license is provisioned: %s", l.ID, l.ExpiresAt.UTC().Format(time.RFC3339), fixLicense)
	}
	if left := l.ExpiresAt.Sub(now); left < ExpiryWarning {
		return fmt.Sprintf("license %s expires in %d days (%s); renew it before then", l.ID, int(left.Hours()/24), l.ExpiresAt.UTC().Format(time.RFC3339)), nil
	}
	return "", nil
}

// EncodePublicKey gives the base64url form of an Ed25519 public key used in
// the token's lpk claim and in --license-pubkey-file.
func EncodePublicKey(k ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(k)
}

// DecodePublicKey reads an Ed25519 public key in base64url (as in lpk) or
// standard base64.
func DecodePublicKey(s string) (ed25519.PublicKey, error) { return decodeEd25519(s) }

func decodeEd25519(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("not a base64 Ed25519 public key: %v", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("an Ed25519 public key has %d bytes, this has %d", ed25519.PublicKeySize, len(b))
	}
	return ed25519.PublicKey(b), nil
}
