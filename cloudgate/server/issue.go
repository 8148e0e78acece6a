package server

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/provisioning"
	"github.com/golang-jwt/jwt/v5"
)

// Installation is the result of "Generate Installation Details": a gateway
// record, its Cloud Token and its license.
type Installation struct {
	Gateway    store.Gateway
	CloudToken string
	LicenseKey string
}

// IssueGateway creates a gateway in org/env and issues its Cloud Token and
// license, signed with the active keys.
func (s *Server) IssueGateway(org, env, name string, accessPoints []string) (*Installation, error) {
	o, err := s.store.GetOrg(org)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetEnv(org, env); err != nil {
		return nil, err
	}
	aps, err := cleanAccessPoints(accessPoints)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	gid, jti := store.NewID(), store.NewID()
	if strings.TrimSpace(name) == "" {
		name = "gateway-" + gid[:8]
	}
	tokKID, tokKey := s.pki.Tokens.Active()
	licKID, licKey := s.pki.Licenses.Active()
	claims := provisioning.Claims{
		Issuer: s.opts.PublicURL, Audience: jwt.ClaimStrings{provisioning.Audience}, Subject: gid,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.TokenTTL)), ID: jti,
		Org: org, Envs: []string{env}, CPG: s.opts.Geo, TTK: o.TTK,
		Gate: s.opts.PublicURL, GateCA: s.pki.CAPin, GatewayID: gid, AccessPoints: aps,
		LicenseKey: provisioning.EncodePublicKey(licKey.Public().(ed25519.PublicKey)),
	}
	token, err := provisioning.SignToken(claims, tokKey, tokKID)
	if err != nil {
		return nil, err
	}
	// Check our own output the way the gate and a gateway will.
	if _, err := provisioning.VerifyToken(token, s.pki.Tokens.Public, now); err != nil {
		return nil, fmt.Errorf("issued token does not verify: %w", err)
	}
	features := append([]string{}, s.opts.LicenseFeatures...)
	license, err := provisioning.SignLicense(provisioning.License{
		ID: store.NewID(), Org: org, Tier: s.opts.LicenseTier, Features: features,
		IssuedAt: now, ExpiresAt: now.Add(s.opts.LicenseTTL),
	}, licKey, licKID)
	if err != nil {
		return nil, err
	}
	g := store.Gateway{ID: gid, Org: org, Env: env, Name: name, AccessPoints: aps, TokenID: jti, CreatedAt: now}
	t := store.Token{ID: jti, Org: org, Env: env, GatewayID: gid, KeyID: tokKID, IssuedAt: now, ExpiresAt: claims.ExpiresAt.Time}
	if err := s.store.CreateGateway(g, t); err != nil {
		return nil, err
	}
	return &Installation{Gateway: g, CloudToken: token, LicenseKey: license}, nil
}

func cleanAccessPoints(in []string) ([]string, error) {
	out := []string{}
	for i, ap := range in {
		ap = strings.TrimSpace(ap)
		if ap == "" {
			return nil, &store.InputError{Field: fmt.Sprintf("accessPoints[%d]", i), Msg: "is empty"}
		}
		if len(ap) > 512 {
			return nil, &store.InputError{Field: fmt.Sprintf("accessPoints[%d]", i), Msg: "is longer than 512 characters"}
		}
		out = append(out, ap)
	}
	return out, nil
}
