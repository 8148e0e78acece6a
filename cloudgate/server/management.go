package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/pki"
	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/gateway/apidef"
)

// ManagementPrefix is where the management API is mounted.
const ManagementPrefix = "/management/v1"

// mgmtError is the JSON body of a management API error.
type mgmtError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// apiHandler is a management handler that returns its answer or an error.
type apiHandler func(r *http.Request) (status int, body any, err error)

func (s *Server) routeManagement(mux *http.ServeMux) {
	p := ManagementPrefix
	routes := map[string]apiHandler{
		"GET " + p + "/orgs":                                               s.listOrgs,
		"POST " + p + "/orgs/{org}/envs/{env}":                             s.createEnv,
		"GET " + p + "/orgs/{org}/envs/{env}/gateways":                     s.listGateways,
		"POST " + p + "/orgs/{org}/envs/{env}/gateways":                    s.createGateway,
		"GET " + p + "/orgs/{org}/envs/{env}/tokens":                       s.listTokens,
		"POST " + p + "/orgs/{org}/envs/{env}/tokens/{jti}/revoke":         s.revokeToken,
		"GET " + p + "/orgs/{org}/envs/{env}/apis":                         s.listAPIs,
		"POST " + p + "/orgs/{org}/envs/{env}/apis":                        s.importAPI,
		"GET " + p + "/orgs/{org}/envs/{env}/apis/{id}":                    s.getAPI,
		"POST " + p + "/orgs/{org}/envs/{env}/apis/{id}/deploy":            s.deployAPI,
		"POST " + p + "/orgs/{org}/envs/{env}/apis/{id}/undeploy":          s.undeployAPI,
		"POST " + p + "/orgs/{org}/envs/{env}/apis/{id}/subscriptions":     s.createSubscription,
		"GET " + p + "/orgs/{org}/envs/{env}/subscriptions":                s.listSubscriptions,
		"POST " + p + "/orgs/{org}/envs/{env}/subscriptions/{id}/{status}": s.setSubscriptionStatus,
		"GET " + p + "/orgs/{org}/analytics/count":                         s.analyticsCount,
		"GET " + p + "/orgs/{org}/analytics/records":                       s.analyticsRecords,
		"GET " + p + "/orgs/{org}/analytics/stats":                         s.analyticsStats,
		"GET " + p + "/keys":                                               s.listKeys,
		"POST " + p + "/keys/{kind}/rotate":                                s.rotateKey,
	}
	for pattern, h := range routes {
		mux.Handle(pattern, s.admin(h))
	}
	mux.Handle(p+"/", s.admin(func(r *http.Request) (int, any, error) {
		return 0, nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("no management endpoint %s %s", r.Method, r.URL.Path)}
	}))
}

// httpError is a management failure with a chosen status.
type httpError struct {
	status int
	msg    string
	field  string
}

func (e *httpError) Error() string { return e.msg }

// admin checks the admin token (constant time) and renders h's answer.
func (s *Server) admin(h apiHandler) http.Handler {
	want := []byte(s.pki.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cloudgate-management"`)
			writeJSON(w, http.StatusUnauthorized, mgmtError{Message: "missing or wrong admin token: send \"Authorization: Bearer <contents of DATA_DIR/admin-token>\""})
			return
		}
		status, body, err := h(r)
		if err != nil {
			s.writeMgmtError(w, r, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

func (s *Server) writeMgmtError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var ie *store.InputError
	var ve *apidef.ValidationError
	switch {
	case errors.As(err, &he):
		writeJSON(w, he.status, mgmtError{Message: he.msg, Field: he.field})
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, mgmtError{Message: ve.Error(), Field: ve.Field})
	case errors.As(err, &ie):
		writeJSON(w, http.StatusBadRequest, mgmtError{Message: ie.Error(), Field: ie.Field})
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, mgmtError{Message: err.Error()})
	case errors.Is(err, store.ErrClosed):
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
		writeJSON(w, http.StatusServiceUnavailable, mgmtError{Message: err.Error()})
	default:
		s.log.Error("management", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, mgmtError{Message: err.Error()})
	}
}

// MaxManagementBody bounds a management request body (an API definition).
const MaxManagementBody = apidef.MaxDefinitionSize + 4096

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxManagementBody+1))
	if err != nil {
		return nil, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("reading body: %v", err)}
	}
	if len(data) > MaxManagementBody {
		return nil, &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body over %d bytes", MaxManagementBody)}
	}
	return data, nil
}

func decodeBody(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("body: %v", err)}
	}
	return nil
}

func (s *Server) listOrgs(r *http.Request) (int, any, error) {
	orgs, err := s.store.Orgs()
	if err != nil {
		return 0, nil, err
	}
	type envView struct {
		ID       string `json:"id"`
		Revision int64  `json:"revision"`
	}
	type orgView struct {
		ID           string    `json:"id"`
		TTK          string    `json:"ttk"`
		Environments []envView `json:"environments"`
	}
	out := []orgView{}
	for _, o := range orgs {
		v := orgView{ID: o.ID, TTK: o.TTK, Environments: []envView{}}
		for _, e := range o.Environments {
			v.Environments = append(v.Environments, envView{ID: e.ID, Revision: e.Revision})
		}
		out = append(out, v)
	}
	return http.StatusOK, out, nil
}

func (s *Server) createEnv(r *http.Request) (int, any, error) {
	org, env := r.PathValue("org"), r.PathValue("env")
	created, err := s.store.EnsureEnv(org, env)
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, map[string]any{"org": org, "env": env, "created": created}, nil
}

// GatewayView is the management API's view of a gateway.
type GatewayView struct {
	store.Gateway
	Online         bool  `json:"online"`
	LatestRevision int64 `json:"latestRevision"`
}

func (s *Server) listGateways(r *http.Request) (int, any, error) {
	org, env := r.PathValue("org"), r.PathValue("env")
	gws, err := s.store.Gateways(org, env)
	if err != nil {
		return 0, nil, err
	}
	e, err := s.store.GetEnv(org, env)
	if err != nil {
		return 0, nil, err
	}
	out := []GatewayView{}
	for _, g := range gws {
		online := !g.LastSeen.IsZero() && s.now().Sub(g.LastSeen) < OnlineWindow && !g.Revoked
		out = append(out, GatewayView{Gateway: g, Online: online, LatestRevision: e.Revision})
	}
	return http.StatusOK, out, nil
}

// CreateGatewayRequest is the body of POST .../gateways.
type CreateGatewayRequest struct {
	Name         string   `json:"name"`
	AccessPoints []string `json:"accessPoints"`
}

// CreateGatewayResponse is its answer.
type CreateGatewayResponse struct {
	Gateway    GatewayView `json:"gateway"`
	CloudToken string      `json:"cloudToken"`
	LicenseKey string      `json:"licenseKey"`
}

func (s *Server) createGateway(r *http.Request) (int, any, error) {
	var req CreateGatewayRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	inst, err := s.IssueGateway(r.PathValue("org"), r.PathValue("env"), req.Name, req.AccessPoints)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, CreateGatewayResponse{Gateway: GatewayView{Gateway: inst.Gateway}, CloudToken: inst.CloudToken, LicenseKey: inst.LicenseKey}, nil
}

func (s *Server) listTokens(r *http.Request) (int, any, error) {
	toks, err := s.store.Tokens(r.PathValue("org"), r.PathValue("env"))
	return http.StatusOK, toks, err
}

func (s *Server) revokeToken(r *http.Request) (int, any, error) {
	err := s.store.RevokeToken(r.PathValue("org"), r.PathValue("env"), r.PathValue("jti"))
	return http.StatusNoContent, nil, err
}

// APIView is the management API's summary of an API.
type APIView struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	ContextPaths     []string   `json:"contextPaths"`
	Deployed         bool       `json:"deployed"`
	DeployedRevision int64      `json:"deployedRevision"`
	Plans            []PlanView `json:"plans"`
}

// PlanView summarises a plan.
type PlanView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Security string `json:"security"`
}

func apiView(a *store.API) (APIView, error) {
	v := APIView{ID: a.ID, Name: a.Name, Deployed: a.Deployed, DeployedRevision: a.DeployedRevision, ContextPaths: []string{}, Plans: []PlanView{}}
	def, err := a.Parsed()
	if err != nil {
		return v, fmt.Errorf("stored definition of %s: %w", a.ID, err)
	}
	for _, l := range def.Listeners {
		for _, p := range l.Paths {
			v.ContextPaths = append(v.ContextPaths, p.Host+p.Path)
		}
	}
	for _, p := range def.Plans {
		pv := PlanView{ID: p.ID, Name: p.Name}
		if p.Security != nil {
			pv.Security = p.Security.Type
		}
		v.Plans = append(v.Plans, pv)
	}
	return v, nil
}

func (s *Server) listAPIs(r *http.Request) (int, any, error) {
	apis, err := s.store.APIs(r.PathValue("org"), r.PathValue("env"))
	if err != nil {
		return 0, nil, err
	}
	out := []APIView{}
	for i := range apis {
		v, err := apiView(&apis[i])
		if err != nil {
			return 0, nil, err
		}
		out = append(out, v)
	}
	return http.StatusOK, out, nil
}

func (s *Server) importAPI(r *http.Request) (int, any, error) {
	data, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	id, err := s.store.ImportAPI(r.PathValue("org"), r.PathValue("env"), data)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"id": id}, nil
}

func (s *Server) getAPI(r *http.Request) (int, any, error) {
	a, err := s.store.GetAPI(r.PathValue("org"), r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"definition": a.Definition, "deployed": a.Deployed, "deployedRevision": a.DeployedRevision}, nil
}

func (s *Server) deployAPI(r *http.Request) (int, any, error) {
	rev, err := s.store.DeployAPI(r.PathValue("org"), r.PathValue("env"), r.PathValue("id"))
	return http.StatusOK, map[string]int64{"revision": rev}, err
}

func (s *Server) undeployAPI(r *http.Request) (int, any, error) {
	rev, err := s.store.UndeployAPI(r.PathValue("org"), r.PathValue("env"), r.PathValue("id"))
	return http.StatusOK, map[string]int64{"revision": rev}, err
}

// CreateSubscriptionRequest is the body of POST .../apis/{id}/subscriptions.
type CreateSubscriptionRequest struct {
	Plan        string `json:"plan"`
	Application string `json:"application"`
}

func (s *Server) createSubscription(r *http.Request) (int, any, error) {
	var req CreateSubscriptionRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Plan == "" {
		return 0, nil, &httpError{status: http.StatusBadRequest, msg: "plan is required", field: "plan"}
	}
	sub, err := s.store.CreateSubscription(r.PathValue("org"), r.PathValue("env"), r.PathValue("id"), req.Plan, req.Application)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"id": sub.ID, "key": sub.Key, "application": sub.Application}, nil
}

func (s *Server) listSubscriptions(r *http.Request) (int, any, error) {
	subs, err := s.store.Subscriptions(r.PathValue("org"), r.PathValue("env"))
	return http.StatusOK, subs, err
}

var statusActions = map[string]string{"accept": "ACCEPTED", "pause": "PAUSED", "close": "CLOSED", "revoke": "REVOKED"}

func (s *Server) setSubscriptionStatus(r *http.Request) (int, any, error) {
	status, ok := statusActions[r.PathValue("status")]
	if !ok {
		return 0, nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("no subscription action %q: use accept, pause, close or revoke", r.PathValue("status"))}
	}
	err := s.store.SetSubscriptionStatus(r.PathValue("org"), r.PathValue("env"), r.PathValue("id"), status)
	return http.StatusNoContent, nil, err
}

func (s *Server) analyticsCount(r *http.Request) (int, any, error) {
	n, err := s.store.CountRecords(r.PathValue("org"), r.URL.Query().Get("api"))
	return http.StatusOK, map[string]int64{"count": n}, err
}

func parseQuery(r *http.Request) (store.Query, error) {
	q := r.URL.Query()
	out := store.Query{API: q.Get("api"), Gateway: q.Get("gateway")}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"from", &out.From}, {"to", &out.To}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return out, &httpError{status: http.StatusBadRequest, field: f.name, msg: fmt.Sprintf("%s=%q: want Unix milliseconds", f.name, v)}
			}
			*f.dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return out, &httpError{status: http.StatusBadRequest, field: "limit", msg: fmt.Sprintf("limit=%q: want a whole number", v)}
		}
		out.Limit = n
	}
	return out, nil
}

func (s *Server) analyticsRecords(r *http.Request) (int, any, error) {
	q, err := parseQuery(r)
	if err != nil {
		return 0, nil, err
	}
	recs, err := s.store.Records(r.PathValue("org"), q)
	return http.StatusOK, recs, err
}

func (s *Server) analyticsStats(r *http.Request) (int, any, error) {
	q, err := parseQuery(r)
	if err != nil {
		return 0, nil, err
	}
	if q.To == 0 {
		q.To = s.now().UnixMilli() + 1
	}
	if q.From == 0 {
		q.From = q.To - int64(24*time.Hour/time.Millisecond)
	}
	interval, err := parseInterval(r.URL.Query().Get("interval"))
	if err != nil {
		return 0, nil, err
	}
	st, err := s.store.ComputeStats(r.PathValue("org"), q, interval)
	return http.StatusOK, st, err
}

// parseInterval reads milliseconds ("60000") or a Go duration ("1m").
func parseInterval(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &httpError{status: http.StatusBadRequest, field: "interval", msg: fmt.Sprintf("interval=%q: want milliseconds or a duration such as 1m", v)}
	}
	return d.Milliseconds(), nil
}

// KeyringView describes one signing keyring.
type KeyringView struct {
	Active string   `json:"active"`
	KIDs   []string `json:"kids"`
}

func (s *Server) keyring(kind string) (*pki.Keyring, error) {
	switch kind {
	case "token":
		return s.pki.Tokens, nil
	case "license":
		return s.pki.Licenses, nil
	}
	return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("no keyring %q: use token or license", kind)}
}

func (s *Server) listKeys(r *http.Request) (int, any, error) {
	out := map[string]KeyringView{}
	for _, kind := range []string{"token", "license"} {
		k, err := s.keyring(kind)
		if err != nil {
			return 0, nil, err
		}
		active, _ := k.Active()
		out[kind] = KeyringView{Active: active, KIDs: k.KIDs()}
	}
	return http.StatusOK, out, nil
}

// rotateKey makes a new active signing key; older keys keep verifying.
func (s *Server) rotateKey(r *http.Request) (int, any, error) {
	k, err := s.keyring(r.PathValue("kind"))
	if err != nil {
		return 0, nil, err
	}
	kid, err := k.Rotate()
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("rotated signing key", "kind", r.PathValue("kind"), "kid", kid)
	return http.StatusOK, map[string]string{"kid": kid}, nil
}
