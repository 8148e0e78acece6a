package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgegate/edgegate/gateway/apidef"
)

// flow is a compiled flow: an http selector and its policy steps.
type flow struct {
	name     string   // for path mappings: the pattern recorded as mappedPath
	segments []string // selector path split on "/"; ":name" matches any segment
	equals   bool     // pathOperator EQUALS (default STARTS_WITH)
	methods  methodSet
	req      []requestPolicy
	resp     []responsePolicy
}

// methodSet is a bit set of HTTP methods; zero means every method.
type methodSet uint16

var methodBits = map[string]methodSet{
	http.MethodGet: 1, http.MethodPost: 2, http.MethodPut: 4, http.MethodDelete: 8,
	http.MethodPatch: 16, http.MethodHead: 32, http.MethodOptions: 64,
	http.MethodTrace: 128, http.MethodConnect: 256, "OTHER": 512,
}

func methodBit(m string) methodSet {
	if b, ok := methodBits[m]; ok {
		return b
	}
	return methodBits["OTHER"]
}

func compileFlows(env *compileEnv, fs []apidef.Flow, field string) ([]*flow, error) {
	var out []*flow
	for i, f := range fs {
		ff := fmt.Sprintf("%s[%d]", field, i)
		if !f.IsEnabled() {
			continue
		}
		fl := &flow{}
		for j, s := range f.Selectors {
			sf := fmt.Sprintf("%s.selectors[%d]", ff, j)
			switch s.Type {
			case "http":
				fl.segments = splitPath(s.Path)
				fl.equals = s.PathOperator == apidef.OpEquals
				for _, m := range s.Methods {
					if _, ok := methodBits[strings.ToUpper(m)]; !ok {
						return nil, fieldErr(sf+".methods", fmt.Errorf("%q is not an HTTP method", m))
					}
					fl.methods |= methodBit(strings.ToUpper(m))
				}
			case "condition":
				if strings.TrimSpace(s.Condition) != "" {
					return nil, fieldErr(sf+".condition", errors.New("condition selectors (Gravitee EL) are not supported by edgegate"))
				}
			default:
				return nil, fieldErr(sf+".type", fmt.Errorf("%q selectors are not supported; use http", s.Type))
			}
		}
		var err error
		if fl.req, fl.resp, err = compileSteps(env, f.Request, ff+".request", true); err != nil {
			return nil, err
		}
		req2, resp2, err := compileSteps(env, f.Response, ff+".response", false)
		if err != nil {
			return nil, err
		}
		fl.req, fl.resp = append(fl.req, req2...), append(fl.resp, resp2...)
		out = append(out, fl)
	}
	return out, nil
}

// splitPath turns "/a/:id/" into ["a", ":id"].
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match reports whether the flow applies, and how specific the match is
// (the number of selector segments, literal ones counting double).
func (f *flow) match(method, pathInfo string) (int, bool) {
	if f.methods != 0 && f.methods&methodBit(method) == 0 {
		return 0, false
	}
	score := 0
	rest := strings.TrimPrefix(pathInfo, "/")
	for _, seg := range f.segments {
		if rest == "" {
			return 0, false
		}
		part := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		switch {
		case seg[0] == ':':
			score++
		case seg == part:
			score += 2
		default:
			return 0, false
		}
	}
	if f.equals && strings.Trim(rest, "/") != "" {
		return 0, false
	}
	return score, true
}

// selectFlows appends the flows of fs that apply: all of them in default
// mode, the most specific one in best-match mode.
func selectFlows(dst []*flow, fs []*flow, bestMatch bool, method, pathInfo string) []*flow {
	if !bestMatch {
		for _, f := range fs {
			if _, ok := f.match(method, pathInfo); ok {
				dst = append(dst, f)
			}
		}
		return dst
	}
	var best *flow
	bestScore := -1
	for _, f := range fs {
		if s, ok := f.match(method, pathInfo); ok && s > bestScore {
			best, bestScore = f, s
		}
	}
	if best != nil {
		dst = append(dst, best)
	}
	return dst
}
