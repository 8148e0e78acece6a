package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

// Where an API key is read, as in Gravitee.
const (
	apiKeyHeader = "X-Gravitee-Api-Key"
	apiKeyQuery  = "api-key"
)

// apiKeyPlan is an "api-key" plan's configuration.
type apiKeyPlan struct {
	PropagateAPIKey bool `json:"propagateApiKey,omitempty"`
}

func compileAPIKeyPlan(raw json.RawMessage) (*apiKeyPlan, error) {
	p := &apiKeyPlan{}
	if err := strictJSON(raw, p); err != nil {
		return nil, err
	}
	return p, nil
}

// authenticate looks for a key in the header, then in the query. No key at
// all: the plan does not handle the request. A present key that is empty,
// unknown, for another plan, not ACCEPTED or outside its validity: 401.
func (p *apiKeyPlan) authenticate(x *exchange, plan *planRuntime) (bool, *failure) {
	key, found, inQuery := findAPIKey(x.r)
	if !found {
		return false, nil
	}
	x.rec.SecurityType = "API_KEY"
	if key == "" {
		return true, errAPIKeyMissing
	}
	s := x.api.keys[key]
	if s == nil || s.plan != plan || !s.validAt(x.startMs) {
		if s == nil || s.plan == plan {
			return true, errAPIKeyInvalid
		}
		return false, nil // the key belongs to another api-key plan of this API
	}
	x.sub = s
	if !p.PropagateAPIKey {
		if inQuery {
			x.rawQuery = dropQueryParam(x.r.URL.RawQuery, apiKeyQuery)
		}
		x.dropHeader = apiKeyHeader
	}
	return true, nil
}

// findAPIKey reads the key from X-Gravitee-Api-Key, else from ?api-key.
func findAPIKey(r *http.Request) (key string, found, inQuery bool) {
	if v, ok := r.Header[apiKeyHeader]; ok && len(v) > 0 {
		return v[0], true, false
	}
	if r.URL.RawQuery == "" {
		return "", false, false
	}
	q := r.URL.Query()
	if v, ok := q[apiKeyQuery]; ok && len(v) > 0 {
		return v[0], true, true
	}
	return "", false, false
}

// validAt reports whether the subscription admits traffic at ms (Unix ms).
func (s *subscription) validAt(ms int64) bool {
	if s.status != wire.SubAccepted {
		return false
	}
	if s.startMs != 0 && ms < s.startMs {
		return false
	}
	return s.endMs == 0 || ms < s.endMs
}

// dropQueryParam removes every name=value pair named name from a raw query,
// keeping the others byte for byte and in order.
func dropQueryParam(raw, name string) string {
	var b strings.Builder
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}
