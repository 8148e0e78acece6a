package store

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/edgegate/edgegate/gateway/analytics"
)

// Latency holds latency percentiles in milliseconds (nearest rank).
type Latency struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	P99 int64 `json:"p99"`
}

// KeyCount is one entry of a top list.
type KeyCount struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Point is one interval of a Stats series; T is its start, Unix ms.
type Point struct {
	T      int64 `json:"t"`
	Count  int64 `json:"count"`
	C2xx   int64 `json:"2xx"`
	C4xx   int64 `json:"4xx"`
	C5xx   int64 `json:"5xx"`
	Others int64 `json:"other,omitempty"`
}

// Stats summarises the records of a Query.
type Stats struct {
	Total           int64            `json:"total"`
	StatusClasses   map[string]int64 `json:"statusClasses"`
	GatewayLatency  Latency          `json:"gatewayLatency"`
	EndpointLatency Latency          `json:"endpointLatency"`
	ResponseTime    Latency          `json:"responseTime"`
	TopErrors       []KeyCount       `json:"topErrors"`
	Series          []Point          `json:"series"`
	From            int64            `json:"from"`
	To              int64            `json:"to"`
	Interval        int64            `json:"interval"` // ms
}

// MaxStatsRecords bounds how many records one Stats call reads; the newest
// are used when a range holds more.
const MaxStatsRecords = 1_000_000

// maxSeriesPoints bounds a series; a smaller interval is widened.
const maxSeriesPoints = 2000

// ComputeStats summarises the organization's records in [q.From, q.To)
// (both required, Unix ms) in intervals of interval ms (0: about 60 points).
func (s *Store) ComputeStats(org string, q Query, interval int64) (*Stats, error) {
	if q.From <= 0 || q.To <= q.From {
		return nil, &InputError{Field: "from", Msg: fmt.Sprintf("need 0 < from < to (Unix ms), got from=%d to=%d", q.From, q.To)}
	}
	span := q.To - q.From
	if interval <= 0 {
		interval = max(span/60, 1000)
	}
	interval = max(interval, (span+maxSeriesPoints-1)/maxSeriesPoints)
	st := &Stats{StatusClasses: map[string]int64{}, TopErrors: []KeyCount{}, From: q.From, To: q.To, Interval: interval}
	n := (span + interval - 1) / interval
	st.Series = make([]Point, n)
	for i := range st.Series {
		st.Series[i].T = q.From + int64(i)*interval
	}
	var gw, ep, rt []int64
	errs := map[string]int64{}
	err := s.EachRecord(org, q, func(r *analytics.Record) bool {
		st.Total++
		class := statusClass(r.Status)
		st.StatusClasses[class]++
		p := &st.Series[(r.Timestamp-q.From)/interval]
		p.Count++
		switch class {
		case "2xx":
			p.C2xx++
		case "4xx":
			p.C4xx++
		case "5xx":
			p.C5xx++
		default:
			p.Others++
		}
		gw, ep, rt = append(gw, r.GatewayLatencyMs), append(ep, r.EndpointResponseTimeMs), append(rt, r.GatewayResponseTimeMs)
		if r.Status >= 400 {
			key := r.ErrorKey
			if key == "" {
				key = strconv.Itoa(r.Status)
			}
			errs[key]++
		}
		return st.Total < MaxStatsRecords
	})
	if err != nil {
		return nil, err
	}
	st.GatewayLatency, st.EndpointLatency, st.ResponseTime = percentiles(gw), percentiles(ep), percentiles(rt)
	st.TopErrors = topN(errs, 10)
	return st, nil
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// percentiles uses the nearest-rank method; zero when there are no values.
func percentiles(v []int64) Latency {
	if len(v) == 0 {
		return Latency{}
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	rank := func(p int) int64 {
		i := (p*len(v) + 99) / 100 // ceil(p/100 * n)
		return v[max(i-1, 0)]
	}
	return Latency{P50: rank(50), P95: rank(95), P99: rank(99)}
}

func topN(m map[string]int64, n int) []KeyCount {
	out := make([]KeyCount, 0, len(m))
	for k, c := range m {
		out = append(out, KeyCount{Key: k, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func sortNewestFirst(rs []analytics.Record) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Timestamp > rs[j].Timestamp })
}
