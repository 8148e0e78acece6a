package bench

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
	"github.com/edgegate/edgegate/gateway/controlplane"
)

// The edgegate setups the harness measures.
const (
	// BenchAPIKey is the API key of the api-key target's subscription.
	BenchAPIKey = "edgebench-0123456789abcdef"
	// rateLimit is the api-key scenario's limit per second: far above what
	// one core can serve, so the policy does all its work and never refuses.
	rateLimit = 100_000_000
)

// KeylessAPI is a v4 proxy API with one keyless plan at contextPath, in
// front of backend (host:port).
func KeylessAPI(id, contextPath, backend string, analytics bool) *apidef.API {
	a := baseAPI(id, contextPath, backend)
	a.Plans = []apidef.Plan{{
		ID: id + "-keyless", Name: "Keyless", Status: apidef.PlanPublished,
		Security: &apidef.Security{Type: apidef.SecurityKeyless},
	}}
	a.Analytics = &apidef.Analytics{Enabled: analytics}
	return a
}

// APIKeyAPI is a v4 proxy API with one api-key plan whose flow applies a
// rate-limit policy, with analytics enabled: the issue's "API-key plan +
// rate limit + analytics" scenario.
func APIKeyAPI(id, contextPath, backend string) *apidef.API {
	a := baseAPI(id, contextPath, backend)
	rl := json.RawMessage(fmt.Sprintf(
		`{"addHeaders":true,"rate":{"limit":%d,"periodTime":1,"periodTimeUnit":"SECONDS"}}`, rateLimit))
	a.Plans = []apidef.Plan{{
		ID: id + "-apikey", Name: "API key", Status: apidef.PlanPublished,
		Security: &apidef.Security{Type: apidef.SecurityAPIKey},
		Flows: []apidef.Flow{{
			Name:      "rate limit",
			Selectors: []apidef.Selector{{Type: "http", Path: "/", PathOperator: apidef.OpStartsWith}},
			Request:   []apidef.Step{{Name: "Rate limit", Policy: "rate-limit", Configuration: rl}},
		}},
	}}
	a.Analytics = &apidef.Analytics{Enabled: true}
	return a
}

// APIKeySubscription subscribes an application to api's first plan (an
// api-key plan) with BenchAPIKey.
func APIKeySubscription(api *apidef.API) wire.Subscription {
	return wire.Subscription{
		ID: api.ID + "-sub", API: api.ID, Plan: api.Plans[0].ID,
		Application: "edgebench", ApplicationName: "edgebench",
		Key: BenchAPIKey, Status: wire.SubAccepted,
	}
}

func baseAPI(id, contextPath, backend string) *apidef.API {
	// backend is a loopback host:port, which needs no JSON escaping.
	target := json.RawMessage(`{"target":"http://` + backend + `"}`)
	return &apidef.API{
		ID: id, Name: id, APIVersion: "1", DefinitionVersion: apidef.DefinitionVersion, Type: "proxy",
		Listeners: []apidef.Listener{{
			Type:        "http",
			Paths:       []apidef.Path{{Path: contextPath}},
			Entrypoints: []apidef.Entrypoint{{Type: "http-proxy"}},
		}},
		EndpointGroups: []apidef.EndpointGroup{{
			Name: "default", Type: "http-proxy",
			LoadBalancer: &apidef.LoadBalancer{Type: apidef.LBRoundRobin},
			Endpoints: []apidef.Endpoint{{
				Name: "backend", Type: "http-proxy", Weight: 1, Configuration: target,
			}},
		}},
	}
}

// WriteAPIsDir writes a directory for `edgegate run --apis-dir`: one file
// per definition (ID.json) and, when there are any, the subscriptions in
// controlplane.SubscriptionsFile.
func WriteAPIsDir(dir string, apis []*apidef.API, subs []wire.Subscription) error {
	for _, a := range apis {
		if err := WriteAPI(filepath.Join(dir, a.ID+".json"), a); err != nil {
			return err
		}
	}
	if len(subs) == 0 {
		return nil
	}
	b, err := json.MarshalIndent(subs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode subscriptions: %w", err)
	}
	return writeFile(filepath.Join(dir, controlplane.SubscriptionsFile), string(b)+"\n")
}

// WriteAPI validates a and writes it to path. Validating first makes a
// harness bug a clear error here rather than a gateway that refuses to
// start.
func WriteAPI(path string, a *apidef.API) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("generated definition %s: %w", a.ID, err)
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("encode definition %s: %w", a.ID, err)
	}
	return writeFile(path, string(b)+"\n")
}
