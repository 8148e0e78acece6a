package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/analytics"
	bolt "go.etcd.io/bbolt"
)

var (
	bktRecords = []byte("records")
	bktIDs     = []byte("ids")
	bktCounts  = []byte("counts")
	keyTotal   = []byte("*")
)

// Batch is one /reports batch to store.
type Batch struct {
	Org       string
	TTK       string
	Key       string // idempotency key (the batch id)
	GatewayID string
	Dropped   int64
	Records   []analytics.Record
}

// batchAck is what the batches bucket remembers of a stored batch.
type batchAck struct {
	Ack wire.ReportAck `json:"ack"`
	At  time.Time      `json:"at"`
}

// StoreReports stores a batch once: a batch key seen before returns the ack
// it got then, and each record is stored once per request id within the
// org's analytics index. Records must have a RequestID. The gateway's
// Dropped total grows by the batch's Dropped count (once per batch).
func (s *Store) StoreReports(b Batch) (wire.ReportAck, error) {
	if err := checkID("org", b.Org); err != nil {
		return wire.ReportAck{}, err
	}
	if b.TTK == "" || b.Key == "" {
		return wire.ReportAck{}, &InputError{Field: "batchId", Msg: "a batch needs an analytics index (ttk) and a batch id"}
	}
	var ack wire.ReportAck
	err := s.update(func(tx *bolt.Tx) error {
		bkey := []byte(b.Org + "\x00" + b.Key)
		var prev batchAck
		ok, err := getJSON(tx.Bucket(bktBatches), bkey, &prev)
		if err != nil || ok {
			ack = prev.Ack
			return err
		}
		idx, err := analyticsIndex(tx, b.Org, b.TTK)
		if err != nil {
			return err
		}
		added := map[string]uint64{}
		for i := range b.Records {
			stored, err := putRecord(idx, &b.Records[i])
			if err != nil {
				return err
			}
			if stored {
				ack.Accepted++
				added[string(keyTotal)]++
				added["api:"+b.Records[i].APIID]++
			} else {
				ack.Duplicates++
			}
		}
		if err := addCounts(idx.Bucket(bktCounts), added); err != nil {
			return err
		}
		if err := addDropped(tx.Bucket(bktGateways), b.GatewayID, b.Dropped); err != nil {
			return err
		}
		return s.rememberBatch(tx, bkey, ack)
	})
	if err != nil {
		return wire.ReportAck{}, fmt.Errorf("store reports: %w", err)
	}
	return ack, nil
}

func analyticsIndex(tx *bolt.Tx, org, ttk string) (*bolt.Bucket, error) {
	ob, err := tx.Bucket(bktAnalytics).CreateBucketIfNotExists([]byte(org))
	if err != nil {
		return nil, err
	}
	idx, err := ob.CreateBucketIfNotExists([]byte(ttk))
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bktRecords, bktIDs, bktCounts} {
		if _, err := idx.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

// putRecord stores r unless its request id is known (in the index or earlier
// in the same batch); it reports whether it stored it. Counts are the
// caller's.
func putRecord(idx *bolt.Bucket, r *analytics.Record) (bool, error) {
	ids := idx.Bucket(bktIDs)
	if ids.Get([]byte(r.RequestID)) != nil {
		return false, nil
	}
	key := append(u64(uint64(max(r.Timestamp, 0))), r.RequestID...)
	if err := putJSON(idx.Bucket(bktRecords), key, r); err != nil {
		return false, err
	}
	if err := ids.Put([]byte(r.RequestID), key); err != nil {
		return false, err
	}
	return true, nil
}

// addCounts adds to the counters of an analytics index.
func addCounts(counts *bolt.Bucket, added map[string]uint64) error {
	for k, n := range added {
		if err := counts.Put([]byte(k), u64(readCount(counts.Get([]byte(k)))+n)); err != nil {
			return err
		}
	}
	return nil
}

func readCount(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func addDropped(gws *bolt.Bucket, id string, n int64) error {
	if n <= 0 || id == "" {
		return nil
	}
	var g Gateway
	ok, err := getJSON(gws, []byte(id), &g)
	if err != nil || !ok {
		return err
	}
	g.Dropped += n
	return putJSON(gws, []byte(id), &g)
}

// rememberBatch records a batch's ack and forgets the oldest beyond the bound.
func (s *Store) rememberBatch(tx *bolt.Tx, key []byte, ack wire.ReportAck) error {
	if err := putJSON(tx.Bucket(bktBatches), key, &batchAck{Ack: ack, At: s.now().UTC()}); err != nil {
		return err
	}
	order := tx.Bucket(bktBatchOrder)
	seq, err := order.NextSequence()
	if err != nil {
		return err
	}
	if err := order.Put(u64(seq), key); err != nil {
		return err
	}
	if seq <= uint64(s.maxBat) {
		return nil
	}
	old := u64(seq - uint64(s.maxBat))
	if k := order.Get(old); k != nil {
		if err := tx.Bucket(bktBatches).Delete(k); err != nil {
			return err
		}
	}
	return order.Delete(old)
}

// CountRecords is the number of stored request records of an organization
// (all analytics indexes), for one API when api is not empty.
func (s *Store) CountRecords(org, api string) (int64, error) {
	key := keyTotal
	if api != "" {
		key = []byte("api:" + api)
	}
	var n uint64
	err := s.view(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bktAnalytics).Bucket([]byte(org))
		if ob == nil {
			return nil
		}
		return ob.ForEachBucket(func(ttk []byte) error {
			n += readCount(ob.Bucket(ttk).Bucket(bktCounts).Get(key))
			return nil
		})
	})
	return int64(n), err
}

// Query selects analytics records. Zero fields do not filter; From and To
// are Unix milliseconds (To exclusive).
type Query struct {
	API     string
	Gateway string
	From    int64
	To      int64
	Limit   int // Records only; 0 means 100, at most 10000
}

func (q *Query) match(r *analytics.Record) bool {
	return (q.API == "" || r.APIID == q.API) && (q.Gateway == "" || r.GatewayID == q.Gateway)
}

// EachRecord calls fn for the organization's records in [From, To), newest
// first within each analytics index, until fn returns false.
func (s *Store) EachRecord(org string, q Query, fn func(*analytics.Record) bool) error {
	return s.view(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bktAnalytics).Bucket([]byte(org))
		if ob == nil {
			return nil
		}
		stop := false
		return ob.ForEachBucket(func(ttk []byte) error {
			if stop {
				return nil
			}
			var err error
			stop, err = eachInIndex(ob.Bucket(ttk).Bucket(bktRecords), q, fn)
			return err
		})
	})
}

func eachInIndex(recs *bolt.Bucket, q Query, fn func(*analytics.Record) bool) (stop bool, err error) {
	c := recs.Cursor()
	var k, v []byte
	if q.To > 0 {
		k, v = c.Seek(u64(uint64(q.To)))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	for ; k != nil; k, v = c.Prev() {
		if int64(binary.BigEndian.Uint64(k[:8])) < q.From {
			return false, nil
		}
		var r analytics.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return true, fmt.Errorf("decode record %x: %w", k, err)
		}
		if q.match(&r) && !fn(&r) {
			return true, nil
		}
	}
	return false, nil
}

// Records returns up to q.Limit matching records, newest first.
func (s *Store) Records(org string, q Query) ([]analytics.Record, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	out := []analytics.Record{}
	err := s.EachRecord(org, q, func(r *analytics.Record) bool {
		out = append(out, *r)
		return len(out) < limit
	})
	sortNewestFirst(out)
	return out, err
}

// PruneRecords deletes up to max records (over all organizations) whose
// timestamp is before the given Unix ms, with their deduplication entries
// and counts, in one transaction. It returns how many it deleted; call it
// again while that equals max. A request id pruned here would be stored
// again if a gateway resent it, which only a gateway holding records older
// than the retention could do.
func (s *Store) PruneRecords(before int64, max int) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		an := tx.Bucket(bktAnalytics)
		return an.ForEachBucket(func(org []byte) error {
			ob := an.Bucket(org)
			return ob.ForEachBucket(func(ttk []byte) error {
				if n >= max {
					return nil
				}
				deleted, err := pruneIndex(ob.Bucket(ttk), before, max-n)
				n += deleted
				return err
			})
		})
	})
	if err != nil {
		return n, fmt.Errorf("prune analytics: %w", err)
	}
	return n, nil
}

func pruneIndex(idx *bolt.Bucket, before int64, max int) (int, error) {
	recs, ids, counts := idx.Bucket(bktRecords), idx.Bucket(bktIDs), idx.Bucket(bktCounts)
	var keys [][]byte
	c := recs.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < max; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) >= before {
			break
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		var r analytics.Record
		if _, err := getJSON(recs, k, &r); err != nil {
			return 0, err
		}
		if err := recs.Delete(k); err != nil {
			return 0, err
		}
		if err := ids.Delete(k[8:]); err != nil {
			return 0, err
		}
		for _, ck := range [][]byte{keyTotal, []byte("api:" + r.APIID)} {
			if err := counts.Put(ck, u64(readCount(counts.Get(ck))-min(readCount(counts.Get(ck)), 1))); err != nil {
				return 0, err
			}
		}
	}
	return len(keys), nil
}
