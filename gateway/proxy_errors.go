package gateway

import (
	"errors"
	"net"
	"net/http"
)

// statusClientClosed is recorded (never sent) when the client went away
// before the answer, as nginx and Caddy do.
const statusClientClosed = 499

// upstreamFailure is the one place where a failed upstream call becomes a
// client answer: a request body over the limit is 413; a failure to connect
// (refused, unreachable, connect timeout) is 502; a read timeout is 504
// "Request timeout", as Gravitee answers it; anything else is 502.
func upstreamFailure(err error) *failure {
	var de *dialError
	var ne net.Error
	switch {
	case errors.Is(err, errBodyTooLarge):
		return &failure{http.StatusRequestEntityTooLarge, keyBodyTooLarge, "Request Entity Too Large"}
	case errors.As(err, &de):
		return errBadGateway
	case errors.As(err, &ne) && ne.Timeout():
		return errRequestTimeout
	}
	return errBadGateway
}

// retriable reports whether another endpoint may be tried after err; the
// caller only retries idempotent requests without a body, so any transport
// failure qualifies except an oversized body.
func retriable(err error) bool {
	return !errors.Is(err, errBodyTooLarge)
}
