package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"
)

// This file reads a bbolt file with ordinary, bounds-checked reads before
// bbolt maps it into memory. bbolt trusts the page references it finds; a
// damaged reference makes it read outside the mapping, which Go reports as
// a fatal fault in bbolt's own goroutines. walkFile proves every reference
// reachable from the root stays inside the file. Layout facts (little-endian
// on the platforms edgegate ships for): a page starts with a 16-byte header
// {id u64, flags u16, count u16, overflow u32}; meta pages hold {magic,
// version, pageSize, flags u32; root {pgid, sequence u64}; freelist, pgid,
// txid, checksum u64} with an FNV-64a checksum over the fields before it;
// branch elements are {pos, ksize u32, pgid u64} and leaf elements {flags,
// pos, ksize, vsize u32}, pos counted from the element itself; a bucket
// value starts with {root pgid, sequence u64} and, when root is 0, carries
// its inline leaf page.

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16
	metaSize         = 64
	branchFlag       = 0x01
	leafFlag         = 0x02
	freelistFlag     = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	maxWalkDepth     = 64
	walkDeadlineStep = 256 // pages between clock reads
)

var errWalkTimeout = errors.New("structure walk timed out")

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

type walker struct {
	f        *os.File
	size     int64
	meta     boltMeta
	seen     map[uint64]bool
	deadline time.Time
	now      func() time.Time
	pages    int
}

// walkFile checks the structure of the bbolt file f; it returns nil,
// errWalkTimeout, or what is wrong.
func walkFile(f *os.File, deadline time.Time, now func() time.Time) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	w := &walker{f: f, size: info.Size(), seen: map[uint64]bool{}, deadline: deadline, now: now}
	if w.meta, err = readMetas(f); err != nil {
		return err
	}
	if need := int64(w.meta.hwm) * int64(w.meta.pageSize); need > w.size {
		return fmt.Errorf("file is truncated: its pages need %d bytes, it has %d", need, w.size)
	}
	free, err := w.freelist()
	if err != nil {
		return err
	}
	if err := w.tree(w.meta.root, 0); err != nil {
		return err
	}
	return w.freeNotInUse(free)
}

// freeNotInUse checks that no free page is also part of a page in use
// (bbolt's own check looks only at the first page of each in-use page).
func (w *walker) freeNotInUse(free []uint64) error {
	for _, id := range free {
		if w.seen[id] {
			return fmt.Errorf("page %d is both free and in use", id)
		}
	}
	return nil
}

// readMetas returns the meta page bbolt would use: the valid one with the
// higher transaction id.
func readMetas(f *os.File) (boltMeta, error) {
	m0, err0 := readMeta(f, 0)
	ps := int64(os.Getpagesize())
	if err0 == nil {
		ps = int64(m0.pageSize)
	}
	m1, err1 := readMeta(f, ps)
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("not a bbolt file or both meta pages damaged (%v; %v)", err0, err1)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, nil
	}
	return m1, nil
}

func readMeta(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, metaSize)
	if _, err := f.ReadAt(buf, off+pageHeaderSize); err != nil {
		return boltMeta{}, fmt.Errorf("meta page at %d: %w", off, err)
	}
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(buf[:56]) // hash.Hash never returns an error
	switch {
	case le.Uint32(buf[0:]) != boltMagic:
		return boltMeta{}, fmt.Errorf("meta page at %d: bad magic", off)
	case le.Uint32(buf[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("meta page at %d: unknown version %d", off, le.Uint32(buf[4:]))
	case le.Uint64(buf[56:]) != h.Sum64():
		return boltMeta{}, fmt.Errorf("meta page at %d: checksum mismatch", off)
	}
	m := boltMeta{pageSize: le.Uint32(buf[8:]), root: le.Uint64(buf[16:]),
		freelist: le.Uint64(buf[32:]), hwm: le.Uint64(buf[40:]), txid: le.Uint64(buf[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("meta page at %d: bad page size %d", off, m.pageSize)
	}
	return m, nil
}

// page reads page id with its overflow pages, checking it lies inside the
// high-water mark and carries its own id.
func (w *walker) page(id uint64) (flags uint16, count int, data []byte, err error) {
	if err := w.tick(1); err != nil {
		return 0, 0, nil, err
	}
	if id < 2 || id >= w.meta.hwm {
		return 0, 0, nil, fmt.Errorf("page %d: out of range [2, %d)", id, w.meta.hwm)
	}
	ps := int64(w.meta.pageSize)
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id)*ps); err != nil {
		return 0, 0, nil, fmt.Errorf("page %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(hdr); got != id {
		return 0, 0, nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= w.meta.hwm {
		return 0, 0, nil, fmt.Errorf("page %d: %d overflow pages run past the end (%d)", id, overflow, w.meta.hwm)
	}
	if err := w.tick(int(overflow)); err != nil { // spool blocks span many pages
		return 0, 0, nil, err
	}
	data = make([]byte, (overflow+1)*uint64(ps))
	if _, err := w.f.ReadAt(data, int64(id)*ps); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, nil, fmt.Errorf("page %d: %w", id, err)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return 0, 0, nil, fmt.Errorf("page %d: referenced twice", i)
		}
		w.seen[i] = true
	}
	return le.Uint16(hdr[8:]), int(le.Uint16(hdr[10:])), data, nil
}

// tick counts n more pages read and checks the deadline every
// walkDeadlineStep pages.
func (w *walker) tick(n int) error {
	before := w.pages
	w.pages += n
	if w.pages/walkDeadlineStep != before/walkDeadlineStep && w.now().After(w.deadline) {
		return errWalkTimeout
	}
	return nil
}

// freelist checks the freelist page and that every id in it is in range,
// and returns the ids.
func (w *walker) freelist() ([]uint64, error) {
	if w.meta.freelist == noFreelist {
		return nil, nil
	}
	flags, count, data, err := w.page(w.meta.freelist)
	if err != nil {
		return nil, fmt.Errorf("freelist: %w", err)
	}
	if flags != freelistFlag {
		return nil, fmt.Errorf("freelist page %d: wrong type %#x", w.meta.freelist, flags)
	}
	le := binary.LittleEndian
	ids := data[pageHeaderSize:]
	if count == 0xFFFF { // the real count is the first element
		if len(ids) < 8 {
			return nil, fmt.Errorf("freelist page %d: too short", w.meta.freelist)
		}
		count, ids = int(le.Uint64(ids)), ids[8:]
	}
	if count < 0 || count > len(ids)/8 {
		return nil, fmt.Errorf("freelist page %d: %d ids do not fit", w.meta.freelist, count)
	}
	free := make([]uint64, count)
	for i := range free {
		free[i] = le.Uint64(ids[i*8:])
		if free[i] < 2 || free[i] >= w.meta.hwm {
			return nil, fmt.Errorf("freelist page %d: free page %d out of range", w.meta.freelist, free[i])
		}
	}
	return free, nil
}

// tree walks the b-tree rooted at page id.
func (w *walker) tree(id uint64, depth int) error {
	if depth > maxWalkDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxWalkDepth)
	}
	flags, count, data, err := w.page(id)
	if err != nil {
		return err
	}
	switch flags {
	case branchFlag:
		return w.branch(id, count, data, depth)
	case leafFlag:
		return w.leaf(id, count, data, depth)
	}
	return fmt.Errorf("page %d: unexpected type %#x in a tree", id, flags)
}

func (w *walker) branch(id uint64, count int, data []byte, depth int) error {
	if count == 0 {
		return fmt.Errorf("page %d: empty branch", id)
	}
	le := binary.LittleEndian
	for i := range count {
		at := pageHeaderSize + i*elementSize
		if at+elementSize > len(data) {
			return fmt.Errorf("page %d: element %d past the page end", id, i)
		}
		pos, ksize := int(le.Uint32(data[at:])), int(le.Uint32(data[at+4:]))
		if at+pos+ksize > len(data) {
			return fmt.Errorf("page %d: key %d past the page end", id, i)
		}
		if err := w.tree(le.Uint64(data[at+8:]), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) leaf(id uint64, count int, data []byte, depth int) error {
	le := binary.LittleEndian
	for i := range count {
		at := pageHeaderSize + i*elementSize
		if at+elementSize > len(data) {
			return fmt.Errorf("page %d: element %d past the page end", id, i)
		}
		flags, pos := le.Uint32(data[at:]), int(le.Uint32(data[at+4:]))
		ksize, vsize := int(le.Uint32(data[at+8:])), int(le.Uint32(data[at+12:]))
		end := at + pos + ksize + vsize
		if end > len(data) || end < at {
			return fmt.Errorf("page %d: key/value %d past the page end", id, i)
		}
		if flags&bucketLeafFlag == 0 {
			continue
		}
		if err := w.bucket(id, data[at+pos+ksize:end], depth); err != nil {
			return err
		}
	}
	return nil
}

// bucket follows a bucket value: a root page, or an inline leaf page.
func (w *walker) bucket(id uint64, v []byte, depth int) error {
	if len(v) < 16 {
		return fmt.Errorf("page %d: bucket header too short", id)
	}
	root := binary.LittleEndian.Uint64(v)
	if root != 0 {
		return w.tree(root, depth+1)
	}
	inline := v[16:]
	if len(inline) < pageHeaderSize {
		return fmt.Errorf("page %d: inline bucket too short", id)
	}
	if flags := binary.LittleEndian.Uint16(inline[8:]); flags != leafFlag {
		return fmt.Errorf("page %d: inline bucket of type %#x", id, flags)
	}
	return w.leaf(id, int(binary.LittleEndian.Uint16(inline[10:])), inline, depth+1)
}
