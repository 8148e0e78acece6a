package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// requestPolicy runs in the request phase. It returns nil to go on, or a
// failure that ends the request; errDirect means it set x.direct (a mock, a
// cached answer, a CORS preflight) which is sent instead of proxying.
type requestPolicy interface {
	onRequest(x *exchange) *failure
}

// responsePolicy runs in the response phase on the status and headers the
// client will get, before anything is written.
type responsePolicy interface {
	onResponse(x *exchange, status int, h http.Header)
}

// errDirect is returned by request policies that answered themselves.
var errDirect = &failure{status: 0, key: "DIRECT"}

// directResponse is an answer produced by a policy instead of the endpoint.
type directResponse struct {
	status int
	header http.Header
	body   []byte
}

// compileSteps compiles a flow's request or response steps. A policy's
// configuration is parsed strictly here, once.
func compileSteps(env *compileEnv, steps []apidef.Step, field string, request bool) ([]requestPolicy, []responsePolicy, error) {
	var reqs []requestPolicy
	var resps []responsePolicy
	for i, s := range steps {
		sf := fmt.Sprintf("%s[%d]", field, i)
		if !s.IsEnabled() {
			continue
		}
		if strings.TrimSpace(s.Condition) != "" {
			return nil, nil, fieldErr(sf+".condition", errors.New("step conditions (Gravitee EL) are not supported by edgegate"))
		}
		env.field = sf
		p, err := compilePolicy(env, s.Policy, s.Configuration, request)
		if err != nil {
			return nil, nil, fieldErr(sf+".configuration", err)
		}
		if p == nil {
			return nil, nil, fieldErr(sf+".policy", fmt.Errorf("%q is not a policy edgegate knows (%s)", s.Policy, strings.Join(knownPolicies, ", ")))
		}
		rq, isReq := p.(requestPolicy)
		rs, isResp := p.(responsePolicy)
		switch {
		case request && isReq && isResp: // cors: answers preflights, decorates answers
			reqs, resps = append(reqs, rq), append(resps, rs)
		case request && isReq:
			reqs = append(reqs, rq)
		case isResp: // e.g. transform-headers with scope RESPONSE in a request step
			resps = append(resps, rs)
		case request:
			return nil, nil, fieldErr(sf+".policy", fmt.Errorf("%q does not run in the request phase", s.Policy))
		default:
			return nil, nil, fieldErr(sf+".policy", fmt.Errorf("%q does not run in the response phase", s.Policy))
		}
	}
	return reqs, resps, nil
}

// knownPolicies lists the policy ids compilePolicy accepts, for messages.
var knownPolicies = []string{
	"rate-limit", "quota", "spike-arrest", "ip-filtering", "transform-headers",
	"cors", "request-content-limit", "json-validation", "mock", "cache",
}

// compilePolicy returns the compiled policy, or nil for an unknown id.
// request says which phase the step is in (some policies differ).
func compilePolicy(env *compileEnv, id string, raw json.RawMessage, request bool) (any, error) {
	switch id {
	case "rate-limit":
		return compileRateLimit(env, raw)
	case "quota":
		return compileQuota(env, raw)
	case "spike-arrest":
		return compileSpikeArrest(env, raw)
	case "ip-filtering":
		return compileIPFilter(raw)
	case "transform-headers":
		return compileTransformHeaders(raw, request)
	case "cors":
		return compileCORSPolicy(raw)
	case "request-content-limit":
		return compileSizeLimit(raw)
	case "json-validation":
		return compileJSONValidation(raw)
	case "mock":
		return compileMock(raw)
	case "cache":
		return compileCache(env, raw)
	}
	return nil, nil
}
