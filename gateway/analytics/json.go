package analytics

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends r as JSON to dst and returns the extended buffer. The
// output is byte for byte what encoding/json's Marshal produces for a
// Record (same field order, omitempty rules and string escaping), without
// reflection and without allocating beyond dst's growth: it is meant for
// the per-request path (the report spool). A test holds it equal to
// Marshal for every field.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, r.Timestamp, 10)
	dst = appendField(dst, "requestId", r.RequestID, false)
	dst = appendField(dst, "transactionId", r.TransactionID, false)
	dst = appendField(dst, "apiId", r.APIID, true)
	dst = appendField(dst, "apiName", r.APIName, true)
	dst = appendField(dst, "planId", r.PlanID, true)
	dst = appendField(dst, "applicationId", r.ApplicationID, true)
	dst = appendField(dst, "subscriptionId", r.SubscriptionID, true)
	dst = appendField(dst, "clientIdentifier", r.ClientIdentifier, true)
	dst = appendField(dst, "organizationId", r.OrganizationID, true)
	dst = appendField(dst, "environmentId", r.EnvironmentID, true)
	dst = appendField(dst, "gateway", r.GatewayID, true)
	dst = appendField(dst, "httpMethod", r.HTTPMethod, false)
	dst = appendField(dst, "localAddress", r.LocalAddress, true)
	dst = appendField(dst, "remoteAddress", r.RemoteAddress, true)
	dst = appendField(dst, "host", r.Host, true)
	dst = appendField(dst, "uri", r.URI, false)
	dst = appendField(dst, "pathInfo", r.PathInfo, true)
	dst = appendField(dst, "mappedPath", r.MappedPath, true)
	dst = appendField(dst, "userAgent", r.UserAgent, true)
	dst = appendInt(dst, "requestContentLength", r.RequestContentLength)
	dst = appendField(dst, "endpoint", r.Endpoint, true)
	dst = appendInt(dst, "endpointResponseTimeMs", r.EndpointResponseTimeMs)
	dst = appendInt(dst, "status", int64(r.Status))
	dst = appendInt(dst, "responseContentLength", r.ResponseContentLength)
	dst = appendInt(dst, "gatewayResponseTimeMs", r.GatewayResponseTimeMs)
	dst = appendInt(dst, "gatewayLatencyMs", r.GatewayLatencyMs)
	dst = appendField(dst, "securityType", r.SecurityType, true)
	dst = appendField(dst, "securityToken", r.SecurityToken, true)
	dst = appendField(dst, "errorKey", r.ErrorKey, true)
	dst = appendField(dst, "errorMessage", r.ErrorMessage, true)
	return append(dst, '}')
}

func appendInt(dst []byte, name string, v int64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

func appendField(dst []byte, name, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendJSONString(dst, v)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s with encoding/json's escaping: control
// characters, quote and backslash, and (HTML-safe) <, > and &; invalid
// UTF-8 becomes U+FFFD; U+2028 and U+2029 are escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	last := 0 // s[last:i] is pending, to be copied as is
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[last:i]...)
			dst = appendEscapedByte(dst, c)
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[last:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[last:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		last = i
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}

func appendEscapedByte(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
