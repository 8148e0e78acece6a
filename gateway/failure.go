package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// failure is a refusal answered the way Gravitee answers an execution
// failure: a status, an error key (recorded in analytics) and a message.
type failure struct {
	status  int
	key     string
	message string
}

// Error keys and messages shared by several parts of the pipeline.
const (
	keyPlanUnresolvable = "GATEWAY_PLAN_UNRESOLVABLE"
	keyAPIKeyMissing    = "API_KEY_MISSING"
	keyAPIKeyInvalid    = "API_KEY_INVALID"
	keyBlocked          = "GATEWAY_LICENSE_INVALID"
	keyRequestTimeout   = "REQUEST_TIMEOUT"
	keyBadGateway       = "GATEWAY_CLIENT_CONNECTION_ERROR"
	keyNoEndpoint       = "NO_ENDPOINT_FOUND"
	keyBodyTooLarge     = "REQUEST_CONTENT_LIMIT_TOO_LARGE"
	msgUnauthorized     = "Unauthorized"
	msgNotFound         = "No context-path matches the request URI."
)

var (
	errPlanUnresolvable = &failure{http.StatusUnauthorized, keyPlanUnresolvable, msgUnauthorized}
	errAPIKeyMissing    = &failure{http.StatusUnauthorized, keyAPIKeyMissing, msgUnauthorized}
	errAPIKeyInvalid    = &failure{http.StatusUnauthorized, keyAPIKeyInvalid, msgUnauthorized}
	errRequestTimeout   = &failure{http.StatusGatewayTimeout, keyRequestTimeout, "Request timeout"}
	errBadGateway       = &failure{http.StatusBadGateway, keyBadGateway, "Bad Gateway"}
	errNoEndpoint       = &failure{http.StatusServiceUnavailable, keyNoEndpoint, "No endpoint available"}
)

// acceptsJSON is Gravitee's rule for error bodies: JSON when an Accept header
// contains application/json or */*.
func acceptsJSON(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		if strings.Contains(v, "application/json") || strings.Contains(v, "*/*") {
			return true
		}
	}
	return false
}

// writeFailure answers f. Server-side failures (not 4xx) close an HTTP/1
// connection, as Gravitee does.
func writeFailure(w http.ResponseWriter, r *http.Request, f *failure) int64 {
	h := w.Header()
	if f.status/100 != 4 && r.ProtoMajor == 1 {
		h.Set("Connection", "close")
	}
	var body []byte
	if acceptsJSON(r.Header) {
		h.Set("Content-Type", "application/json")
		body = failureJSON(f.message, f.status)
	} else {
		h.Set("Content-Type", "text/plain")
		body = []byte(f.message)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.status)
	if r.Method == http.MethodHead {
		return 0
	}
	n, _ := w.Write(body) // a client gone away is not the gateway's error
	return int64(n)
}

// failureJSON renders {"message":...,"http_status_code":N}.
func failureJSON(msg string, status int) []byte {
	b := make([]byte, 0, len(msg)+48)
	b = append(b, `{"message":`...)
	q, err := json.Marshal(msg)
	if err != nil { // a string always marshals; keep the JSON valid regardless
		q = []byte(`""`)
	}
	b = append(b, q...)
	b = append(b, `,"http_status_code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}')
}

// writeNotFound answers a request no API matches: text/plain like Gravitee,
// JSON only when the client's Accept explicitly names application/json.
func writeNotFound(w http.ResponseWriter, r *http.Request) int64 {
	var body []byte
	h := w.Header()
	if strings.Contains(firstValue(r.Header, "Accept"), "application/json") {
		h.Set("Content-Type", "application/json")
		body = failureJSON(msgNotFound, http.StatusNotFound)
	} else {
		h.Set("Content-Type", "text/plain")
		body = []byte(msgNotFound)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusNotFound)
	if r.Method == http.MethodHead {
		return 0
	}
	n, _ := w.Write(body) // client errors are not ours to report
	return int64(n)
}
