package controlplane

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/provisioning"
)

// licenseRecheck is how often a running gateway judges its license again,
// so that expiry stops serving without a restart.
const licenseRecheck = time.Minute

// licenseGuard judges the license and blocks or unblocks the data plane.
type licenseGuard struct {
	lic    *provisioning.License // nil when it did not verify
	err    error                 // why it did not verify
	org    string
	gw     *gateway.Gateway
	status *status
	log    *slog.Logger

	lastMsg string
}

// newLicenseGuard verifies text against the trusted keys.
func newLicenseGuard(text string, trusted []ed25519.PublicKey, org string, gw *gateway.Gateway, st *status, log *slog.Logger) *licenseGuard {
	lic, err := provisioning.ParseLicense(text, trusted)
	return &licenseGuard{lic: lic, err: err, org: org, gw: gw, status: st, log: log}
}

// check judges the license at now, updates the status and blocks the data
// plane when it is invalid or expired.
func (g *licenseGuard) check(now time.Time) {
	ls := License{Required: true}
	var warning string
	err := g.err
	if g.lic != nil {
		ls.ID, ls.Tier = g.lic.ID, g.lic.Tier
		exp := g.lic.ExpiresAt
		ls.ExpiresAt = &exp
		if err == nil {
			warning, err = g.lic.Check(g.org, now)
		}
	}
	ls.Valid, ls.Warning = err == nil, warning
	if err != nil {
		ls.Error = err.Error()
		g.gw.SetBlocked("edgegate: " + err.Error())
	} else {
		g.gw.SetBlocked("")
	}
	g.status.update(func(s *SyncStatus) { s.License = ls })
	g.logChange(err, warning)
}

func (g *licenseGuard) logChange(err error, warning string) {
	msg := warning
	if err != nil {
		msg = err.Error()
	}
	if msg == g.lastMsg {
		return
	}
	g.lastMsg = msg
	switch {
	case err != nil:
		g.log.Error("license invalid: APIs are answered with 503 until a valid license is provisioned; the node API keeps running", "err", err)
	case warning != "":
		g.log.Warn(warning)
	default:
		g.log.Info("license valid", "id", g.lic.ID, "tier", g.lic.Tier, "expiresAt", g.lic.ExpiresAt)
	}
}

// run re-checks the license every licenseRecheck until ctx is done.
func (g *licenseGuard) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for sleep(ctx, licenseRecheck) {
		g.check(time.Now())
	}
}
