package controlplane

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/apidef"
	"github.com/edgegate/edgegate/persist"
)

// applier validates, persists and installs configurations, whatever their
// source. A configuration that fails to parse or compile is rejected and the
// one being served stays.
type applier struct {
	gw     *gateway.Gateway
	db     *persist.DB
	log    *slog.Logger
	status *status
	now    func() time.Time

	mu sync.Mutex // serialises apply so snapshots and swaps stay in order
}

// buildConfig parses every raw definition of st into a gateway.Config.
func buildConfig(st *configState, source string) (*gateway.Config, error) {
	cfg := &gateway.Config{
		Revision:      st.Revision,
		Source:        source,
		Organization:  st.Organization,
		Environment:   st.Environment,
		Subscriptions: st.sortedSubs(),
	}
	for _, raw := range st.sortedAPIs() {
		a, err := apidef.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("revision %d: %w", st.Revision, err)
		}
		cfg.APIs = append(cfg.APIs, a)
	}
	return cfg, nil
}

// apply compiles st, saves it as the snapshot (unless it came from the
// snapshot) and swaps it in. A snapshot that cannot be saved (disk full) is
// logged and does not stop a valid configuration from being served.
func (a *applier) apply(st *configState, source string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, err := buildConfig(st, source)
	if err != nil {
		return fmt.Errorf("configuration rejected, still serving the previous one: %w", err)
	}
	rt, err := a.gw.Compile(cfg)
	if err != nil {
		return fmt.Errorf("configuration rejected, still serving the previous one: revision %d: %w", st.Revision, err)
	}
	if source != SourceSnapshot {
		if err := a.db.SaveSnapshot(snapshotOf(st, source, a.now())); err != nil {
			a.log.Error("could not save the configuration snapshot; serving it anyway, but a restart while offline would serve the previous snapshot", "revision", st.Revision, "err", err)
			a.status.flag(fmt.Sprintf("snapshot of revision %d not saved: %v", st.Revision, err))
		}
	}
	a.gw.Swap(rt)
	a.status.applied(source, st.Revision, a.now())
	a.log.Info("configuration applied", "source", source, "revision", st.Revision, "apis", len(cfg.APIs), "subscriptions", len(cfg.Subscriptions))
	return nil
}

func snapshotOf(st *configState, source string, now time.Time) *persist.Snapshot {
	return &persist.Snapshot{
		Format:        persist.SnapshotFormat,
		Revision:      st.Revision,
		Source:        source,
		Organization:  st.Organization,
		Environment:   st.Environment,
		APIs:          st.sortedAPIs(),
		Subscriptions: st.sortedSubs(),
		SavedAt:       now,
	}
}
