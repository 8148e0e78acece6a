package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
	bolt "go.etcd.io/bbolt"
)

// Application is a consumer of APIs in one environment.
type Application struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Subscription is a stored subscription.
type Subscription struct {
	wire.Subscription
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// DefaultApplication is the application name used when none is given.
const DefaultApplication = "default"

// CreateSubscription subscribes the application named appName (created when
// missing) to an API-key plan of an API and returns the subscription with a
// new key. The plan must exist in the API's current definition.
func (s *Store) CreateSubscription(org, env, apiID, planID, appName string) (wire.Subscription, error) {
	if strings.TrimSpace(appName) == "" {
		appName = DefaultApplication
	}
	var sub Subscription
	err := s.update(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		var a API
		if err := getAPI(b, apiID, &a); err != nil {
			return err
		}
		if err := checkAPIKeyPlan(&a, planID); err != nil {
			return err
		}
		app, err := ensureApp(b.Bucket(bktApps), appName, s.now().UTC())
		if err != nil {
			return err
		}
		now := s.now().UTC()
		sub = Subscription{
			Subscription: wire.Subscription{
				ID: NewID(), API: apiID, Plan: planID, Application: app.ID, ApplicationName: app.Name,
				Key: NewID(), Status: wire.SubAccepted, StartingAt: now.UnixMilli(),
			},
			CreatedAt: now, UpdatedAt: now,
		}
		if _, err := s.bump(b, EventSubscription, sub.ID); err != nil {
			return err
		}
		return putJSON(b.Bucket(bktSubs), []byte(sub.ID), &sub)
	})
	if err != nil {
		return wire.Subscription{}, fmt.Errorf("create subscription: %w", err)
	}
	s.notify(org, env)
	return sub.Subscription, nil
}

func checkAPIKeyPlan(a *API, planID string) error {
	def, err := a.Parsed()
	if err != nil {
		return fmt.Errorf("stored definition of %s: %w", a.ID, err)
	}
	var ids []string
	for _, p := range def.Plans {
		if p.ID != planID {
			ids = append(ids, p.ID)
			continue
		}
		if p.Security == nil || p.Security.Type != apidef.SecurityAPIKey {
			return &InputError{Field: "plan", Msg: fmt.Sprintf("plan %q of api %s is not an %q plan; keys are only for API-key plans", planID, a.ID, apidef.SecurityAPIKey)}
		}
		return nil
	}
	return &InputError{Field: "plan", Msg: fmt.Sprintf("api %s has no plan %q (its plans: %s)", a.ID, planID, strings.Join(ids, ", "))}
}

// ensureApp finds the application by name or creates it.
func ensureApp(apps *bolt.Bucket, name string, now time.Time) (Application, error) {
	var found Application
	err := apps.ForEach(func(k, v []byte) error {
		var a Application
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decode application %s: %w", k, err)
		}
		if a.Name == name {
			found = a
		}
		return nil
	})
	if err != nil || found.ID != "" {
		return found, err
	}
	found = Application{ID: NewID(), Name: name, CreatedAt: now}
	return found, putJSON(apps, []byte(found.ID), &found)
}

// SetSubscriptionStatus changes a subscription's status (for example to
// wire.SubRevoked); gateways receive it with the new status.
func (s *Store) SetSubscriptionStatus(org, env, id, status string) error {
	switch status {
	case wire.SubAccepted, wire.SubPaused, wire.SubClosed, wire.SubRevoked:
	default:
		return &InputError{Field: "status", Msg: fmt.Sprintf("%q is not one of ACCEPTED, PAUSED, CLOSED, REVOKED", status)}
	}
	err := s.update(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		var sub Subscription
		ok, err := getJSON(b.Bucket(bktSubs), []byte(id), &sub)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("subscription %q does not exist", id)
		}
		sub.Status, sub.UpdatedAt = status, s.now().UTC()
		if _, err := s.bump(b, EventSubscription, id); err != nil {
			return err
		}
		return putJSON(b.Bucket(bktSubs), []byte(id), &sub)
	})
	if err != nil {
		return fmt.Errorf("set subscription status: %w", err)
	}
	s.notify(org, env)
	return nil
}

// Subscriptions lists an environment's subscriptions, oldest first.
func (s *Store) Subscriptions(org, env string) ([]Subscription, error) {
	out := []Subscription{}
	err := s.view(func(tx *bolt.Tx) error {
		b, err := envBucket(tx, org, env)
		if err != nil {
			return err
		}
		return b.Bucket(bktSubs).ForEach(func(k, v []byte) error {
			var sub Subscription
			if err := json.Unmarshal(v, &sub); err != nil {
				return fmt.Errorf("decode subscription %s: %w", k, err)
			}
			out = append(out, sub)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}
