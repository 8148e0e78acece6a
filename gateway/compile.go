package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
)

// Runtime is a compiled, immutable configuration: what Swap installs.
type Runtime struct {
	Revision     int64  // Config.Revision it was compiled from
	Source       string // Config.Source: "gate", "snapshot" or "local"
	Organization string // recorded as organizationId
	Environment  string // recorded as environmentId
	apis         []*apiRuntime
	router       router
	groups       []*endpointGroup
}

// APIs returns the ids of the APIs the runtime serves.
func (rt *Runtime) APIs() []string {
	ids := make([]string, len(rt.apis))
	for i, a := range rt.apis {
		ids[i] = a.id
	}
	return ids
}

// apiRuntime is one compiled API.
type apiRuntime struct {
	id, name       string
	plans          []*planRuntime           // token plans first, key-less last
	keys           map[string]*subscription // API key → subscription
	clients        map[clientKey]*subscription
	flows          []*flow
	bestMatch      bool
	matchRequired  bool
	groups         map[string]*endpointGroup
	defaultGroup   *endpointGroup
	failover       *failoverPolicy // nil: no retries, no circuit breaker
	analytics      bool
	cors           *corsPolicy
	properties     map[string]string
	pathMappings   []*flow // listener pathMappings: analytics mappedPath only
	organizationID string
	environmentID  string
}

// subscription is a compiled wire.Subscription of an API-key plan.
type subscription struct {
	id, app, clientID string
	plan              *planRuntime
	status            string
	startMs, endMs    int64
}

// Compile validates cfg and compiles it into a Runtime. It never touches the
// runtime being served. Errors name the API and the field
// (*apidef.ValidationError).
func (g *Gateway) Compile(cfg *Config) (*Runtime, error) {
	if cfg == nil {
		return nil, errors.New("compile: nil config")
	}
	rt := &Runtime{Revision: cfg.Revision, Source: cfg.Source, Organization: cfg.Organization, Environment: cfg.Environment}
	var routes []*route
	seen := map[string]string{} // host+path → API id
	ids := map[string]bool{}
	for i, def := range cfg.APIs {
		if def == nil {
			return nil, fmt.Errorf("compile: APIs[%d] is nil", i)
		}
		if ids[def.ID] {
			return nil, &apidef.ValidationError{API: def.ID, Field: "id", Msg: "is deployed twice"}
		}
		ids[def.ID] = true
		a, err := g.compileAPI(def, cfg)
		if err != nil {
			return nil, err
		}
		rt.apis = append(rt.apis, a)
		for _, grp := range a.groups {
			rt.groups = append(rt.groups, grp)
		}
		for li, l := range def.Listeners {
			for pi, p := range l.Paths {
				r := &route{host: normalizeHost(p.Host), path: apidef.NormalizePath(p.Path), api: a}
				if other, dup := seen[r.host+" "+r.path]; dup {
					return nil, &apidef.ValidationError{API: def.ID, Field: fmt.Sprintf("listeners[%d].paths[%d].path", li, pi),
						Msg: fmt.Sprintf("%q (host %q) is already the context path of API %s", p.Path, p.Host, other)}
				}
				seen[r.host+" "+r.path] = def.ID
				routes = append(routes, r)
			}
		}
	}
	if err := attachSubscriptions(rt.apis, cfg.Subscriptions); err != nil {
		return nil, err
	}
	rt.router = newRouter(routes)
	return rt, nil
}

func (g *Gateway) compileAPI(def *apidef.API, cfg *Config) (*apiRuntime, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	a := &apiRuntime{id: def.ID, name: def.Name, groups: map[string]*endpointGroup{},
		organizationID: cfg.Organization, environmentID: cfg.Environment, properties: map[string]string{}}
	a.analytics = def.Analytics == nil || def.Analytics.Enabled
	for _, p := range def.Properties {
		a.properties[p.Key] = p.Value
	}
	env := &compileEnv{g: g, api: a}
	wrap := func(err error) error { return apiErr(def.ID, err) }
	for i, eg := range def.EndpointGroups {
		grp, err := compileGroup(&g.pools, eg, fmt.Sprintf("endpointGroups[%d]", i))
		if err != nil {
			return nil, wrap(err)
		}
		a.groups[eg.Name] = grp
		if a.defaultGroup == nil {
			a.defaultGroup = grp
		}
	}
	if fo := def.Failover; fo != nil && fo.Enabled {
		f, err := compileFailover(fo)
		if err != nil {
			return nil, wrap(fieldErr("failover", err))
		}
		a.failover = f
	}
	for i, l := range def.Listeners {
		for _, m := range l.PathMapping {
			a.pathMappings = append(a.pathMappings, &flow{segments: splitPath(m), equals: true, name: m})
		}
		if l.CORS != nil && l.CORS.Enabled {
			c, err := compileListenerCORS(l.CORS)
			if err != nil {
				return nil, wrap(fieldErr(fmt.Sprintf("listeners[%d].cors", i), err))
			}
			a.cors = c
		}
	}
	if fe := def.FlowExecution; fe != nil {
		a.bestMatch = fe.Mode == apidef.FlowModeBestMatch
		a.matchRequired = fe.MatchRequired
	}
	flows, err := compileFlows(env, def.Flows, "flows")
	if err != nil {
		return nil, wrap(err)
	}
	a.flows = flows
	if err := compilePlans(env, def.Plans); err != nil {
		return nil, wrap(err)
	}
	return a, nil
}

// attachSubscriptions indexes API-key subscriptions by key under their API.
// Subscriptions to unknown APIs or plans are ignored (they belong to APIs
// not deployed here); a key used twice within one API is an error.
func attachSubscriptions(apis []*apiRuntime, subs []wire.Subscription) error {
	byID := make(map[string]*apiRuntime, len(apis))
	for _, a := range apis {
		byID[a.id] = a
	}
	for i := range subs {
		s := &subs[i]
		a := byID[s.API]
		if a == nil {
			continue
		}
		p := a.plan(s.Plan)
		if p == nil {
			continue
		}
		if s.ClientID != "" && p.apiKey == nil {
			if a.clients == nil {
				a.clients = make(map[clientKey]*subscription)
			}
			a.clients[clientKey{p, s.ClientID}] = &subscription{id: s.ID, app: s.Application, clientID: s.ClientID, plan: p,
				status: s.Status, startMs: s.StartingAt, endMs: s.EndingAt}
		}
		if s.Key == "" {
			continue
		}
		if a.keys == nil {
			a.keys = make(map[string]*subscription)
		}
		if old, dup := a.keys[s.Key]; dup && old.id != s.ID {
			return fmt.Errorf("subscriptions: key of subscription %s is also the key of subscription %s of API %s", s.ID, old.id, a.id)
		}
		a.keys[s.Key] = &subscription{id: s.ID, app: s.Application, clientID: s.ClientID, plan: p,
			status: s.Status, startMs: s.StartingAt, endMs: s.EndingAt}
	}
	return nil
}

// clientKey finds jwt and mtls subscriptions: the plan and the client id.
type clientKey struct {
	plan     *planRuntime
	clientID string
}

func (a *apiRuntime) clientSubscription(p *planRuntime, clientID string) *subscription {
	if clientID == "" {
		return nil
	}
	return a.clients[clientKey{p, clientID}]
}

func (a *apiRuntime) plan(id string) *planRuntime {
	for _, p := range a.plans {
		if p.id == id {
			return p
		}
	}
	return nil
}

// compileEnv is what policy and plan compilers may use.
type compileEnv struct {
	g     *Gateway
	api   *apiRuntime
	field string // the step being compiled, e.g. "flows[0].request[1]"
}

// fieldError is a compile error at a field path relative to the API.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErr(field string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) && fe.field != "" {
		return &fieldError{field: field + "." + fe.field, err: fe.err}
	}
	return &fieldError{field: field, err: err}
}

// apiErr turns a compile error into an *apidef.ValidationError for api.
func apiErr(api string, err error) error {
	var ve *apidef.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &apidef.ValidationError{API: api, Field: fe.field, Msg: fe.err.Error()}
	}
	return &apidef.ValidationError{API: api, Msg: err.Error()}
}

// strictJSON decodes a policy or service configuration, refusing unknown
// fields; empty or null raw leaves v as is.
func strictJSON(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFieldError(err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// jsonFieldError rewrites encoding/json errors so that they name the field.
func jsonFieldError(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return &fieldError{field: typeErr.Field, err: fmt.Errorf("must be %s, not a JSON %s", typeErr.Type, typeErr.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &fieldError{field: f, err: errors.New("unknown field")}
	}
	return err
}
