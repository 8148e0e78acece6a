package bench

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// The edgegate setups the harness measures.
const (
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

// WriteAPIsDir writes one file per definition (ID.json) into dir, for
// `edgegate run --apis-dir` or `cloudgate api import`.
func WriteAPIsDir(dir string, apis []*apidef.API) error {
	for _, a := range apis {
		if err := WriteAPI(filepath.Join(dir, a.ID+".json"), a); err != nil {
			return err
		}
	}
	return nil
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
