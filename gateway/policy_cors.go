package gateway

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// corsPolicy is the listener's CORS configuration (Gravitee v4 keeps CORS
// on the listener; the "cors" policy takes the same fields in a flow).
type corsPolicy struct {
	anyOrigin     bool
	origins       []*regexp.Regexp
	methods       string
	headers       string
	expose        string
	credentials   bool
	maxAge        string
	methodAllowed map[string]bool
}

// corsConfig is the "cors" policy's configuration: the listener's fields.
type corsConfig struct {
	apidef.CORS
}

func compileListenerCORS(c *apidef.CORS) (*corsPolicy, error) {
	p := &corsPolicy{credentials: c.AllowCredentials, methodAllowed: map[string]bool{}}
	for _, o := range c.AllowOrigin {
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		re, err := regexp.Compile("^(?:" + o + ")$")
		if err != nil {
			return nil, fieldErr("allowOrigin", errors.New("\""+o+"\" is not a valid origin pattern"))
		}
		p.origins = append(p.origins, re)
	}
	for _, m := range c.AllowMethods {
		p.methodAllowed[strings.ToUpper(m)] = true
	}
	p.methods = strings.Join(c.AllowMethods, ", ")
	p.headers = strings.Join(c.AllowHeaders, ", ")
	p.expose = strings.Join(c.ExposeHeaders, ", ")
	if c.MaxAge > 0 {
		p.maxAge = strconv.Itoa(c.MaxAge)
	}
	return p, nil
}

func compileCORSPolicy(raw []byte) (any, error) {
	var c corsConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	return compileListenerCORS(&c.CORS)
}

func (p *corsPolicy) originAllowed(o string) bool {
	if p.anyOrigin {
		return true
	}
	for _, re := range p.origins {
		if re.MatchString(o) {
			return true
		}
	}
	return false
}

var errCORSPreflight = &failure{http.StatusBadRequest, "CORS_PREFLIGHT_FAILED", "CORS preflight request rejected"}

// preflight handles an OPTIONS preflight: it sets x.direct to the answer,
// or returns the failure for a refused one. handled is false for any other
// request.
func (p *corsPolicy) preflight(x *exchange) (handled bool, f *failure) {
	r := x.r
	origin := firstValue(r.Header, "Origin")
	reqMethod := firstValue(r.Header, "Access-Control-Request-Method")
	if r.Method != http.MethodOptions || origin == "" || reqMethod == "" {
		return false, nil
	}
	if !p.originAllowed(origin) || (len(p.methodAllowed) > 0 && !p.methodAllowed[strings.ToUpper(reqMethod)]) {
		return true, errCORSPreflight
	}
	h := http.Header{}
	if p.methods != "" {
		h.Set("Access-Control-Allow-Methods", p.methods)
	}
	if p.headers != "" {
		h.Set("Access-Control-Allow-Headers", p.headers)
	}
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
	x.direct = &directResponse{status: http.StatusOK, header: h}
	return true, nil
}

func (p *corsPolicy) allowOrigin(h http.Header, origin string) {
	if p.anyOrigin && !p.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// decorate adds the CORS headers to an actual (not preflight) answer.
func (p *corsPolicy) decorate(x *exchange, h http.Header) {
	origin := firstValue(x.r.Header, "Origin")
	if origin == "" || !p.originAllowed(origin) {
		return
	}
	p.allowOrigin(h, origin)
	if p.expose != "" {
		h.Set("Access-Control-Expose-Headers", p.expose)
	}
}

// onRequest lets the cors policy answer preflights from a flow.
func (p *corsPolicy) onRequest(x *exchange) *failure {
	if handled, f := p.preflight(x); handled {
		if f != nil {
			return f
		}
		return errDirect
	}
	return nil
}

// onResponse decorates the answer when the cors policy is in a flow.
func (p *corsPolicy) onResponse(x *exchange, status int, h http.Header) { p.decorate(x, h) }
