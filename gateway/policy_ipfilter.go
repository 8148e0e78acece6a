package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ipFilterConfig is Gravitee's ip-filtering configuration.
type ipFilterConfig struct {
	MatchAllFromXForwardedFor bool     `json:"matchAllFromXForwardedFor,omitempty"`
	WhitelistIPs              []string `json:"whitelistIps,omitempty"`
	BlacklistIPs              []string `json:"blacklistIps,omitempty"`
	LookupIPVersion           string   `json:"lookupIpVersion,omitempty"`
}

type ipFilter struct {
	allow, deny []netip.Prefix
	matchXFF    bool
}

func compileIPFilter(raw []byte) (any, error) {
	var c ipFilterConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	f := &ipFilter{matchXFF: c.MatchAllFromXForwardedFor}
	var err error
	if f.allow, err = parsePrefixes(c.WhitelistIPs, "whitelistIps"); err != nil {
		return nil, err
	}
	if f.deny, err = parsePrefixes(c.BlacklistIPs, "blacklistIps"); err != nil {
		return nil, err
	}
	return f, nil
}

// parsePrefixes reads addresses and CIDR ranges (host names are refused:
// resolving them per request is slow and spoofable).
func parsePrefixes(ss []string, field string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), fmt.Errorf("%q is not an IP address or CIDR range", s))
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (f *ipFilter) onRequest(x *exchange) *failure {
	ip := x.clientIP()
	if !f.admits(ip) {
		return f.refuse(ip)
	}
	if f.matchXFF {
		for _, v := range x.r.Header.Values("X-Forwarded-For") {
			for _, p := range strings.Split(v, ",") {
				if !f.admits(strings.TrimSpace(p)) {
					return f.refuse(ip)
				}
			}
		}
	}
	return nil
}

func (f *ipFilter) admits(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return len(f.allow) == 0 // unparsable: only passes an open filter
	}
	a = a.Unmap()
	if containsAddr(f.deny, a) {
		return false
	}
	return len(f.allow) == 0 || containsAddr(f.allow, a)
}

func (f *ipFilter) refuse(ip string) *failure {
	return &failure{http.StatusForbidden, "IP_FILTERED",
		fmt.Sprintf("Your IP (%s) or one of the proxies your request passed through is not allowed to reach this resource", ip)}
}
