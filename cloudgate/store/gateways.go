package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Gateway is a gateway installation issued by "Generate Installation
// Details", with what it last told the gate about itself.
type Gateway struct {
	ID           string    `json:"id"`
	Org          string    `json:"org"`
	Env          string    `json:"env"`
	Name         string    `json:"name"`
	AccessPoints []string  `json:"accessPoints"`
	TokenID      string    `json:"tokenId"`
	CreatedAt    time.Time `json:"createdAt"`
	Revoked      bool      `json:"revoked"`

	LastSeen        time.Time `json:"lastSeen,omitzero"`
	Version         string    `json:"version,omitempty"`
	Hostname        string    `json:"hostname,omitempty"`
	NodeID          string    `json:"nodeId,omitempty"` // the X-Edgegate-Gateway-Id it sent
	RevisionApplied int64     `json:"revisionApplied"`
	Spooled         int64     `json:"spooled"`
	Dropped         int64     `json:"dropped"` // records the gateway reported dropping, in total
}

// Token is an issued Cloud Token.
type Token struct {
	ID        string    `json:"id"` // jti
	Org       string    `json:"org"`
	Env       string    `json:"env"`
	GatewayID string    `json:"gatewayId"`
	KeyID     string    `json:"kid"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// Seen is what a gateway says about itself on /sync and /reports.
type Seen struct {
	NodeID   string
	Version  string
	Hostname string
	Revision int64 // -1 when not sent
	Spooled  int64 // -1 when not sent
	Dropped  int64 // added to the total
}

// CreateGateway stores a new gateway and the token issued for it, in one
// transaction. The environment must exist.
func (s *Store) CreateGateway(g Gateway, t Token) error {
	err := s.update(func(tx *bolt.Tx) error {
		if _, err := envBucket(tx, g.Org, g.Env); err != nil {
			return err
		}
		gws, toks := tx.Bucket(bktGateways), tx.Bucket(bktTokens)
		if gws.Get([]byte(g.ID)) != nil || toks.Get([]byte(t.ID)) != nil {
			return &InputError{Field: "id", Msg: fmt.Sprintf("gateway %s or token %s already exists", g.ID, t.ID)}
		}
		if err := putJSON(gws, []byte(g.ID), &g); err != nil {
			return err
		}
		return putJSON(toks, []byte(t.ID), &t)
	})
	if err != nil {
		return fmt.Errorf("create gateway: %w", err)
	}
	return nil
}

// Gateways lists an environment's gateways, oldest first.
func (s *Store) Gateways(org, env string) ([]Gateway, error) {
	out := []Gateway{}
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := envBucket(tx, org, env); err != nil {
			return err
		}
		return tx.Bucket(bktGateways).ForEach(func(k, v []byte) error {
			var g Gateway
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("decode gateway %s: %w", k, err)
			}
			if g.Org == org && g.Env == env {
				out = append(out, g)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// GetGateway returns one gateway.
func (s *Store) GetGateway(id string) (Gateway, error) {
	var g Gateway
	err := s.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bktGateways), []byte(id), &g)
		if err == nil && !ok {
			err = notFound("gateway %q does not exist", id)
		}
		return err
	})
	return g, err
}

// SeeGateway records that a gateway called. An unknown id (a token issued
// before the store was reset) is ignored.
func (s *Store) SeeGateway(id string, seen Seen) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktGateways)
		var g Gateway
		ok, err := getJSON(b, []byte(id), &g)
		if err != nil || !ok {
			return err
		}
		g.LastSeen = s.now().UTC()
		g.NodeID = keepIfEmpty(seen.NodeID, g.NodeID)
		g.Version = keepIfEmpty(seen.Version, g.Version)
		g.Hostname = keepIfEmpty(seen.Hostname, g.Hostname)
		if seen.Revision >= 0 {
			g.RevisionApplied = seen.Revision
		}
		if seen.Spooled >= 0 {
			g.Spooled = seen.Spooled
		}
		g.Dropped += max(seen.Dropped, 0)
		return putJSON(b, []byte(id), &g)
	})
}

func keepIfEmpty(v, old string) string {
	if v == "" {
		return old
	}
	return v
}

// Tokens lists the tokens issued for an environment, oldest first.
func (s *Store) Tokens(org, env string) ([]Token, error) {
	out := []Token{}
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := envBucket(tx, org, env); err != nil {
			return err
		}
		return tx.Bucket(bktTokens).ForEach(func(k, v []byte) error {
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode token %s: %w", k, err)
			}
			if t.Org == org && t.Env == env {
				out = append(out, t)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IssuedAt.Before(out[j].IssuedAt) })
	return out, err
}

// GetToken returns an issued token by jti.
func (s *Store) GetToken(jti string) (Token, error) {
	var t Token
	err := s.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bktTokens), []byte(jti), &t)
		if err == nil && !ok {
			err = notFound("token %q was not issued by this gate", jti)
		}
		return err
	})
	return t, err
}

// RevokeToken revokes a token of the environment and marks its gateway
// revoked. Revoking twice is not an error.
func (s *Store) RevokeToken(org, env, jti string) error {
	err := s.update(func(tx *bolt.Tx) error {
		toks := tx.Bucket(bktTokens)
		var t Token
		ok, err := getJSON(toks, []byte(jti), &t)
		if err != nil {
			return err
		}
		if !ok || t.Org != org || t.Env != env {
			return notFound("token %q was not issued for %s/%s", jti, org, env)
		}
		if t.Revoked {
			return nil
		}
		t.Revoked, t.RevokedAt = true, s.now().UTC()
		if err := putJSON(toks, []byte(jti), &t); err != nil {
			return err
		}
		return markGatewayRevoked(tx.Bucket(bktGateways), t.GatewayID, jti)
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	// Wake held long polls so the revoked gateway is refused at once.
	s.notify(org, env)
	return nil
}

func markGatewayRevoked(gws *bolt.Bucket, id, jti string) error {
	var g Gateway
	ok, err := getJSON(gws, []byte(id), &g)
	if err != nil || !ok || g.TokenID != jti {
		return err
	}
	g.Revoked = true
	return putJSON(gws, []byte(id), &g)
}
