package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A spool block is one bbolt value holding a run of consecutive records.
// It is stored in a nested bucket of its own, named by the 8-byte
// big-endian sequence number of its first record, under the key
// blockValueKey: bbolt rewrites a whole leaf page when one of its values
// changes, and a leaf holds 2 to 4 large values, so blocks stored as plain
// values would be written 3 to 4 times over as neighbours come and go; a
// nested bucket has pages of its own, written once (small blocks are
// inlined into the parent leaf by bbolt, which costs no more than a plain
// value). The value's layout, integers big-endian:
//
//	version  u8          blockVersion
//	crc      u32         CRC-32C (Castagnoli) of everything after this field
//	spooled  i64         unix ns when the records were appended
//	count    u16         number of records, at least 1
//	lengths  count × u32 each record's length
//	records              the records, concatenated
//
// A block with first sequence S and n records covers S..S+n-1; the next
// block starts at S+n (the spool never leaves a gap between blocks).
const (
	blockVersion     = 1
	blockFixedHeader = 1 + 4 + 8 + 2
	blockLengthSize  = 4

	// maxBlockRecords and maxBlockBytes bound one block; AppendReports
	// splits a larger call into several blocks. Larger blocks cost less
	// per record to write and delete, but a partial eviction or ack
	// rewrites the rest of a block, and bbolt rewrites a whole leaf (2 to 4
	// blocks) whenever one of its blocks changes. A record larger than
	// maxBlockBytes gets a block of its own.
	maxBlockRecords = 256
	maxBlockBytes   = 256 << 10
)

// blockValueKey is the key of the block value inside its bucket.
var blockValueKey = []byte{0}

var (
	errBlockDamaged = errors.New("damaged spool block")
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

// spoolBlock is a decoded block. Its slices point into the bbolt value and
// are valid only inside the transaction.
type spoolBlock struct {
	first   uint64
	spooled int64
	// offs has one offset per record into data, plus the end: record i is
	// data[offs[i]:offs[i+1]].
	offs []int
	data []byte

	// damaged blocks carry no records: n and size are estimates of what
	// the block held, from the sequence range up to the next block. plain
	// says the key holds a plain value where a block bucket belongs.
	damaged bool
	plain   bool
	n       int64
	size    int64
}

// count returns the number of records the block covers.
func (b *spoolBlock) count() int64 {
	if b.damaged {
		return b.n
	}
	return int64(len(b.offs) - 1)
}

// last returns the sequence number of the block's last record.
func (b *spoolBlock) last() uint64 { return b.first + uint64(b.count()) - 1 }

// rec returns record i.
func (b *spoolBlock) rec(i int) []byte { return b.data[b.offs[i]:b.offs[i+1]] }

// recBytes returns the size of records i..j-1.
func (b *spoolBlock) recBytes(i, j int) int64 { return int64(b.offs[j] - b.offs[i]) }

// encodeBlock returns a block value holding recs, spooled at unix ns at.
func encodeBlock(at int64, recs [][]byte) []byte { return appendBlock(nil, at, recs) }

// appendBlock appends a block value holding recs, spooled at unix ns at,
// to dst and returns the value (with its capacity ending where it does).
func appendBlock(dst []byte, at int64, recs [][]byte) []byte {
	hdr := blockFixedHeader + blockLengthSize*len(recs)
	size := hdr
	for _, r := range recs {
		size += len(r)
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+hdr]
	v := dst[start:]
	for i, r := range recs {
		binary.BigEndian.PutUint32(v[blockFixedHeader+blockLengthSize*i:], uint32(len(r)))
	}
	for _, r := range recs {
		v = append(v, r...)
	}
	return sealBlock(v[:len(v):len(v)], at, len(recs))
}

// encodeRange returns a block value holding records i..j-1 of b, with b's
// spooled-at time.
func (b *spoolBlock) encodeRange(i, j int) []byte {
	hdr := blockFixedHeader + blockLengthSize*(j-i)
	v := make([]byte, hdr, hdr+b.offs[j]-b.offs[i])
	for k := i; k < j; k++ {
		binary.BigEndian.PutUint32(v[blockFixedHeader+blockLengthSize*(k-i):], uint32(b.offs[k+1]-b.offs[k]))
	}
	v = append(v, b.data[b.offs[i]:b.offs[j]]...)
	return sealBlock(v, b.spooled, j-i)
}

// sealBlock fills in the fixed header of v, whose lengths and records are
// in place, and its checksum.
func sealBlock(v []byte, at int64, n int) []byte {
	v[0] = blockVersion
	binary.BigEndian.PutUint64(v[5:], uint64(at))
	binary.BigEndian.PutUint16(v[13:], uint16(n))
	binary.BigEndian.PutUint32(v[1:], crc32.Checksum(v[5:], castagnoli))
	return v
}

// decodeBlock decodes the block stored under key k. Any value that is not
// a whole, intact block wraps errBlockDamaged.
func decodeBlock(k, v []byte) (spoolBlock, error) {
	if len(k) != 8 {
		return spoolBlock{}, fmt.Errorf("%w: key of %d bytes", errBlockDamaged, len(k))
	}
	if len(v) < blockFixedHeader || v[0] != blockVersion {
		return spoolBlock{}, fmt.Errorf("%w: bad header", errBlockDamaged)
	}
	if crc32.Checksum(v[5:], castagnoli) != binary.BigEndian.Uint32(v[1:]) {
		return spoolBlock{}, fmt.Errorf("%w: checksum mismatch", errBlockDamaged)
	}
	n := int(binary.BigEndian.Uint16(v[13:]))
	hdr := blockFixedHeader + blockLengthSize*n
	if n == 0 || len(v) < hdr {
		return spoolBlock{}, fmt.Errorf("%w: %d records do not fit", errBlockDamaged, n)
	}
	b := spoolBlock{first: binary.BigEndian.Uint64(k), spooled: int64(binary.BigEndian.Uint64(v[5:])),
		offs: make([]int, n+1), data: v[hdr:]}
	off := 0
	for i := range n {
		l := int(binary.BigEndian.Uint32(v[blockFixedHeader+blockLengthSize*i:]))
		if l > len(b.data)-off {
			return spoolBlock{}, fmt.Errorf("%w: record lengths exceed the block", errBlockDamaged)
		}
		off += l
		b.offs[i+1] = off
	}
	if off != len(b.data) {
		return spoolBlock{}, fmt.Errorf("%w: record lengths do not add up", errBlockDamaged)
	}
	return b, nil
}

// damagedBlock stands for a block that did not decode. It covers the
// sequence numbers up to next (the next block's first, or the bucket's
// sequence + 1), at least its own; its size is guessed from the value.
func damagedBlock(k, v []byte, plain bool, next uint64) spoolBlock {
	b := spoolBlock{first: binary.BigEndian.Uint64(k), damaged: true, plain: plain, n: 1}
	if next > b.first {
		b.n = int64(next - b.first)
	}
	b.size = max(int64(len(v))-blockFixedHeader-blockLengthSize*b.n, 0)
	return b
}

// blockValue returns the block stored under k in b, where v is what a
// cursor returned for k (nil for a bucket); nil when k holds no block
// bucket or the bucket no block.
func blockValue(b *bolt.Bucket, k, v []byte) []byte {
	if v != nil {
		return nil
	}
	child := b.Bucket(k)
	if child == nil {
		return nil
	}
	return child.Get(blockValueKey)
}

// putBlock stores block value v as the block starting at first.
func putBlock(b *bolt.Bucket, first uint64, v []byte) error {
	child, err := b.CreateBucket(seqKey(first))
	if err != nil {
		return err
	}
	return child.Put(blockValueKey, v)
}

// blockSpooledAt reads the spooled-at time of a block value without
// checking its checksum (SpoolStats only).
func blockSpooledAt(v []byte) (int64, bool) {
	if len(v) < blockFixedHeader || v[0] != blockVersion {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[5:])), true
}

// blockIter walks the blocks in sequence order; keys that are not 8 bytes
// long were never written by this package and are skipped.
type blockIter struct {
	b    *bolt.Bucket
	c    *bolt.Cursor
	seq  uint64 // the bucket's sequence: the last number handed out
	k, v []byte // the next entry
}

// newBlockIter starts at the first block that may hold seq: the one at
// seq, else the one before it.
func newBlockIter(b *bolt.Bucket, seq uint64) *blockIter {
	it := &blockIter{b: b, c: b.Cursor(), seq: b.Sequence()}
	key := seqKey(seq)
	var k, v []byte
	if seq == 0 {
		k, v = it.c.First()
	} else {
		k, v = it.c.Seek(key)
	}
	switch {
	case seq == 0:
	case k == nil:
		k, v = it.c.Last()
	case string(k) != string(key):
		if k, v = it.c.Prev(); k == nil {
			k, v = it.c.First()
		}
	}
	if k != nil && len(k) != 8 {
		k, v = it.c.First()
	}
	it.k, it.v = k, v
	it.skipForeign()
	return it
}

func (it *blockIter) skipForeign() {
	for it.k != nil && len(it.k) != 8 {
		it.k, it.v = it.c.Next()
	}
}

// rawBlock is an entry of the reports bucket as stored, not yet decoded.
type rawBlock struct {
	k     []byte // the key: the block's first sequence number
	v     []byte // the block value; nil when k holds no block bucket or it no block
	plain []byte // the plain value k holds where a block bucket belongs, else nil
	next  uint64 // the next block's first sequence number (or the bucket's sequence + 1)
}

// first returns the block's first sequence number.
func (r *rawBlock) first() uint64 { return binary.BigEndian.Uint64(r.k) }

// header returns the record count and record bytes that the block's
// header claims, without checking the checksum: for deleting whole blocks,
// whose records need not be read. ok is false unless the count is also
// what the sequence numbers up to the next block say (decode the block to
// learn what it covers): a damaged count then cannot make eviction drop
// more than it must, and a damaged block with an intact count is counted
// as decoding it would estimate it.
func (r *rawBlock) header() (n, size int64, ok bool) {
	v := r.v
	if len(v) < blockFixedHeader || v[0] != blockVersion {
		return 0, 0, false
	}
	n = int64(binary.BigEndian.Uint16(v[13:]))
	hdr := blockFixedHeader + blockLengthSize*n
	if n == 0 || int64(len(v)) < hdr || r.next-r.first() != uint64(n) {
		return 0, 0, false
	}
	return n, int64(len(v)) - hdr, true
}

// decode decodes the block, or marks it damaged.
func (r *rawBlock) decode() spoolBlock {
	b, err := decodeBlock(r.k, r.v)
	if err == nil {
		return b
	}
	if r.plain != nil {
		return damagedBlock(r.k, r.plain, true, r.next)
	}
	return damagedBlock(r.k, r.v, false, r.next)
}

// nextRaw returns the next entry without decoding it; false at the end.
func (it *blockIter) nextRaw() (rawBlock, bool) {
	if it.k == nil {
		return rawBlock{}, false
	}
	r := rawBlock{k: it.k, v: blockValue(it.b, it.k, it.v), plain: it.v}
	it.k, it.v = it.c.Next()
	it.skipForeign()
	r.next = it.seq + 1
	if it.k != nil {
		r.next = binary.BigEndian.Uint64(it.k)
	}
	return r, true
}

// next returns the next block, decoded or marked damaged; false at the end.
func (it *blockIter) next() (spoolBlock, bool) {
	r, ok := it.nextRaw()
	if !ok {
		return spoolBlock{}, false
	}
	return r.decode(), true
}

// blockOps collects the changes to blocks found while iterating, applied
// afterwards: deleting through a cursor that keeps moving is slow in bbolt
// (First after deletes walks emptied pages) and easy to get wrong.
type blockOps struct {
	del  []blockDel
	puts []blockPut
}

type blockDel struct {
	k     []byte
	plain bool
}

type blockPut struct {
	first uint64
	v     []byte
}

// remove deletes blk (a bucket with one DeleteBucket, or a stray plain
// value).
func (o *blockOps) remove(blk *spoolBlock) {
	o.del = append(o.del, blockDel{seqKey(blk.first), blk.plain})
}

// removeRaw deletes the block bucket under r's key.
func (o *blockOps) removeRaw(r *rawBlock) {
	o.del = append(o.del, blockDel{seqKey(r.first()), false})
}

func (o *blockOps) put(first uint64, v []byte) { o.puts = append(o.puts, blockPut{first, v}) }

func (o *blockOps) apply(b *bolt.Bucket) error {
	for _, d := range o.del {
		del := b.DeleteBucket
		if d.plain {
			del = b.Delete
		}
		if err := del(d.k); err != nil {
			return err
		}
	}
	for _, p := range o.puts {
		if err := putBlock(b, p.first, p.v); err != nil {
			return err
		}
	}
	return nil
}
