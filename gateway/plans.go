package gateway

import (
	"fmt"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// planRuntime is a compiled plan: its security and its flows.
type planRuntime struct {
	id, name string
	security string
	flows    []*flow
	apiKey   *apiKeyPlan
	jwt      *jwtPlan
	mtls     *mtlsPlan
}

// compilePlans keeps the plans that serve traffic (published or deprecated;
// an empty status counts as published), token plans before key-less ones,
// as Gravitee resolves them.
func compilePlans(env *compileEnv, plans []apidef.Plan) error {
	var token, keyless []*planRuntime
	for i, p := range plans {
		f := fmt.Sprintf("plans[%d]", i)
		switch p.Status {
		case "", apidef.PlanPublished, apidef.PlanDeprecated:
		default:
			continue
		}
		pr := &planRuntime{id: p.ID, name: p.Name, security: p.Security.Type}
		if err := compileSecurity(env, pr, p.Security, f+".security"); err != nil {
			return err
		}
		flows, err := compileFlows(env, p.Flows, f+".flows")
		if err != nil {
			return err
		}
		pr.flows = flows
		if pr.security == apidef.SecurityKeyless {
			keyless = append(keyless, pr)
		} else {
			token = append(token, pr)
		}
	}
	env.api.plans = append(token, keyless...)
	return nil
}

func compileSecurity(env *compileEnv, pr *planRuntime, s *apidef.Security, field string) error {
	switch s.Type {
	case apidef.SecurityKeyless:
		var cfg struct{}
		if err := strictJSON(s.Configuration, &cfg); err != nil {
			return fieldErr(field+".configuration", err)
		}
	case apidef.SecurityAPIKey:
		p, err := compileAPIKeyPlan(s.Configuration)
		if err != nil {
			return fieldErr(field+".configuration", err)
		}
		pr.apiKey = p
	case apidef.SecurityJWT:
		p, err := compileJWTPlan(env, s.Configuration)
		if err != nil {
			return fieldErr(field+".configuration", err)
		}
		pr.jwt = p
	case apidef.SecurityMTLS:
		p, err := compileMTLSPlan(s.Configuration)
		if err != nil {
			return fieldErr(field+".configuration", err)
		}
		pr.mtls = p
	default:
		return fieldErr(field+".type", fmt.Errorf("%q plans are not supported by edgegate; use key-less, api-key, jwt or mtls", s.Type))
	}
	return nil
}

// resolvePlan picks the plan for x the way Gravitee's security chain does:
// the first token plan that finds its token in the request handles it (and
// may refuse it); without any token, a key-less plan; otherwise 401
// GATEWAY_PLAN_UNRESOLVABLE.
func resolvePlan(x *exchange) *failure {
	a := x.api
	for _, p := range a.plans {
		var f *failure
		var handled bool
		switch p.security {
		case apidef.SecurityKeyless:
			x.plan = p
			return nil
		case apidef.SecurityAPIKey:
			handled, f = p.apiKey.authenticate(x, p)
		case apidef.SecurityJWT:
			handled, f = p.jwt.authenticate(x, p)
		case apidef.SecurityMTLS:
			handled, f = p.mtls.authenticate(x, p)
		}
		if handled {
			if f == nil {
				x.plan = p
			}
			return f
		}
	}
	return errPlanUnresolvable
}
