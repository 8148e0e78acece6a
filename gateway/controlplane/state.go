package controlplane

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

// configState is the configuration as the gate sent it: raw definitions by
// API id and subscriptions by id. It is immutable once built; merge returns
// a new one.
type configState struct {
	Revision     int64
	Organization string
	Environment  string
	APIs         map[string]json.RawMessage
	Subs         map[string]wire.Subscription
}

// apiID reads the id of a raw definition.
func apiID(raw json.RawMessage) (string, error) {
	var probe struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", fmt.Errorf("api definition is not a JSON object: %w", err)
	}
	if probe.ID == "" {
		return "", fmt.Errorf("api definition has no id")
	}
	return probe.ID, nil
}

// merge applies a /sync answer to cur (which may be nil) and returns the new
// whole state. A full answer replaces everything; a delta upserts and
// removes. cur is never modified.
func merge(cur *configState, sr *wire.SyncResponse) (*configState, error) {
	next := &configState{
		Revision:     sr.Revision,
		Organization: sr.Organization,
		Environment:  sr.Environment,
		APIs:         map[string]json.RawMessage{},
		Subs:         map[string]wire.Subscription{},
	}
	if !sr.Full {
		if cur == nil {
			return nil, fmt.Errorf("revision %d is a delta but no configuration is loaded to apply it to", sr.Revision)
		}
		maps.Copy(next.APIs, cur.APIs)
		maps.Copy(next.Subs, cur.Subs)
		if next.Organization == "" {
			next.Organization = cur.Organization
		}
		if next.Environment == "" {
			next.Environment = cur.Environment
		}
	}
	for i, raw := range sr.APIs {
		id, err := apiID(raw)
		if err != nil {
			return nil, fmt.Errorf("revision %d: apis[%d]: %w", sr.Revision, i, err)
		}
		next.APIs[id] = raw
	}
	for _, id := range sr.RemovedAPIs {
		delete(next.APIs, id)
	}
	for i, s := range sr.Subscriptions {
		if s.ID == "" {
			return nil, fmt.Errorf("revision %d: subscriptions[%d] has no id", sr.Revision, i)
		}
		next.Subs[s.ID] = s
	}
	for _, id := range sr.RemovedSubscriptions {
		delete(next.Subs, id)
	}
	return next, nil
}

// sortedAPIs returns the raw definitions ordered by id, so snapshots and
// compiled configurations do not depend on map order.
func (s *configState) sortedAPIs() []json.RawMessage {
	out := make([]json.RawMessage, 0, len(s.APIs))
	for _, id := range slices.Sorted(maps.Keys(s.APIs)) {
		out = append(out, s.APIs[id])
	}
	return out
}

// sortedSubs returns the subscriptions ordered by id.
func (s *configState) sortedSubs() []wire.Subscription {
	out := make([]wire.Subscription, 0, len(s.Subs))
	for _, id := range slices.Sorted(maps.Keys(s.Subs)) {
		out = append(out, s.Subs[id])
	}
	return out
}

// stateFromParts rebuilds a state from a snapshot's lists.
func stateFromParts(rev int64, org, env string, apis []json.RawMessage, subs []wire.Subscription) (*configState, error) {
	return merge(nil, &wire.SyncResponse{Revision: rev, Full: true, Organization: org, Environment: env, APIs: apis, Subscriptions: subs})
}
