// Package fat writes and reads the FAT16 file systems of the appliance: the
// boot partition (kernel, command line, bootloader, Pi firmware) and the
// provisioning stick.
//
// # Layout
//
// The writer produces exactly what gokrazy's on-device FAT reader
// understands, because the device rewrites its kernel command line in place
// through that reader when it switches root partitions:
//
//   - FAT16, 512-byte sectors, one FAT copy, a fixed root directory of
//     RootEntries entries;
//   - every file and directory stored in one contiguous run of clusters, so
//     a file is an (offset, length) extent of the partition;
//   - 8.3 short names (upper case, with the Windows NT lower-case flags when
//     the real name is all lower case) plus long-name entries for names that
//     do not fit 8.3.
//
// Everything is deterministic: entries are sorted, timestamps come from the
// caller, and the volume id from the caller.
//
// The Reader reads the same way the device does (boot sector fields, root
// directory, then directories by first cluster), and also follows cluster
// chains so a test can read whole files back.
package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

const (
	sectorSize = 512
	// RootEntries is the size of the fixed root directory.
	RootEntries     = 512
	reservedSectors = 4
	dirEntrySize    = 32
	attrReadOnly    = 0x01
	attrVolumeID    = 0x08
	attrDirectory   = 0x10
	attrArchive     = 0x20
	attrLongName    = 0x0F
	mediaHardDisk   = 0xF8
	minClusters     = 4085
	maxClusters     = 65524
)

// ErrTooLarge is returned when the files do not fit the file system size.
var ErrTooLarge = errors.New("files do not fit in the FAT file system")

// Options describe the file system to write.
type Options struct {
	// Size is the file system size in bytes (a multiple of 512). It must
	// allow a FAT16 cluster count (about 2 MiB at least).
	Size int64
	// Label is the volume label, at most 11 characters; empty means "NO NAME".
	Label string
	// VolumeID is the volume serial number.
	VolumeID uint32
	// HiddenSectors is the LBA where the file system starts on its disk
	// (0 for a disk without a partition table).
	HiddenSectors uint32
	// ModTime is the timestamp of every entry.
	ModTime time.Time
}

// node is a file or directory of the tree being written.
type node struct {
	name     string
	dir      bool
	data     []byte
	children map[string]*node
	cluster  uint16 // first cluster, 0 for empty files
	clusters int    // clusters used
}

// Writer builds a FAT16 file system in memory and writes it out at once.
// The zero value is not usable; call NewWriter.
type Writer struct {
	opts Options
	root *node
}

// NewWriter returns a Writer for a file system described by opts.
func NewWriter(opts Options) (*Writer, error) {
	if opts.Size%sectorSize != 0 || opts.Size <= 0 {
		return nil, fmt.Errorf("fat: size %d is not a positive multiple of %d", opts.Size, sectorSize)
	}
	if len(opts.Label) > 11 {
		return nil, fmt.Errorf("fat: label %q is longer than 11 characters", opts.Label)
	}
	return &Writer{opts: opts, root: &node{dir: true, children: map[string]*node{}}}, nil
}

// AddFile adds a file at the slash-separated path p (parents are created).
func (w *Writer) AddFile(p string, data []byte) error {
	dir, name := path.Split(strings.Trim(p, "/"))
	parent, err := w.mkdirAll(dir)
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("fat: empty file name in %q", p)
	}
	if _, ok := parent.children[strings.ToUpper(name)]; ok {
		return fmt.Errorf("fat: %q added twice", p)
	}
	parent.children[strings.ToUpper(name)] = &node{name: name, data: data}
	return nil
}

// Mkdir adds an (empty) directory at p, creating its parents.
func (w *Writer) Mkdir(p string) error {
	_, err := w.mkdirAll(p)
	return err
}

func (w *Writer) mkdirAll(p string) (*node, error) {
	n := w.root
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if c == "" {
			continue
		}
		child, ok := n.children[strings.ToUpper(c)]
		if !ok {
			child = &node{name: c, dir: true, children: map[string]*node{}}
			n.children[strings.ToUpper(c)] = child
		}
		if !child.dir {
			return nil, fmt.Errorf("fat: %q is a file, not a directory", c)
		}
		n = child
	}
	return n, nil
}

// geometry is the computed layout of the file system.
type geometry struct {
	totalSectors      int64
	sectorsPerCluster int
	fatSectors        int
	clusters          int
	dataStart         int64 // byte offset of cluster 2
}

func (g geometry) clusterSize() int { return g.sectorsPerCluster * sectorSize }

func (g geometry) clusterOffset(c uint16) int64 {
	return g.dataStart + int64(c-2)*int64(g.clusterSize())
}

func computeGeometry(size int64) (geometry, error) {
	total := size / sectorSize
	rootSectors := int64(RootEntries * dirEntrySize / sectorSize)
	for spc := 1; spc <= 64; spc *= 2 {
		// Solve for the cluster count with one FAT of 2 bytes per entry.
		avail := total - reservedSectors - rootSectors
		clusters := avail / int64(spc)
		for clusters > 0 {
			fatSectors := ((clusters+2)*2 + sectorSize - 1) / sectorSize
			if fatSectors+clusters*int64(spc) <= avail {
				break
			}
			clusters--
		}
		if clusters > maxClusters {
			continue
		}
		if clusters < minClusters {
			return geometry{}, fmt.Errorf("fat: %d bytes is too small for FAT16 (needs at least %d clusters)", size, minClusters)
		}
		fatSectors := int(((clusters+2)*2 + sectorSize - 1) / sectorSize)
		return geometry{
			totalSectors:      total,
			sectorsPerCluster: spc,
			fatSectors:        fatSectors,
			clusters:          int(clusters),
			dataStart:         (reservedSectors + int64(fatSectors) + rootSectors) * sectorSize,
		}, nil
	}
	return geometry{}, fmt.Errorf("fat: %d bytes is too large for FAT16", size)
}

// sortedChildren returns n's children in a stable order (by upper-case name).
func sortedChildren(n *node) []*node {
	keys := make([]string, 0, len(n.children))
	for k := range n.children {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*node, len(keys))
	for i, k := range keys {
		out[i] = n.children[k]
	}
	return out
}

// WriteTo writes the whole file system (Options.Size bytes, zeros included)
// to dst. It returns ErrTooLarge when the files do not fit.
func (w *Writer) WriteTo(dst io.WriterAt) (used int64, err error) {
	g, err := computeGeometry(w.opts.Size)
	if err != nil {
		return 0, err
	}
	fatTable := make([]uint16, g.clusters+2)
	fatTable[0] = 0xFF00 | mediaHardDisk
	fatTable[1] = 0xFFFF
	next := uint16(2)
	// Allocate directories and files depth first, each contiguous.
	var alloc func(n *node) error
	alloc = func(n *node) error {
		for _, c := range sortedChildren(n) {
			size := len(c.data)
			if c.dir {
				size = dirSize(c) * dirEntrySize
			}
			nc := (size + g.clusterSize() - 1) / g.clusterSize()
			if nc > 0 {
				if int(next)+nc-2 > g.clusters {
					return fmt.Errorf("%w (%d bytes)", ErrTooLarge, w.opts.Size)
				}
				c.cluster, c.clusters = next, nc
				for i := 0; i < nc; i++ {
					cur := int(next) + i
					if i == nc-1 {
						fatTable[cur] = 0xFFFF
					} else {
						fatTable[cur] = uint16(cur + 1)
					}
				}
				next += uint16(nc)
			}
			if c.dir {
				if err := alloc(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := alloc(w.root); err != nil {
		return 0, err
	}
	if err := w.writeMeta(dst, g, fatTable); err != nil {
		return 0, err
	}
	if err := w.writeData(dst, g, w.root); err != nil {
		return 0, err
	}
	used = g.clusterOffset(next)
	// Make the output exactly Size bytes long.
	if _, err := dst.WriteAt([]byte{0}, w.opts.Size-1); err != nil {
		return 0, fmt.Errorf("fat: %w", err)
	}
	return used, nil
}

// dirSize is the number of directory entries a subdirectory needs.
func dirSize(n *node) int {
	count := 2 // . and ..
	used := map[string]bool{}
	for _, c := range sortedChildren(n) {
		short, _, needLong := shortName(c.name, used)
		used[string(short)] = true
		count++
		if needLong {
			count += longEntryCount(c.name)
		}
	}
	return count
}

func (w *Writer) writeMeta(dst io.WriterAt, g geometry, fatTable []uint16) error {
	boot := w.bootSector(g)
	if _, err := dst.WriteAt(boot, 0); err != nil {
		return fmt.Errorf("fat: boot sector: %w", err)
	}
	fatBytes := make([]byte, g.fatSectors*sectorSize)
	for i, v := range fatTable {
		binary.LittleEndian.PutUint16(fatBytes[i*2:], v)
	}
	if _, err := dst.WriteAt(fatBytes, reservedSectors*sectorSize); err != nil {
		return fmt.Errorf("fat: FAT: %w", err)
	}
	rootDir := w.dirEntries(w.root, nil, true)
	if len(rootDir) > RootEntries*dirEntrySize {
		return fmt.Errorf("%w: more than %d root directory entries", ErrTooLarge, RootEntries)
	}
	buf := make([]byte, RootEntries*dirEntrySize)
	copy(buf, rootDir)
	if _, err := dst.WriteAt(buf, int64(reservedSectors+g.fatSectors)*sectorSize); err != nil {
		return fmt.Errorf("fat: root directory: %w", err)
	}
	return nil
}

func (w *Writer) writeData(dst io.WriterAt, g geometry, dir *node) error {
	for _, c := range sortedChildren(dir) {
		if c.clusters == 0 {
			continue
		}
		data := c.data
		if c.dir {
			data = w.dirEntries(c, dir, false)
		}
		if _, err := dst.WriteAt(data, g.clusterOffset(c.cluster)); err != nil {
			return fmt.Errorf("fat: write %s: %w", c.name, err)
		}
		if c.dir {
			if err := w.writeData(dst, g, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) bootSector(g geometry) []byte {
	b := make([]byte, sectorSize)
	copy(b[0:], []byte{0xEB, 0x3C, 0x90})
	copy(b[3:11], "EDGEGATE")
	le := binary.LittleEndian
	le.PutUint16(b[11:], sectorSize)
	b[13] = byte(g.sectorsPerCluster)
	le.PutUint16(b[14:], reservedSectors)
	b[16] = 1 // one FAT: the device's reader computes offsets with one copy
	le.PutUint16(b[17:], RootEntries)
	if g.totalSectors < 0x10000 {
		le.PutUint16(b[19:], uint16(g.totalSectors))
	} else {
		le.PutUint32(b[32:], uint32(g.totalSectors))
	}
	b[21] = mediaHardDisk
	le.PutUint16(b[22:], uint16(g.fatSectors))
	le.PutUint16(b[24:], 32) // sectors per track
	le.PutUint16(b[26:], 64) // heads
	le.PutUint32(b[28:], w.opts.HiddenSectors)
	b[36] = 0x80 // drive number
	b[38] = 0x29 // extended boot signature
	le.PutUint32(b[39:], w.opts.VolumeID)
	copy(b[43:54], padLabel(w.opts.Label))
	copy(b[54:62], "FAT16   ")
	b[510], b[511] = 0x55, 0xAA
	return b
}

func padLabel(label string) []byte {
	if label == "" {
		label = "NO NAME"
	}
	return []byte(fmt.Sprintf("%-11s", strings.ToUpper(label)))
}

// dirEntries encodes the entries of directory n (parent is nil for root).
func (w *Writer) dirEntries(n, parent *node, root bool) []byte {
	var out []byte
	date, tm := fatTimeDate(w.opts.ModTime)
	if root {
		e := entry(padLabel(w.opts.Label), attrVolumeID, 0, date, tm, 0, 0)
		out = append(out, e...)
	} else {
		out = append(out, entry([]byte(".          "), attrDirectory, 0, date, tm, n.cluster, 0)...)
		pc := uint16(0)
		if parent != nil {
			pc = parent.cluster
		}
		out = append(out, entry([]byte("..         "), attrDirectory, 0, date, tm, pc, 0)...)
	}
	used := map[string]bool{}
	for _, c := range sortedChildren(n) {
		short, caseFlags, needLong := shortName(c.name, used)
		used[string(short)] = true
		if needLong {
			out = append(out, longEntries(c.name, short)...)
		}
		attr, size := byte(attrArchive), uint32(len(c.data))
		if c.dir {
			attr, size = attrDirectory, 0
		}
		out = append(out, entry(short, attr, caseFlags, date, tm, c.cluster, size)...)
	}
	return out
}

func entry(name11 []byte, attr, caseFlags byte, date, tm, cluster uint16, size uint32) []byte {
	e := make([]byte, dirEntrySize)
	copy(e[0:11], name11)
	e[11] = attr
	e[12] = caseFlags
	le := binary.LittleEndian
	le.PutUint16(e[14:], tm)
	le.PutUint16(e[16:], date)
	le.PutUint16(e[18:], date)
	le.PutUint16(e[22:], tm)
	le.PutUint16(e[24:], date)
	le.PutUint16(e[26:], cluster)
	le.PutUint32(e[28:], size)
	return e
}

func fatTimeDate(t time.Time) (date, tm uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, tm
}
