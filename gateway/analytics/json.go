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
//
// Each field's separator, quoted name and colon (and a string's opening
// quote) are one constant appended in one go, and strings without bytes to
// escape (the usual case) are copied whole.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, r.Timestamp, 10)
	dst = appendString(dst, `,"requestId":"`, r.RequestID)
	dst = appendString(dst, `,"transactionId":"`, r.TransactionID)
	dst = appendOmitEmpty(dst, `,"apiId":"`, r.APIID)
	dst = appendOmitEmpty(dst, `,"apiName":"`, r.APIName)
	dst = appendOmitEmpty(dst, `,"planId":"`, r.PlanID)
	dst = appendOmitEmpty(dst, `,"applicationId":"`, r.ApplicationID)
	dst = appendOmitEmpty(dst, `,"subscriptionId":"`, r.SubscriptionID)
	dst = appendOmitEmpty(dst, `,"clientIdentifier":"`, r.ClientIdentifier)
	dst = appendOmitEmpty(dst, `,"organizationId":"`, r.OrganizationID)
	dst = appendOmitEmpty(dst, `,"environmentId":"`, r.EnvironmentID)
	dst = appendOmitEmpty(dst, `,"gateway":"`, r.GatewayID)
	dst = appendString(dst, `,"httpMethod":"`, r.HTTPMethod)
	dst = appendOmitEmpty(dst, `,"localAddress":"`, r.LocalAddress)
	dst = appendOmitEmpty(dst, `,"remoteAddress":"`, r.RemoteAddress)
	dst = appendOmitEmpty(dst, `,"host":"`, r.Host)
	dst = appendString(dst, `,"uri":"`, r.URI)
	dst = appendOmitEmpty(dst, `,"pathInfo":"`, r.PathInfo)
	dst = appendOmitEmpty(dst, `,"mappedPath":"`, r.MappedPath)
	dst = appendOmitEmpty(dst, `,"userAgent":"`, r.UserAgent)
	dst = appendInt(dst, `,"requestContentLength":`, r.RequestContentLength)
	dst = appendOmitEmpty(dst, `,"endpoint":"`, r.Endpoint)
	dst = appendInt(dst, `,"endpointResponseTimeMs":`, r.EndpointResponseTimeMs)
	dst = appendInt(dst, `,"status":`, int64(r.Status))
	dst = appendInt(dst, `,"responseContentLength":`, r.ResponseContentLength)
	dst = appendInt(dst, `,"gatewayResponseTimeMs":`, r.GatewayResponseTimeMs)
	dst = appendInt(dst, `,"gatewayLatencyMs":`, r.GatewayLatencyMs)
	dst = appendOmitEmpty(dst, `,"securityType":"`, r.SecurityType)
	dst = appendOmitEmpty(dst, `,"securityToken":"`, r.SecurityToken)
	dst = appendOmitEmpty(dst, `,"errorKey":"`, r.ErrorKey)
	dst = appendOmitEmpty(dst, `,"errorMessage":"`, r.ErrorMessage)
	return append(dst, '}')
}

// appendInt appends prefix (separator, quoted name and colon) and v.
func appendInt(dst []byte, prefix string, v int64) []byte {
	dst = append(dst, prefix...)
	return strconv.AppendInt(dst, v, 10)
}

// appendOmitEmpty is appendString for an omitempty field: nothing when v
// is empty.
func appendOmitEmpty(dst []byte, prefix, v string) []byte {
	if v == "" {
		return dst
	}
	return appendString(dst, prefix, v)
}

// appendString appends prefix (separator, quoted name, colon and opening
// quote) and v quoted as a JSON string body with its closing quote.
func appendString(dst []byte, prefix, v string) []byte {
	dst = append(dst, prefix...)
	i := safePrefix(v)
	dst = append(dst, v[:i]...)
	if i < len(v) {
		dst = appendEscaped(dst, v, i)
	}
	return append(dst, '"')
}

// safePrefix returns the length of the longest prefix of s that needs no
// escaping and is ASCII: eight bytes at a time while it can.
func safePrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		if !safeWord(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56) {
			break
		}
	}
	for ; i < len(s) && safeASCII[s[i]]; i++ {
	}
	return i
}

// SWAR (SIMD within a register) constants for safeWord.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// safeWord reports whether none of the eight bytes in w needs escaping or
// is non-ASCII: no byte below 0x20 or with its top bit set, none equal to
// '"', '\\', '<', '>' or '&'. hasZero(x) is non-zero exactly when x has
// a zero byte, and the "below 0x20" test exactly when a byte is below 0x20
// (bytes with the top bit set are caught by the first test): the answer is
// exact, only the positions of the marked bits are not. '<' (0x3c) and '>'
// (0x3e) differ in one bit, as do '"' (0x22) and '&' (0x26), so setting
// that bit tests two of them at once.
func safeWord(w uint64) bool {
	bad := w & msb                   // non-ASCII
	bad |= (w - 0x20*lsb) &^ w & msb // a byte below 0x20
	bad |= hasZero((w | 0x04*lsb) ^ '&'*lsb)
	bad |= hasZero((w | 0x02*lsb) ^ '>'*lsb)
	bad |= hasZero(w ^ '\\'*lsb)
	return bad == 0
}

// hasZero is non-zero when a byte of x is zero.
func hasZero(x uint64) uint64 { return (x - lsb) &^ x & msb }

// safeASCII says which bytes are copied as they are: ASCII, not a control
// character, and none of '"', '\\', '<', '>', '&' (encoding/json's
// HTML-safe set).
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendEscaped appends s[i:], whose first byte needs escaping or is not
// ASCII, with encoding/json's escaping: control characters, quote and
// backslash, and (HTML-safe) <, > and &; invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped.
func appendEscaped(dst []byte, s string, i int) []byte {
	last := i // s[last:i] is pending, to be copied as is
	for i < len(s) {
		c := s[i]
		if safeASCII[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
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
	return append(dst, s[last:]...)
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
