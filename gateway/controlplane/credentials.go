package controlplane

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/edgegate/edgegate/persist"
	"github.com/edgegate/edgegate/provisioning"
)

// notConfigured explains what to provide.
func notConfigured(missing string) error {
	return fmt.Errorf("%w: %s. Provide --cloud-token-file FILE (or env gravitee_cloud_token) and --license-file FILE (or env gravitee_license_key), as written by `cloudgate gateway create`; or serve local definitions with --apis-dir DIR", ErrNotConfigured, missing)
}

// credentials resolves the token and license (given, else the state's
// copies), saves what was given, and returns the license guard (nil when no
// token is used).
func (n *node) credentials() (*licenseGuard, error) {
	tokText, err := n.credential(CredentialToken, n.opts.TokenText, tokenIssued)
	if err != nil {
		return nil, err
	}
	if tokText == "" {
		if n.opts.APIsDir == "" {
			return nil, notConfigured("no cloud token was given and none is kept in " + n.db.Path())
		}
		return nil, nil
	}
	tok, err := parseToken(tokText)
	if err != nil {
		return nil, err
	}
	n.token = tok
	if n.env, err = tok.Environment(n.opts.Environment); err != nil {
		return nil, err
	}
	trusted := append([]ed25519.PublicKey(nil), n.opts.LicenseKeys...)
	if tok.Claims.LicenseKey != "" {
		k, err := provisioning.DecodePublicKey(tok.Claims.LicenseKey)
		if err != nil {
			return nil, fmt.Errorf("cloud token lpk: %w", err)
		}
		trusted = append(trusted, k)
	}
	licText, err := n.credential(CredentialLicense, n.opts.LicenseText, func(text string) (time.Time, error) {
		l, err := provisioning.ParseLicense(text, trusted)
		if err != nil {
			return time.Time{}, err
		}
		return l.IssuedAt, nil
	})
	if err != nil {
		// An unverifiable license is not kept, but the gateway still starts:
		// the license guard blocks the APIs and says why.
		licText = n.opts.LicenseText
	}
	if licText == "" {
		return nil, notConfigured("a cloud token but no license was given, and none is kept in " + n.db.Path())
	}
	return newLicenseGuard(licText, trusted, tok.Claims.Org, nil, n.status, n.log), nil
}

// parseToken checks the token's structure; an expired token is logged but
// kept, so the gateway still serves its snapshot while the gate refuses it.
func parseToken(text string) (*provisioning.Token, error) {
	// The zero time is before any expiry: this checks everything but expiry.
	tok, err := provisioning.ParseToken(text, time.Time{})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

func tokenIssued(text string) (time.Time, error) {
	tok, err := parseToken(text)
	if err != nil {
		return time.Time{}, err
	}
	return tok.Claims.IssuedAt.Time, nil
}

// credential returns the newer of the given text and the state's copy of
// kind, saving the given one when it is newer. It returns "" when there is
// neither.
func (n *node) credential(kind, given string, issued func(string) (time.Time, error)) (string, error) {
	stored, storedAt, err := n.db.LoadCredential(kind)
	if err != nil && !errors.Is(err, persist.ErrNoCredential) {
		n.log.Error("could not read the kept copy", "kind", kind, "err", err)
		stored = ""
	}
	if given == "" {
		if stored != "" {
			n.log.Info("using the copy kept in the state", "kind", kind, "issuedAt", storedAt)
		}
		return stored, nil
	}
	at, err := issued(given)
	if err != nil {
		return "", err
	}
	replaced, err := n.db.SaveCredential(kind, given, at)
	if err != nil {
		n.log.Error("could not keep a copy in the state; the gateway will need it again at the next start", "kind", kind, "err", err)
		return given, nil
	}
	if !replaced && stored != "" && storedAt.After(at) {
		n.log.Warn("the kept copy is newer than the one given; using the kept copy", "kind", kind, "given", at, "kept", storedAt)
		return stored, nil
	}
	return given, nil
}
