package apidef

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxDefinitionSize bounds one API definition's JSON (1 MiB).
const MaxDefinitionSize = 1 << 20

// ValidationError says what is wrong with a definition: which API, which
// field (a JSON path such as "endpointGroups[0].endpoints[1].configuration.target"),
// and why.
type ValidationError struct {
	API   string // the API's id, or its name when it has no id yet
	Field string
	Msg   string
}

func (e *ValidationError) Error() string {
	api := e.API
	if api == "" {
		api = "(no id)"
	}
	if e.Field == "" {
		return fmt.Sprintf("api %s: %s", api, e.Msg)
	}
	return fmt.Sprintf("api %s: %s: %s", api, e.Field, e.Msg)
}

// Parse decodes one v4 API definition strictly and validates it. An unknown
// field is reported with its name; see ValidationError.
func Parse(data []byte) (*API, error) {
	if len(data) > MaxDefinitionSize {
		return nil, &ValidationError{Msg: fmt.Sprintf("definition is %d bytes, more than the %d allowed", len(data), MaxDefinitionSize)}
	}
	var a API
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, decodeError(data, err)
	}
	if dec.More() {
		return nil, &ValidationError{API: a.ID, Msg: "trailing data after the JSON object"}
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// decodeError turns a json error into a ValidationError naming the API (read
// leniently) and the offending field.
func decodeError(data []byte, err error) error {
	var probe struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	_ = json.Unmarshal(data, &probe) // best effort: only used to name the API
	api := probe.ID
	if api == "" {
		api = probe.Name
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &ValidationError{API: api, Field: typeErr.Field, Msg: fmt.Sprintf("must be %s, not a JSON %s", typeErr.Type, typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &ValidationError{API: api, Msg: fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, err)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ValidationError{API: api, Field: field, Msg: "unknown field (check its spelling against the Gravitee v4 definition)"}
	default:
		return &ValidationError{API: api, Msg: err.Error()}
	}
}

// Validate checks the rules a v4 proxy API must follow.
func (a *API) Validate() error {
	v := validator{api: a.ID}
	if a.ID == "" {
		v.api = a.Name
		v.fail("id", "is required")
	}
	if a.Name == "" {
		v.fail("name", "is required")
	}
	if a.DefinitionVersion != DefinitionVersion {
		v.fail("definitionVersion", fmt.Sprintf("is %q; edgegate serves %q definitions", a.DefinitionVersion, DefinitionVersion))
	}
	if a.Type != "proxy" {
		v.fail("type", fmt.Sprintf("is %q; edgegate serves \"proxy\" APIs", a.Type))
	}
	v.listeners(a.Listeners)
	v.endpointGroups(a.EndpointGroups)
	v.plans(a.Plans)
	v.flows("flows", a.Flows)
	if fe := a.FlowExecution; fe != nil && fe.Mode != "" && fe.Mode != FlowModeDefault && fe.Mode != FlowModeBestMatch {
		v.fail("flowExecution.mode", fmt.Sprintf("is %q; use %q or %q", fe.Mode, FlowModeDefault, FlowModeBestMatch))
	}
	return v.err
}

type validator struct {
	api string
	err error
}

// fail records the first problem found.
func (v *validator) fail(field, msg string) {
	if v.err == nil {
		v.err = &ValidationError{API: v.api, Field: field, Msg: msg}
	}
}

func (v *validator) listeners(ls []Listener) {
	if len(ls) == 0 {
		v.fail("listeners", "needs at least one http listener")
		return
	}
	seen := map[string]bool{}
	for i, l := range ls {
		f := fmt.Sprintf("listeners[%d]", i)
		if l.Type != "http" {
			v.fail(f+".type", fmt.Sprintf("is %q; edgegate serves \"http\" listeners", l.Type))
		}
		if len(l.Paths) == 0 {
			v.fail(f+".paths", "needs at least one path")
		}
		for j, p := range l.Paths {
			pf := fmt.Sprintf("%s.paths[%d].path", f, j)
			if !strings.HasPrefix(p.Path, "/") {
				v.fail(pf, fmt.Sprintf("%q must start with /", p.Path))
			}
			if strings.ContainsAny(p.Path, " ?#") {
				v.fail(pf, fmt.Sprintf("%q must not contain spaces, ? or #", p.Path))
			}
			key := strings.ToLower(p.Host) + NormalizePath(p.Path)
			if seen[key] {
				v.fail(pf, fmt.Sprintf("%q is listed twice", p.Path))
			}
			seen[key] = true
		}
		for j, e := range l.Entrypoints {
			if e.Type != "http-proxy" {
				v.fail(fmt.Sprintf("%s.entrypoints[%d].type", f, j), fmt.Sprintf("is %q; edgegate serves \"http-proxy\" entrypoints", e.Type))
			}
		}
	}
}

// NormalizePath returns a context path with one leading slash and a trailing
// slash, the form routes are compared in.
func NormalizePath(p string) string {
	p = "/" + strings.Trim(p, "/")
	if p != "/" {
		p += "/"
	}
	return p
}

func (v *validator) endpointGroups(gs []EndpointGroup) {
	if len(gs) == 0 {
		v.fail("endpointGroups", "needs at least one endpoint group")
		return
	}
	for i, g := range gs {
		f := fmt.Sprintf("endpointGroups[%d]", i)
		if g.Name == "" {
			v.fail(f+".name", "is required")
		}
		if g.Type != "http-proxy" {
			v.fail(f+".type", fmt.Sprintf("is %q; edgegate serves \"http-proxy\" endpoint groups", g.Type))
		}
		if lb := g.LoadBalancer; lb != nil {
			switch lb.Type {
			case "", LBRoundRobin, LBRandom, LBWeightedRoundRobin, LBWeightedRandom:
			default:
				v.fail(f+".loadBalancer.type", fmt.Sprintf("is %q; use round-robin, random, weighted-round-robin or weighted-random", lb.Type))
			}
		}
		if len(g.Endpoints) == 0 {
			v.fail(f+".endpoints", "needs at least one endpoint")
		}
		for j, e := range g.Endpoints {
			v.endpoint(fmt.Sprintf("%s.endpoints[%d]", f, j), e)
		}
	}
}

func (v *validator) endpoint(f string, e Endpoint) {
	if e.Name == "" {
		v.fail(f+".name", "is required")
	}
	if e.Weight < 0 {
		v.fail(f+".weight", "must not be negative")
	}
	var cfg EndpointConfiguration
	if err := json.Unmarshal(e.Configuration, &cfg); err != nil {
		v.fail(f+".configuration", "must be an object with a \"target\" URL")
		return
	}
	u, err := url.Parse(cfg.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail(f+".configuration.target", fmt.Sprintf("%q must be an absolute http:// or https:// URL", cfg.Target))
	}
}

func (v *validator) plans(ps []Plan) {
	ids := map[string]bool{}
	for i, p := range ps {
		f := fmt.Sprintf("plans[%d]", i)
		if p.ID == "" {
			v.fail(f+".id", "is required")
		}
		if ids[p.ID] {
			v.fail(f+".id", fmt.Sprintf("%q is used by two plans", p.ID))
		}
		ids[p.ID] = true
		switch p.Status {
		case "", PlanStaging, PlanPublished, PlanDeprecated, PlanClosed:
		default:
			v.fail(f+".status", fmt.Sprintf("is %q; use STAGING, PUBLISHED, DEPRECATED or CLOSED", p.Status))
		}
		if p.Security == nil {
			v.fail(f+".security", "is required")
			continue
		}
		switch p.Security.Type {
		case SecurityKeyless, SecurityAPIKey, SecurityJWT, SecurityOAuth2, SecurityMTLS:
		default:
			v.fail(f+".security.type", fmt.Sprintf("is %q; use key-less, api-key, jwt, oauth2 or mtls", p.Security.Type))
		}
		v.flows(f+".flows", p.Flows)
	}
}

func (v *validator) flows(f string, fs []Flow) {
	for i, fl := range fs {
		ff := fmt.Sprintf("%s[%d]", f, i)
		for j, s := range fl.Selectors {
			sf := fmt.Sprintf("%s.selectors[%d]", ff, j)
			switch s.Type {
			case "http":
				if s.PathOperator != "" && s.PathOperator != OpStartsWith && s.PathOperator != OpEquals {
					v.fail(sf+".pathOperator", fmt.Sprintf("is %q; use STARTS_WITH or EQUALS", s.PathOperator))
				}
			case "condition", "channel":
			default:
				v.fail(sf+".type", fmt.Sprintf("is %q; use http or condition", s.Type))
			}
		}
		for j, st := range fl.Request {
			if st.Policy == "" {
				v.fail(fmt.Sprintf("%s.request[%d].policy", ff, j), "is required")
			}
		}
		for j, st := range fl.Response {
			if st.Policy == "" {
				v.fail(fmt.Sprintf("%s.response[%d].policy", ff, j), "is required")
			}
		}
	}
}
