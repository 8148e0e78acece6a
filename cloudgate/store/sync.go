package store

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/edgegate/edgegate/cloudgate/wire"
	bolt "go.etcd.io/bbolt"
)

// Sync answers a gateway at revision since: the full configuration when
// since is 0, older than the retained event log, or newer than the
// environment (a gate restored from an older backup); the changes after
// since otherwise; nil when nothing changed since. ServerTime is left to the
// caller.
func (s *Store) Sync(org, env string, since int64) (*wire.SyncResponse, error) {
	var resp *wire.SyncResponse
	err := s.view(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		var e Env
		if _, err := getJSON(b, keyMeta, &e); err != nil {
			return err
		}
		switch {
		case since == e.Revision && since > 0:
			return nil
		case since <= 0 || since < e.Floor || since > e.Revision:
			resp, err = full(b, &e)
		default:
			resp, err = delta(b, &e, since)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync %s/%s: %w", org, env, err)
	}
	return resp, nil
}

func newResponse(e *Env, isFull bool) *wire.SyncResponse {
	return &wire.SyncResponse{
		Revision: e.Revision, Full: isFull, Organization: e.Org, Environment: e.ID,
		APIs: []json.RawMessage{}, Subscriptions: []wire.Subscription{},
	}
}

// full is the whole deployed configuration. Closed and revoked
// subscriptions are left out: a full answer replaces everything.
func full(b *bolt.Bucket, e *Env) (*wire.SyncResponse, error) {
	r := newResponse(e, true)
	err := b.Bucket(bktAPIs).ForEach(func(k, v []byte) error {
		var a API
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decode api %s: %w", k, err)
		}
		if a.Deployed {
			r.APIs = append(r.APIs, a.DeployedDefinition)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = b.Bucket(bktSubs).ForEach(func(k, v []byte) error {
		var sub Subscription
		if err := json.Unmarshal(v, &sub); err != nil {
			return fmt.Errorf("decode subscription %s: %w", k, err)
		}
		if sub.Status == wire.SubAccepted || sub.Status == wire.SubPaused {
			r.Subscriptions = append(r.Subscriptions, sub.Subscription)
		}
		return nil
	})
	return r, err
}

// delta is what changed after since: the current state of every API and
// subscription named by the events in (since, revision].
func delta(b *bolt.Bucket, e *Env, since int64) (*wire.SyncResponse, error) {
	apis, subs := map[string]bool{}, map[string]bool{}
	c := b.Bucket(bktEvents).Cursor()
	for k, v := c.Seek(u64(uint64(since + 1))); k != nil; k, v = c.Next() {
		var ev Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("decode event %x: %w", k, err)
		}
		switch ev.Kind {
		case EventAPI:
			apis[ev.ID] = true
		case EventSubscription:
			subs[ev.ID] = true
		}
	}
	r := newResponse(e, false)
	for _, id := range sortedKeys(apis) {
		var a API
		ok, err := getJSON(b.Bucket(bktAPIs), []byte(id), &a)
		if err != nil {
			return nil, err
		}
		if ok && a.Deployed {
			r.APIs = append(r.APIs, a.DeployedDefinition)
		} else {
			r.RemovedAPIs = append(r.RemovedAPIs, id)
		}
	}
	for _, id := range sortedKeys(subs) {
		var sub Subscription
		ok, err := getJSON(b.Bucket(bktSubs), []byte(id), &sub)
		if err != nil {
			return nil, err
		}
		if ok {
			r.Subscriptions = append(r.Subscriptions, sub.Subscription)
		} else {
			r.RemovedSubscriptions = append(r.RemovedSubscriptions, id)
		}
	}
	return r, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
