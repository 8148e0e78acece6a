package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/apidef"
	bolt "go.etcd.io/bbolt"
)

// API is an imported API definition and its deployed state. Importing again
// replaces Definition only; gateways see it after the next deploy, as in
// Gravitee.
type API struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Definition       json.RawMessage `json:"definition"`
	Deployed         bool            `json:"deployed"`
	DeployedRevision int64           `json:"deployedRevision"`
	// DeployedDefinition is what gateways serve (nil when never deployed).
	DeployedDefinition json.RawMessage `json:"deployedDefinition,omitempty"`
	ImportedAt         time.Time       `json:"importedAt"`
	DeployedAt         time.Time       `json:"deployedAt,omitzero"`
}

// Parsed decodes the stored definition.
func (a *API) Parsed() (*apidef.API, error) { return apidef.Parse(a.Definition) }

// ImportAPI validates a Gravitee v4 definition and stores it (creating or
// replacing the API with that id). A definition without an id gets a new
// one. It returns the API id. Invalid definitions return an
// *apidef.ValidationError and change nothing.
func (s *Store) ImportAPI(org, env string, def []byte) (string, error) {
	def, err := withID(def)
	if err != nil {
		return "", err
	}
	a, err := apidef.Parse(def)
	if err != nil {
		return "", err
	}
	if err := checkID("id", a.ID); err != nil {
		return "", err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, def); err != nil {
		return "", &InputError{Msg: fmt.Sprintf("definition is not JSON: %v", err)}
	}
	err = s.update(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		apis := b.Bucket(bktAPIs)
		var rec API
		if _, err := getJSON(apis, []byte(a.ID), &rec); err != nil {
			return err
		}
		rec.ID, rec.Name, rec.Definition, rec.ImportedAt = a.ID, a.Name, compact.Bytes(), s.now().UTC()
		return putJSON(apis, []byte(a.ID), &rec)
	})
	if err != nil {
		return "", fmt.Errorf("import api: %w", err)
	}
	return a.ID, nil
}

// withID gives a definition that has no (or an empty) "id" a new one.
func withID(def []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(def, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &apidef.ValidationError{Msg: fmt.Sprintf("not valid JSON at byte %d: %v", se.Offset, err)}
		}
		return nil, &apidef.ValidationError{Msg: fmt.Sprintf("not a JSON object: %v", err)}
	}
	if raw, ok := m["id"]; ok && string(raw) != `""` && string(raw) != "null" {
		return def, nil
	}
	id, err := json.Marshal(NewID())
	if err != nil {
		return nil, err
	}
	m["id"] = id
	return json.Marshal(m)
}

// APIs lists an environment's APIs sorted by name then id.
func (s *Store) APIs(org, env string) ([]API, error) {
	out := []API{}
	err := s.view(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		return b.Bucket(bktAPIs).ForEach(func(k, v []byte) error {
			var a API
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode api %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// GetAPI returns one API.
func (s *Store) GetAPI(org, env, id string) (API, error) {
	var a API
	err := s.view(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		return getAPI(b, id, &a)
	})
	return a, err
}

func getAPI(b *bolt.Bucket, id string, a *API) error {
	ok, err := getJSON(b.Bucket(bktAPIs), []byte(id), a)
	if err == nil && !ok {
		err = notFound("api %q does not exist in this environment; import it with `cloudgate api import`", id)
	}
	return err
}

// DeployAPI makes the API's current definition the one gateways serve and
// returns the environment's new revision.
func (s *Store) DeployAPI(org, env, id string) (int64, error) {
	return s.setDeployed(org, env, id, true)
}

// UndeployAPI stops gateways from serving the API and returns the new
// revision. Undeploying an API that is not deployed changes nothing and
// returns the current revision.
func (s *Store) UndeployAPI(org, env, id string) (int64, error) {
	return s.setDeployed(org, env, id, false)
}

func (s *Store) setDeployed(org, env, id string, deploy bool) (int64, error) {
	var rev int64
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		var a API
		if err := getAPI(b, id, &a); err != nil {
			return err
		}
		if !deploy && !a.Deployed {
			var e Env
			_, err := getJSON(b, keyMeta, &e)
			rev = e.Revision
			return err
		}
		if deploy {
			if err := checkPathConflicts(b.Bucket(bktAPIs), &a); err != nil {
				return err
			}
		}
		if rev, err = s.bump(b, EventAPI, id); err != nil {
			return err
		}
		changed = true
		a.Deployed = deploy
		if deploy {
			a.DeployedDefinition, a.DeployedRevision, a.DeployedAt = a.Definition, rev, s.now().UTC()
		}
		return putJSON(b.Bucket(bktAPIs), []byte(id), &a)
	})
	if err != nil {
		return 0, fmt.Errorf("deploy api: %w", err)
	}
	if changed {
		s.notify(org, env)
	}
	return rev, nil
}

// contextKeys lists an API's context paths as "host path" keys, normalised
// the way gateways route (host lower-cased without port; path with one
// leading and one trailing slash), with the JSON path of each.
func contextKeys(def json.RawMessage) (map[string]string, error) {
	a, err := apidef.Parse(def)
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for li, l := range a.Listeners {
		for pi, p := range l.Paths {
			host := strings.ToLower(p.Host)
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			keys[host+" "+apidef.NormalizePath(p.Path)] = fmt.Sprintf("listeners[%d].paths[%d].path", li, pi)
		}
	}
	return keys, nil
}

// checkPathConflicts refuses to deploy a when another deployed API already
// has one of its context paths: gateways refuse a configuration with a
// duplicate, so deploying it would stop every gateway from taking any
// later change.
func checkPathConflicts(apis *bolt.Bucket, a *API) error {
	mine, err := contextKeys(a.Definition)
	if err != nil {
		return fmt.Errorf("stored definition of %s: %w", a.ID, err)
	}
	return apis.ForEach(func(k, v []byte) error {
		var other API
		if err := json.Unmarshal(v, &other); err != nil {
			return fmt.Errorf("decode api %s: %w", k, err)
		}
		if other.ID == a.ID || !other.Deployed {
			return nil
		}
		theirs, err := contextKeys(other.DeployedDefinition)
		if err != nil {
			return fmt.Errorf("deployed definition of %s: %w", other.ID, err)
		}
		for key, field := range mine {
			if _, dup := theirs[key]; dup {
				host, path, _ := strings.Cut(key, " ")
				return &InputError{Field: field, Msg: fmt.Sprintf("context path %q (host %q) is already served by deployed API %s (%s); undeploy it or change the path", path, host, other.ID, other.Name)}
			}
		}
		return nil
	})
}
