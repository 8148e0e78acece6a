package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/cloudgate/wire"
)

// MaxRequestIDLen bounds a record's requestId.
const MaxRequestIDLen = 256

// Report body errors.
var (
	ErrReportTooLarge = errors.New("report batch too large")
	ErrReportInvalid  = errors.New("invalid report batch")
)

// ReadReportBody reads a /reports body in the given Content-Encoding
// ("gzip", "identity" or "") and returns at most wire.MaxReportBatchBytes
// of decompressed JSON. A larger body — including a small gzip stream that
// inflates beyond the bound — fails with ErrReportTooLarge without being
// inflated further.
func ReadReportBody(body io.Reader, encoding string) ([]byte, error) {
	var rd io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		rd = body
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("%w: body is not gzip (%v)", ErrReportInvalid, err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("%w: Content-Encoding %q; send gzip or identity", ErrReportInvalid, encoding)
	}
	data, err := io.ReadAll(io.LimitReader(rd, wire.MaxReportBatchBytes+1))
	if len(data) > wire.MaxReportBatchBytes {
		return nil, fmt.Errorf("%w: more than %d bytes once decompressed; send smaller batches", ErrReportTooLarge, wire.MaxReportBatchBytes)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrReportTooLarge, mbe.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %v", ErrReportInvalid, err)
	}
	return data, nil
}

// DecodeReportBatch parses and checks a decompressed /reports body. Unknown
// fields are ignored (a newer gateway may send more); every record must have
// a requestId, the key records are deduplicated on.
func DecodeReportBatch(data []byte) (*wire.ReportBatch, error) {
	var b wire.ReportBatch
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: not a JSON report batch: %v", ErrReportInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the batch", ErrReportInvalid)
	}
	if b.Records == nil {
		return nil, fmt.Errorf("%w: \"records\" is missing (send [] for none)", ErrReportInvalid)
	}
	if b.Dropped < 0 {
		return nil, fmt.Errorf("%w: \"dropped\" is negative", ErrReportInvalid)
	}
	for i := range b.Records {
		r := &b.Records[i]
		if r.RequestID == "" || len(r.RequestID) > MaxRequestIDLen {
			return nil, fmt.Errorf("%w: records[%d].requestId must be 1 to %d characters", ErrReportInvalid, i, MaxRequestIDLen)
		}
		if r.Timestamp < 0 {
			return nil, fmt.Errorf("%w: records[%d].timestamp is negative", ErrReportInvalid, i)
		}
	}
	return &b, nil
}

// handleReports serves POST /reports: a gzip JSON wire.ReportBatch stored
// once per batch and once per request id.
func (s *Server) handleReports(w http.ResponseWriter, r *http.Request) {
	c, e := s.authGateway(r)
	if e != nil {
		writeGWError(w, e)
		return
	}
	s.see(r, c)
	b, e := readBatch(w, r)
	if e != nil {
		writeGWError(w, e)
		return
	}
	key := r.Header.Get(wire.HeaderIdempotencyKey)
	switch {
	case key == "" && b.BatchID == "":
		writeGWError(w, gwErr(http.StatusBadRequest, CodeBadRequest, "the batch has no id: send batchId and the %s header", wire.HeaderIdempotencyKey))
		return
	case key != "" && b.BatchID != "" && key != b.BatchID:
		writeGWError(w, gwErr(http.StatusBadRequest, CodeBadRequest, "%s %q differs from batchId %q", wire.HeaderIdempotencyKey, key, b.BatchID))
		return
	case key == "":
		key = b.BatchID
	}
	for i := range b.Records {
		b.Records[i].OrganizationID, b.Records[i].EnvironmentID = c.org, c.env
		stamp(&b.Records[i].GatewayID, c.gatewayID)
	}
	ack, err := s.store.StoreReports(store.Batch{Org: c.org, TTK: c.ttk, Key: key, GatewayID: c.gatewayID, Dropped: b.Dropped, Records: b.Records})
	switch {
	case errors.Is(err, store.ErrInvalid):
		writeGWError(w, gwErr(http.StatusBadRequest, CodeBadRequest, "%v", err))
	case err != nil:
		s.log.Error("store reports", "org", c.org, "err", err)
		writeGWError(w, storeUnavailable(err))
	default:
		writeJSON(w, http.StatusOK, ack)
	}
}

// stamp fills an empty field. Records always carry the org and environment
// the token proves, and the token's gateway when they name none.
func stamp(field *string, v string) {
	if *field == "" {
		*field = v
	}
}

func readBatch(w http.ResponseWriter, r *http.Request) (*wire.ReportBatch, *gwError) {
	body := http.MaxBytesReader(w, r.Body, wire.MaxReportBatchBytes)
	data, err := ReadReportBody(body, r.Header.Get("Content-Encoding"))
	if errors.Is(err, ErrReportTooLarge) {
		return nil, gwErr(http.StatusRequestEntityTooLarge, CodeTooLarge, "%v", err)
	}
	if err != nil {
		return nil, gwErr(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	b, err := DecodeReportBatch(data)
	if err != nil {
		return nil, gwErr(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	return b, nil
}
