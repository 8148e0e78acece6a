// Package wire holds the JSON messages exchanged between a gateway and the
// Cloud Gate on /sync and /reports. Both sides import it so the protocol has
// one definition; docs/protocol.md describes it for other implementations.
//
// # Sync
//
// GET /sync?since=REV&wait=SECONDS with "Authorization: Bearer <Cloud Token>".
// Without since (or since=0) the gate answers at once with the environment's
// full configuration (Full is true). With since=REV it answers with what
// changed after REV (Full false), or, if nothing changed, holds the request
// open up to wait seconds (at most MaxWait) and answers 204 No Content when
// the wait ends with no change. A gate that no longer has the history since
// REV answers with a full configuration instead. Gateways report themselves
// with the Header* request headers so operators see which gateway runs which
// revision.
//
// # Reports
//
// POST /reports with a gzip-compressed ("Content-Encoding: gzip") JSON
// ReportBatch and an "Idempotency-Key" header equal to BatchID. The gate
// stores each record once per RequestID, so resending a batch is always safe,
// and answers with a ReportAck.
package wire

import (
	"encoding/json"

	"github.com/edgegate/edgegate/gateway/analytics"
)

// MaxWait is the longest a /sync long poll is held open, in seconds.
const MaxWait = 55

// Request headers a gateway sends on /sync and /reports.
const (
	HeaderGatewayID       = "X-Edgegate-Gateway-Id"
	HeaderGatewayVersion  = "X-Edgegate-Version"
	HeaderGatewayHostname = "X-Edgegate-Hostname"
	HeaderRevision        = "X-Edgegate-Revision" // the revision the gateway serves
	HeaderSpooled         = "X-Edgegate-Spooled"  // report records waiting in its spool
	HeaderIdempotencyKey  = "Idempotency-Key"
)

// SyncResponse is the body of a 200 answer to GET /sync.
type SyncResponse struct {
	// Revision is the environment's configuration revision this answer brings
	// the gateway to. Revisions only grow.
	Revision int64 `json:"revision"`
	// Full is true when APIs and Subscriptions are the complete configuration
	// (anything the gateway holds that is not listed must go); false when
	// they are changes since the requested revision.
	Full bool `json:"full"`
	// Organization and Environment the token is bound to.
	Organization string `json:"organization"`
	Environment  string `json:"environment"`
	// APIs deployed (full) or deployed/redeployed since (delta), as Gravitee
	// v4 definitions.
	APIs []json.RawMessage `json:"apis"`
	// RemovedAPIs are ids undeployed since the requested revision (delta only).
	RemovedAPIs []string `json:"removedApis,omitempty"`
	// Subscriptions to the environment's API-key and other plans, with keys.
	Subscriptions []Subscription `json:"subscriptions"`
	// RemovedSubscriptions are ids deleted since (delta only). A revoked or
	// paused subscription is sent with its new status instead.
	RemovedSubscriptions []string `json:"removedSubscriptions,omitempty"`
	// ServerTime lets a gateway without a clock (an appliance before NTP)
	// judge expiry; Unix milliseconds.
	ServerTime int64 `json:"serverTime"`
}

// Subscription binds an application to a plan of an API; for API-key plans
// it carries the key.
type Subscription struct {
	ID              string `json:"id"`
	API             string `json:"api"`
	Plan            string `json:"plan"`
	Application     string `json:"application"`
	ApplicationName string `json:"applicationName,omitempty"`
	ClientID        string `json:"clientId,omitempty"`
	Key             string `json:"key,omitempty"`
	// Status is ACCEPTED, PAUSED, CLOSED or REVOKED; only ACCEPTED admits traffic.
	Status string `json:"status"`
	// StartingAt and EndingAt bound the validity, Unix milliseconds; 0 = open.
	StartingAt int64 `json:"startingAt,omitempty"`
	EndingAt   int64 `json:"endingAt,omitempty"`
}

// Subscription statuses.
const (
	SubAccepted = "ACCEPTED"
	SubPaused   = "PAUSED"
	SubClosed   = "CLOSED"
	SubRevoked  = "REVOKED"
)

// ReportBatch is the body of POST /reports (gzip-compressed JSON).
type ReportBatch struct {
	BatchID   string `json:"batchId"`
	GatewayID string `json:"gatewayId"`
	// Dropped counts records the gateway had to discard (spool full) since
	// its last acknowledged batch, so the gate can show the gap.
	Dropped int64              `json:"dropped,omitempty"`
	Records []analytics.Record `json:"records"`
}

// MaxReportBatchBytes bounds a decompressed /reports body (16 MiB).
const MaxReportBatchBytes = 16 << 20

// ReportAck is the answer to a stored batch.
type ReportAck struct {
	Accepted   int `json:"accepted"`   // records stored now
	Duplicates int `json:"duplicates"` // records already stored before
}

// Error is the JSON body of every 4xx/5xx answer from the gate.
type Error struct {
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}
