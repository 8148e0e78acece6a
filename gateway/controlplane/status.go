package controlplane

import (
	"sync"
	"time"
)

// Configuration sources reported by /_node/sync and the sync_source metric.
const (
	SourceNone     = ""
	SourceGate     = "gate"
	SourceSnapshot = "snapshot"
	SourceLocal    = "local"
)

// SyncStatus is the JSON of GET /_node/sync.
type SyncStatus struct {
	Source      string     `json:"source"`
	Revision    int64      `json:"revision"`
	Gate        string     `json:"gate,omitempty"`
	Environment string     `json:"environment,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess"`
	LastError   string     `json:"lastError"`
	LastErrorAt *time.Time `json:"lastErrorAt"`
	NextAttempt *time.Time `json:"nextAttempt"`
	// SnapshotRecovered says what was wrong with the state file or snapshot
	// found at start ("" when nothing was).
	SnapshotRecovered string   `json:"snapshotRecovered,omitempty"`
	Flags             []string `json:"flags,omitempty"` // the last maxFlags problems worth an operator's look
	SyncErrors        int64    `json:"syncErrors"`
	// ProvisioningError says why the last provisioning stick was refused
	// (appliance only; "" when none was).
	ProvisioningError string  `json:"provisioningError,omitempty"`
	License           License `json:"license"`
}

// License is the license part of SyncStatus.
type License struct {
	Required  bool       `json:"required"`
	Valid     bool       `json:"valid"`
	ID        string     `json:"id,omitempty"`
	Tier      string     `json:"tier,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Warning   string     `json:"warning,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// status is the shared, mutex-guarded view of the control plane's state.
type status struct {
	mu sync.Mutex
	s  SyncStatus
}

func (st *status) snapshot() SyncStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.s
	s.Flags = append([]string(nil), st.s.Flags...)
	return s
}

func (st *status) update(f func(s *SyncStatus)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

func (st *status) applied(source string, rev int64, now time.Time) {
	st.update(func(s *SyncStatus) {
		s.Source, s.Revision = source, rev
		if source != SourceSnapshot {
			s.LastSuccess = &now
		}
	})
}

func (st *status) succeeded(now time.Time) {
	st.update(func(s *SyncStatus) { s.LastSuccess, s.NextAttempt = &now, nil })
}

func (st *status) failed(err error, now, next time.Time) {
	st.update(func(s *SyncStatus) {
		s.LastError, s.LastErrorAt = err.Error(), &now
		s.SyncErrors++
		if !next.IsZero() {
			s.NextAttempt = &next
		}
	})
}

// maxFlags bounds SyncStatus.Flags; the oldest flag goes first.
const maxFlags = 10

func (st *status) flag(f string) {
	st.update(func(s *SyncStatus) {
		s.Flags = append(s.Flags, f)
		if len(s.Flags) > maxFlags {
			s.Flags = s.Flags[len(s.Flags)-maxFlags:]
		}
	})
}

// revision returns the revision being served (for request headers).
func (st *status) revision() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s.Revision
}
