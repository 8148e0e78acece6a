// Package apidef models Gravitee v4 API definitions (HTTP proxy APIs) as
// edgegate accepts them, and validates them.
//
// A definition arrives as JSON from the Cloud Gate's /sync, from an operator's
// `cloudgate api import`, or from a file in `edgegate run --apis-dir`. Parse
// decodes it strictly: an unknown field is an error that names the API and the
// field's JSON path, because a silently ignored typo in a security setting is
// worse than a refused deploy. Validate checks what the JSON schema cannot:
// required fields, known enum values, unique ids and paths.
//
// The types keep Gravitee's JSON field names so that a definition exported from
// Gravitee APIM imports as is. Policy configurations stay raw JSON here; the
// gateway compiles them, once, when a definition is applied.
package apidef

import (
	"encoding/json"
)

// DefinitionVersion is the only definition version edgegate accepts.
const DefinitionVersion = "V4"

// API is a Gravitee v4 API definition of type "proxy".
type API struct {
	ID                string          `json:"id"`
	CrossID           string          `json:"crossId,omitempty"`
	Name              string          `json:"name"`
	APIVersion        string          `json:"apiVersion,omitempty"`
	DefinitionVersion string          `json:"definitionVersion"`
	Type              string          `json:"type"`
	Description       string          `json:"description,omitempty"`
	Tags              []string        `json:"tags,omitempty"`
	Labels            []string        `json:"labels,omitempty"`
	Properties        []Property      `json:"properties,omitempty"`
	Resources         []Resource      `json:"resources,omitempty"`
	Listeners         []Listener      `json:"listeners"`
	EndpointGroups    []EndpointGroup `json:"endpointGroups"`
	Plans             []Plan          `json:"plans,omitempty"`
	Flows             []Flow          `json:"flows,omitempty"`
	FlowExecution     *FlowExecution  `json:"flowExecution,omitempty"`
	Analytics         *Analytics      `json:"analytics,omitempty"`
	Failover          *Failover       `json:"failover,omitempty"`
	// State and DeployedAt are set by the control plane; definitions exported
	// from Gravitee may carry them too.
	State      string `json:"state,omitempty"`
	DeployedAt string `json:"deployedAt,omitempty"`
	// Visibility, LifecycleState and similar portal fields are accepted so
	// that Gravitee exports import unchanged; the gateway ignores them.
	Visibility     string `json:"visibility,omitempty"`
	LifecycleState string `json:"lifecycleState,omitempty"`
}

// Property is a key/value made available to policies as {#api.properties[key]}.
type Property struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Encrypted bool   `json:"encrypted,omitempty"`
	Dynamic   bool   `json:"dynamic,omitempty"`
}

// Resource is a named resource (cache, auth provider) that policies refer to.
type Resource struct {
	Name          string          `json:"name"`
	Type          string          `json:"type"`
	Enabled       *bool           `json:"enabled,omitempty"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// Listener is how clients reach the API. edgegate serves "http" listeners.
type Listener struct {
	Type        string       `json:"type"`
	Paths       []Path       `json:"paths"`
	PathMapping []string     `json:"pathMappings,omitempty"`
	Entrypoints []Entrypoint `json:"entrypoints"`
	CORS        *CORS        `json:"cors,omitempty"`
	Servers     []string     `json:"servers,omitempty"`
}

// Path is a context path, optionally bound to a virtual host.
type Path struct {
	Host           string `json:"host,omitempty"`
	Path           string `json:"path"`
	OverrideAccess bool   `json:"overrideAccess,omitempty"`
}

// Entrypoint is a listener entrypoint; for proxy APIs its type is "http-proxy".
type Entrypoint struct {
	Type          string          `json:"type"`
	Qos           string          `json:"qos,omitempty"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// CORS is the listener-level CORS configuration.
type CORS struct {
	Enabled          bool     `json:"enabled"`
	AllowOrigin      []string `json:"allowOrigin,omitempty"`
	AllowHeaders     []string `json:"allowHeaders,omitempty"`
	AllowMethods     []string `json:"allowMethods,omitempty"`
	AllowCredentials bool     `json:"allowCredentials,omitempty"`
	ExposeHeaders    []string `json:"exposeHeaders,omitempty"`
	MaxAge           int      `json:"maxAge,omitempty"`
	RunPolicies      bool     `json:"runPolicies,omitempty"`
}

// EndpointGroup is a set of backends with a load balancer.
type EndpointGroup struct {
	Name                string          `json:"name"`
	Type                string          `json:"type"`
	LoadBalancer        *LoadBalancer   `json:"loadBalancer,omitempty"`
	SharedConfiguration json.RawMessage `json:"sharedConfiguration,omitempty"`
	Services            *Services       `json:"services,omitempty"`
	Endpoints           []Endpoint      `json:"endpoints"`
}

// LoadBalancer picks an endpoint of a group.
type LoadBalancer struct {
	Type string `json:"type"`
}

// Load balancer types.
const (
	LBRoundRobin         = "round-robin"
	LBRandom             = "random"
	LBWeightedRoundRobin = "weighted-round-robin"
	LBWeightedRandom     = "weighted-random"
)

// Services are the group's or endpoint's background services.
type Services struct {
	HealthCheck *Service `json:"healthCheck,omitempty"`
	Discovery   *Service `json:"discovery,omitempty"`
}

// Service is a background service such as the HTTP health check.
type Service struct {
	Enabled               bool            `json:"enabled"`
	Type                  string          `json:"type,omitempty"`
	OverrideConfiguration bool            `json:"overrideConfiguration,omitempty"`
	Configuration         json.RawMessage `json:"configuration,omitempty"`
}

// Endpoint is one backend.
type Endpoint struct {
	Name                        string          `json:"name"`
	Type                        string          `json:"type"`
	Weight                      int             `json:"weight,omitempty"`
	Secondary                   bool            `json:"secondary,omitempty"`
	Tenants                     []string        `json:"tenants,omitempty"`
	InheritConfiguration        *bool           `json:"inheritConfiguration,omitempty"`
	Configuration               json.RawMessage `json:"configuration"`
	SharedConfigurationOverride json.RawMessage `json:"sharedConfigurationOverride,omitempty"`
	Services                    *Services       `json:"services,omitempty"`
}

// EndpointConfiguration is the "configuration" of an http-proxy endpoint.
type EndpointConfiguration struct {
	Target string `json:"target"`
}

// Plan is a way to consume the API.
type Plan struct {
	ID                string    `json:"id"`
	CrossID           string    `json:"crossId,omitempty"`
	Name              string    `json:"name"`
	Description       string    `json:"description,omitempty"`
	Mode              string    `json:"mode,omitempty"`
	Status            string    `json:"status,omitempty"`
	Type              string    `json:"type,omitempty"`
	Validation        string    `json:"validation,omitempty"`
	Order             int       `json:"order,omitempty"`
	Tags              []string  `json:"tags,omitempty"`
	SelectionRule     string    `json:"selectionRule,omitempty"`
	ExcludedGroups    []string  `json:"excludedGroups,omitempty"`
	Characteristics   []string  `json:"characteristics,omitempty"`
	CommentRequired   bool      `json:"commentRequired,omitempty"`
	GeneralConditions string    `json:"generalConditions,omitempty"`
	Security          *Security `json:"security,omitempty"`
	Flows             []Flow    `json:"flows,omitempty"`
}

// Plan statuses. Only published and deprecated plans serve traffic.
const (
	PlanStaging    = "STAGING"
	PlanPublished  = "PUBLISHED"
	PlanDeprecated = "DEPRECATED"
	PlanClosed     = "CLOSED"
)

// Security is a plan's security type and its configuration.
type Security struct {
	Type          string          `json:"type"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// Plan security types.
const (
	SecurityKeyless = "key-less"
	SecurityAPIKey  = "api-key"
	SecurityJWT     = "jwt"
	SecurityOAuth2  = "oauth2"
	SecurityMTLS    = "mtls"
)

// Flow is a set of policy steps applied to matching requests.
type Flow struct {
	ID        string     `json:"id,omitempty"`
	Name      string     `json:"name,omitempty"`
	Enabled   *bool      `json:"enabled,omitempty"`
	Selectors []Selector `json:"selectors,omitempty"`
	Request   []Step     `json:"request,omitempty"`
	Response  []Step     `json:"response,omitempty"`
	Subscribe []Step     `json:"subscribe,omitempty"`
	Publish   []Step     `json:"publish,omitempty"`
	Tags      []string   `json:"tags,omitempty"`
}

// IsEnabled reports whether the flow runs; a missing "enabled" means true.
func (f Flow) IsEnabled() bool { return f.Enabled == nil || *f.Enabled }

// Selector restricts a flow. Type "http" matches path and methods; type
// "condition" holds an expression.
type Selector struct {
	Type         string   `json:"type"`
	Path         string   `json:"path,omitempty"`
	PathOperator string   `json:"pathOperator,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	Condition    string   `json:"condition,omitempty"`
}

// Path operators of an http selector.
const (
	OpStartsWith = "STARTS_WITH"
	OpEquals     = "EQUALS"
)

// Step is one policy invocation in a flow.
type Step struct {
	Name             string          `json:"name,omitempty"`
	Description      string          `json:"description,omitempty"`
	Enabled          *bool           `json:"enabled,omitempty"`
	Policy           string          `json:"policy"`
	Configuration    json.RawMessage `json:"configuration,omitempty"`
	Condition        string          `json:"condition,omitempty"`
	MessageCondition string          `json:"messageCondition,omitempty"`
}

// IsEnabled reports whether the step runs; a missing "enabled" means true.
func (s Step) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// FlowExecution chooses how API flows are matched.
type FlowExecution struct {
	Mode          string `json:"mode,omitempty"`
	MatchRequired bool   `json:"matchRequired,omitempty"`
}

// Flow execution modes.
const (
	FlowModeDefault   = "default"
	FlowModeBestMatch = "best-match"
)

// Analytics configures per-request analytics for the API.
type Analytics struct {
	Enabled  bool            `json:"enabled"`
	Sampling json.RawMessage `json:"sampling,omitempty"`
	Logging  json.RawMessage `json:"logging,omitempty"`
	Tracing  json.RawMessage `json:"tracing,omitempty"`
}

// Failover retries failed calls on another endpoint and opens a circuit
// after repeated failures.
type Failover struct {
	Enabled           bool  `json:"enabled"`
	MaxRetries        int   `json:"maxRetries,omitempty"`
	SlowCallDuration  int64 `json:"slowCallDuration,omitempty"`
	OpenStateDuration int64 `json:"openStateDuration,omitempty"`
	MaxFailures       int   `json:"maxFailures,omitempty"`
	PerSubscription   bool  `json:"perSubscription,omitempty"`
}
