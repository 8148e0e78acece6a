package controlplane

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReportsStatus is the JSON of GET /_node/reports.
type ReportsStatus struct {
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
	// Dropped counts every record lost: queue full, spool write failed
	// (disk full) or refused by the gate since start, plus what the spool dropped at its bound
	// since the state file was created.
	Dropped      int64 `json:"dropped"`
	QueueDropped int64 `json:"queueDropped"`
	SpoolFailed  int64 `json:"spoolFailed"`
	SpoolDropped int64 `json:"spoolDropped"`
	Rejected     int64 `json:"rejected"` // refused by the gate as invalid
	UploadErrors int64 `json:"uploadErrors"`
	Requests     int64 `json:"requests"`
	Uploading    bool  `json:"uploading"`
}

// nodeAPI serves /_node/* on the admin listener.
type nodeAPI struct {
	ready   func() bool
	status  *status
	rep     *Reporter
	up      *Uploader // nil when there is no gate to upload to
	metrics http.Handler
	// provisioningDir is where the appliance's provisioning watcher writes
	// ProvisioningErrorFile when a stick's files were refused.
	provisioningDir string
}

// ProvisioningErrorFile, in DATA-DIR/provisioning/, says why the last
// provisioning stick was refused (written by the appliance's launcher,
// removed when a stick is accepted). /_node/sync shows it.
const ProvisioningErrorFile = "last-error"

// provisioningError reads ProvisioningErrorFile (at most 4 KiB); "" when
// there is none.
func (n *nodeAPI) provisioningError() string {
	f, err := os.Open(filepath.Join(n.provisioningDir, ProvisioningErrorFile))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4<<10))
	if err != nil {
		return "read " + f.Name() + ": " + err.Error()
	}
	return strings.TrimSpace(string(b))
}

func (n *nodeAPI) reports() ReportsStatus {
	st := n.rep.db.SpoolStats()
	r := ReportsStatus{
		Records:          int64(st.Records),
		Bytes:            st.Bytes,
		OldestAgeSeconds: st.OldestAge.Seconds(),
		Dropped:          n.rep.memDropped() + st.DroppedTotal,
		QueueDropped:     n.rep.queueDropped.Load(),
		SpoolFailed:      n.rep.spoolFailed.Load(),
		SpoolDropped:     st.DroppedTotal,
		Rejected:         n.rep.rejected.Load(),
		Requests:         n.rep.requests.Load(),
		Uploading:        n.up != nil,
	}
	if n.up != nil {
		r.UploadErrors = n.up.errors.Load()
	}
	return r
}

// handler returns the node API's mux.
func (n *nodeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_node/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "UP"})
	})
	mux.HandleFunc("GET /_node/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "message": "not serving yet: no configuration loaded (waiting for the cloud gate or --apis-dir) or the listeners are not bound"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
	mux.HandleFunc("GET /_node/sync", func(w http.ResponseWriter, _ *http.Request) {
		s := n.status.snapshot()
		s.ProvisioningError = n.provisioningError()
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("GET /_node/reports", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, n.reports())
	})
	mux.Handle("GET /_node/metrics", n.metrics)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// newMetrics registers the node's metrics in a registry of its own and
// returns the handler that exposes them in the Prometheus text format.
func newMetrics(n *nodeAPI) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "edgegate", Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "edgegate", Name: name, Help: help}, f)
	}
	rs := func(f func(ReportsStatus) float64) func() float64 { return func() float64 { return f(n.reports()) } }
	cs := []prometheus.Collector{
		gauge("spool_records", "Analytics records waiting in the spool.", rs(func(r ReportsStatus) float64 { return float64(r.Records) })),
		gauge("spool_bytes", "Bytes of analytics records waiting in the spool.", rs(func(r ReportsStatus) float64 { return float64(r.Bytes) })),
		gauge("spool_oldest_age_seconds", "Age of the oldest spooled record.", rs(func(r ReportsStatus) float64 { return r.OldestAgeSeconds })),
		counter("reports_dropped_total", "Analytics records lost (queue full, spool write failed, spool bound).", rs(func(r ReportsStatus) float64 { return float64(r.Dropped) })),
		counter("report_upload_errors_total", "Failed report uploads to the cloud gate.", rs(func(r ReportsStatus) float64 { return float64(r.UploadErrors) })),
		counter("requests_total", "Requests answered by the data plane.", rs(func(r ReportsStatus) float64 { return float64(r.Requests) })),
		gauge("config_revision", "Revision of the configuration being served.", func() float64 { return float64(n.status.snapshot().Revision) }),
		counter("sync_errors_total", "Failed syncs with the cloud gate or local definition errors.", func() float64 { return float64(n.status.snapshot().SyncErrors) }),
		gauge("ready", "1 when a configuration is loaded.", func() float64 { return b2f(n.ready()) }),
		gauge("license_valid", "1 when the license is valid or not required.", func() float64 {
			l := n.status.snapshot().License
			return b2f(!l.Required || l.Valid)
		}),
	}
	for _, src := range []string{SourceGate, SourceSnapshot, SourceLocal} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "edgegate", Name: "sync_source", Help: "1 for the source of the configuration being served.",
			ConstLabels: prometheus.Labels{"source": src},
		}, func() float64 { return b2f(n.status.snapshot().Source == src) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
