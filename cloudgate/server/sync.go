package server

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/store"
	"github.com/edgegate/edgegate/cloudgate/wire"
)

// syncParams are the query parameters of GET /sync.
type syncParams struct {
	since int64
	wait  time.Duration
}

func parseSyncParams(r *http.Request) (syncParams, *gwError) {
	var p syncParams
	q := r.URL.Query()
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, gwErr(http.StatusBadRequest, CodeBadRequest, "since=%q: want the revision the gateway holds, a whole number ≥ 0", v)
		}
		p.since = n
	}
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, gwErr(http.StatusBadRequest, CodeBadRequest, "wait=%q: want seconds, a whole number from 0 to %d", v, wire.MaxWait)
		}
		p.wait = time.Duration(min(n, wire.MaxWait)) * time.Second
	}
	return p, nil
}

// handleSync serves GET /sync: the full configuration, the changes since a
// revision, or — when nothing changed — a long poll that ends with the next
// change or 204 after wait.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	c, e := s.authGateway(r)
	if e != nil {
		writeGWError(w, e)
		return
	}
	p, e := parseSyncParams(r)
	if e != nil {
		writeGWError(w, e)
		return
	}
	s.see(r, c)
	resp, e := s.waitSync(r, c, p)
	if e != nil {
		writeGWError(w, e)
		return
	}
	if resp == nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	resp.ServerTime = s.now().UnixMilli()
	if err := writeSync(w, r, resp); err != nil {
		s.log.Warn("write sync answer", "org", c.org, "env", c.env, "err", err)
	}
}

// gzipSyncOver is the answer size above which /sync is gzip-compressed for
// clients that accept it (a full configuration with many keys compresses
// about tenfold).
const gzipSyncOver = 8 << 10

// writeSync sends a 200 /sync answer, gzip-compressed when large and the
// client sent "Accept-Encoding: gzip".
func writeSync(w http.ResponseWriter, r *http.Request, resp *wire.SyncResponse) error {
	data, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if len(data) <= gzipSyncOver || !acceptsGzip(r) {
		w.WriteHeader(http.StatusOK)
		_, err = w.Write(data)
		return err
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// waitSync returns the answer, or nil for "no change before the wait ended".
func (s *Server) waitSync(r *http.Request, c *caller, p syncParams) (*wire.SyncResponse, *gwError) {
	timer := time.NewTimer(p.wait)
	defer timer.Stop()
	held := false
	defer func() {
		if held {
			s.waiting.Add(-1)
		}
	}()
	for {
		// Watch before reading, so a change in between wakes us.
		changed := s.store.Watch(c.org, c.env)
		resp, err := s.store.Sync(c.org, c.env, p.since)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, gwErr(http.StatusForbidden, CodeForbidden, "%v", err)
		case err != nil:
			return nil, storeUnavailable(err)
		case resp != nil || p.wait == 0:
			return resp, nil
		}
		// A revocation does not change the revision; it wakes watchers.
		// Checking after Watch means one committed before it is seen here
		// and one committed after it closes changed.
		if e := s.checkIssued(c.token); e != nil {
			return nil, e
		}
		if !held {
			if s.waiting.Add(1) > int64(s.opts.MaxWaiters) {
				s.waiting.Add(-1)
				return nil, gwErr(http.StatusServiceUnavailable, CodeUnavailable, "the gate already holds %d long polls; retry later", s.opts.MaxWaiters)
			}
			held = true
		}
		select {
		case <-changed:
			// A change, or a revocation: the loop looks again.
		case <-timer.C:
			return nil, nil
		case <-s.stopping:
			return nil, nil
		case <-r.Context().Done():
			return nil, nil
		}
	}
}
