package gateway

import (
	"errors"
	"net/http"
	"strings"
)

// sizeLimit is the request-content-limit policy: bodies over limit get 413,
// bodies of unknown length 411, as in Gravitee.
type sizeLimit struct{ limit int64 }

func compileSizeLimit(raw []byte) (any, error) {
	var c struct {
		Limit int64 `json:"limit"`
	}
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	if c.Limit <= 0 {
		return nil, fieldErr("limit", errors.New("must be a positive number of bytes"))
	}
	return &sizeLimit{limit: c.Limit}, nil
}

var (
	errContentTooLarge   = &failure{http.StatusRequestEntityTooLarge, "REQUEST_CONTENT_LIMIT_TOO_LARGE", "The request is too large"}
	errContentLengthNeed = &failure{http.StatusLengthRequired, "REQUEST_CONTENT_LIMIT_LENGTH_REQUIRED", "The request did not specify the length of its content"}
)

func (p *sizeLimit) onRequest(x *exchange) *failure {
	cl := x.r.ContentLength
	if cl < 0 {
		return errContentLengthNeed
	}
	if cl > p.limit {
		return errContentTooLarge
	}
	x.maxBody = min(x.maxBody, p.limit)
	return nil
}

// mockPolicy answers with a fixed response instead of calling the endpoint.
type mockPolicy struct{ resp directResponse }

func compileMock(raw []byte) (any, error) {
	var c struct {
		Status  int           `json:"status"`
		Headers []headerValue `json:"headers,omitempty"`
		Content string        `json:"content,omitempty"`
	}
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	if c.Status == 0 {
		c.Status = http.StatusOK
	}
	if c.Status < 100 || c.Status > 599 {
		return nil, fieldErr("status", errors.New("must be an HTTP status code"))
	}
	if strings.Contains(c.Content, "{#") {
		return nil, fieldErr("content", errors.New("expressions (Gravitee EL) are not supported"))
	}
	h := http.Header{}
	for _, hv := range c.Headers {
		if hv.Name == "" {
			return nil, fieldErr("headers", errors.New("a header needs a name"))
		}
		h.Add(hv.Name, hv.Value)
	}
	return &mockPolicy{resp: directResponse{status: c.Status, header: h, body: []byte(c.Content)}}, nil
}

func (p *mockPolicy) onRequest(x *exchange) *failure {
	x.direct = &p.resp
	return errDirect
}
