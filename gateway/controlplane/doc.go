// Package controlplane is the gateway's side of the Cloud Gate: it decides
// what the data plane serves and reports what it served.
//
// # Basics
//
// Run is the whole of `edgegate run` behind the flags: it opens the state
// (persist) under Options.DataDir, resolves the Cloud Token and license (from
// the options, else from the copies kept in the state), serves the last good
// snapshot before it talks to anyone, then keeps the configuration in step
// with the gate (Syncer) or with a directory of definitions (LocalSource),
// spools one analytics record per request (Reporter) and uploads the spool to
// the gate (Uploader). The node API (/_node/health, ready, sync, reports,
// metrics) runs on the admin listener.
//
// # Sync
//
// The Syncer makes one full GET /sync, then long polls with
// ?since=REV&wait=30. Each answer is merged onto the current state (deltas
// upsert and remove), parsed, compiled by the data plane, saved as the
// snapshot and only then swapped in: a payload that fails anywhere is
// rejected, the configuration being served stays, and the next request asks
// for a full answer. Failures back off from 1 s to 30 s with ±20 % jitter
// (Retry-After wins when longer); a refused token (401/403) is logged with the
// gate's message and retried once a minute. The gate is trusted through the
// token's gca pin only: its TLS chain must include the CA certificate whose
// DER SHA-256 the token names (system roots are used only when the token has
// no pin).
//
// # Reports
//
// Record never blocks: records go into a bounded queue (DefaultQueueSize);
// when it is full the record is dropped and counted. A writer commits the
// queue to the spool every 100 ms or 1024 records, one fsync per batch. The
// uploader sends the oldest spooled batch (at most 1000 records) gzip-encoded
// with its batch id as Idempotency-Key and deletes it only after a 2xx
// acknowledgement; the number of records lost so far rides along in the
// batch's dropped field; a failed batch is retried unchanged (same records,
// same key), backing off from 1 s to 10 s with jitter, honouring Retry-After.
// A batch the gate refuses as invalid (400) or too large (413) would never
// succeed: it is retried in halves down to the one record the gate refuses,
// which is discarded and counted as dropped. On shutdown the queue is flushed
// into the spool and, unless the gate is known to be unreachable, one
// bounded upload (3 s) is attempted.
//
// # Caveats
//
// The local mode (--apis-dir) serves API definitions only: it has no
// subscriptions, so API-key plans reject every key.
package controlplane
