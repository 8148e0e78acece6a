package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Org is an organization (an account).
type Org struct {
	ID string `json:"id"`
	// TTK is the organization's analytics index id, the ttk claim of its
	// Cloud Tokens.
	TTK       string    `json:"ttk"`
	CreatedAt time.Time `json:"createdAt"`
}

// Env is an environment's metadata.
type Env struct {
	Org       string    `json:"org"`
	ID        string    `json:"id"`
	Revision  int64     `json:"revision"`
	Floor     int64     `json:"floor"` // newest revision pruned from the event log
	CreatedAt time.Time `json:"createdAt"`
}

// OrgInfo lists an organization with its environments.
type OrgInfo struct {
	Org
	Environments []Env `json:"environments"`
}

// Event kinds of the environment log.
const (
	EventAPI          = "api"          // an API was deployed, redeployed or undeployed
	EventSubscription = "subscription" // a subscription was created, changed or removed
)

// Event is one entry of an environment's log: what changed at Revision.
type Event struct {
	Revision int64     `json:"revision"`
	Kind     string    `json:"kind"`
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
}

// NewID returns a random UUID (version 4) text, the form Gravitee uses for
// ids and API keys.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// EnsureEnv creates the organization and the environment when missing.
// created reports whether the environment is new.
func (s *Store) EnsureEnv(org, env string) (created bool, err error) {
	if err := checkID("org", org); err != nil {
		return false, err
	}
	if err := checkID("env", env); err != nil {
		return false, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		now := s.now().UTC()
		orgs := tx.Bucket(bktOrgs)
		if orgs.Get([]byte(org)) == nil {
			o := Org{ID: org, TTK: "ttk-" + strings.ReplaceAll(NewID(), "-", "")[:16], CreatedAt: now}
			if err := putJSON(orgs, []byte(org), &o); err != nil {
				return err
			}
		}
		envs := tx.Bucket(bktEnvs)
		if envs.Bucket(envKey(org, env)) != nil {
			return nil
		}
		b, err := envs.CreateBucket(envKey(org, env))
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bktAPIs, bktApps, bktSubs, bktEvents} {
			if _, err := b.CreateBucket(name); err != nil {
				return err
			}
		}
		created = true
		// Creation is revision 1, so every answer a gateway gets has a
		// revision > 0; there is no event before it.
		return putJSON(b, keyMeta, &Env{Org: org, ID: env, Revision: 1, Floor: 1, CreatedAt: now})
	})
	if err != nil {
		return false, fmt.Errorf("create environment %s/%s: %w", org, env, err)
	}
	return created, nil
}

// GetOrg returns an organization.
func (s *Store) GetOrg(org string) (Org, error) {
	var o Org
	err := s.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bktOrgs), []byte(org), &o)
		if err == nil && !ok {
			err = notFound("organization %q does not exist; create it with `cloudgate env create --org %s --env ENV`", org, org)
		}
		return err
	})
	return o, err
}

// GetEnv returns an environment's metadata.
func (s *Store) GetEnv(org, env string) (Env, error) {
	var e Env
	err := s.view(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		_, err = getJSON(b, keyMeta, &e)
		return err
	})
	return e, err
}

// Orgs lists every organization with its environments, sorted by id.
func (s *Store) Orgs() ([]OrgInfo, error) {
	var out []OrgInfo
	err := s.view(func(tx *bolt.Tx) error {
		idx := map[string]int{}
		err := tx.Bucket(bktOrgs).ForEach(func(k, v []byte) error {
			var o OrgInfo
			if _, err := getJSON(tx.Bucket(bktOrgs), k, &o.Org); err != nil {
				return err
			}
			o.Environments = []Env{}
			idx[o.ID] = len(out)
			out = append(out, o)
			return nil
		})
		if err != nil {
			return err
		}
		envs := tx.Bucket(bktEnvs)
		return envs.ForEachBucket(func(k []byte) error {
			var e Env
			if _, err := getJSON(envs.Bucket(k), keyMeta, &e); err != nil {
				return err
			}
			if i, ok := idx[e.Org]; ok {
				out[i].Environments = append(out[i].Environments, e)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// envBucket finds an environment's bucket or says it does not exist.
func envBucket(tx *bolt.Tx, org, env string) (*bolt.Bucket, error) {
	b := tx.Bucket(bktEnvs).Bucket(envKey(org, env))
	if b == nil {
		return nil, notFound("environment %s/%s does not exist; create it with `cloudgate env create --org %s --env %s`", org, env, org, env)
	}
	return b, nil
}

// bump records one change in an environment: revision+1, one event, and the
// log pruned to its bound. It returns the new revision.
func (s *Store) bump(b *bolt.Bucket, kind, id string) (int64, error) {
	var e Env
	if _, err := getJSON(b, keyMeta, &e); err != nil {
		return 0, err
	}
	e.Revision++
	ev := Event{Revision: e.Revision, Kind: kind, ID: id, At: s.now().UTC()}
	events := b.Bucket(bktEvents)
	if err := putJSON(events, u64(uint64(e.Revision)), &ev); err != nil {
		return 0, err
	}
	// Revisions are contiguous, so the log holds (Floor, Revision].
	for e.Revision-e.Floor > int64(s.evLimit) {
		e.Floor++
		if err := events.Delete(u64(uint64(e.Floor))); err != nil {
			return 0, err
		}
	}
	return e.Revision, putJSON(b, keyMeta, &e)
}
