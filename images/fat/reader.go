package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// ErrNotFound is returned by Reader methods for a path that does not exist.
var ErrNotFound = errors.New("fat: file not found")

// ErrNotFAT is returned by NewReader for data that is not a FAT12/16 file
// system this package can read.
var ErrNotFAT = errors.New("fat: not a FAT16 file system")

// maxDirEntries bounds how many entries a directory walk reads.
const maxDirEntries = 1 << 16

// Reader reads a FAT16 file system. It reads the layout fields the device's
// reader reads (sector size, sectors per cluster, reserved sectors, root
// entries, sectors per FAT) plus the FAT count, so it reads any FAT16 volume.
type Reader struct {
	r                 io.ReaderAt
	sectorSize        int64
	sectorsPerCluster int64
	reservedSectors   int64
	numFATs           int64
	rootEntries       int64
	fatSectors        int64
	label             string
}

// NewReader parses the boot sector of the FAT file system in r.
func NewReader(r io.ReaderAt) (*Reader, error) {
	b := make([]byte, sectorSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("fat: read boot sector: %w", err)
	}
	le := binary.LittleEndian
	rd := &Reader{
		r:                 r,
		sectorSize:        int64(le.Uint16(b[11:])),
		sectorsPerCluster: int64(b[13]),
		reservedSectors:   int64(le.Uint16(b[14:])),
		numFATs:           int64(b[16]),
		rootEntries:       int64(le.Uint16(b[17:])),
		fatSectors:        int64(le.Uint16(b[22:])),
	}
	if b[510] != 0x55 || b[511] != 0xAA || rd.sectorSize < 512 || rd.sectorsPerCluster == 0 ||
		rd.numFATs == 0 || rd.fatSectors == 0 || rd.rootEntries == 0 {
		return nil, ErrNotFAT
	}
	if b[38] == 0x29 {
		rd.label = strings.TrimRight(string(b[43:54]), " ")
	}
	return rd, nil
}

// Label returns the volume label from the boot sector ("" when absent).
func (rd *Reader) Label() string { return rd.label }

// NumFATs returns the number of FAT copies.
func (rd *Reader) NumFATs() int { return int(rd.numFATs) }

func (rd *Reader) rootOffset() int64 {
	return (rd.reservedSectors + rd.numFATs*rd.fatSectors) * rd.sectorSize
}

func (rd *Reader) dataOffset() int64 {
	rootBytes := rd.rootEntries * dirEntrySize
	rootSectors := (rootBytes + rd.sectorSize - 1) / rd.sectorSize
	return rd.rootOffset() + rootSectors*rd.sectorSize
}

func (rd *Reader) clusterOffset(c uint16) int64 {
	return rd.dataOffset() + int64(c-2)*rd.sectorsPerCluster*rd.sectorSize
}

// DirEntry is one entry of a directory.
type DirEntry struct {
	Name    string // long name when present, else the short name
	Short   string // the 8.3 name as NAME.EXT
	Dir     bool
	Cluster uint16
	Size    int64
}

// readDir reads the entries of the directory starting at off (max entries).
func (rd *Reader) readDir(off, max int64) ([]DirEntry, error) {
	var out []DirEntry
	var long []uint16
	e := make([]byte, dirEntrySize)
	for i := int64(0); i < max && i < maxDirEntries; i++ {
		if _, err := rd.r.ReadAt(e, off+i*dirEntrySize); err != nil {
			return nil, fmt.Errorf("fat: read directory: %w", err)
		}
		switch {
		case e[0] == 0:
			return out, nil
		case e[0] == 0xE5:
			long = nil
			continue
		case e[11] == attrLongName:
			long = append(decodeLong(e), long...)
			continue
		case e[11]&attrVolumeID != 0:
			long = nil
			continue
		}
		de := DirEntry{
			Short:   shortString(e),
			Dir:     e[11]&attrDirectory != 0,
			Cluster: binary.LittleEndian.Uint16(e[26:]),
			Size:    int64(binary.LittleEndian.Uint32(e[28:])),
		}
		de.Name = de.Short
		if long != nil {
			de.Name = string(utf16.Decode(long))
		} else if e[12]&(ntLowerBase|ntLowerExt) != 0 {
			de.Name = applyCase(e)
		}
		long = nil
		out = append(out, de)
	}
	return out, nil
}

func shortString(e []byte) string {
	base := string(bytes.TrimRight(e[0:8], " "))
	ext := string(bytes.TrimRight(e[8:11], " "))
	if ext == "" {
		return base
	}
	return base + "." + ext
}

func applyCase(e []byte) string {
	base := string(bytes.TrimRight(e[0:8], " "))
	ext := string(bytes.TrimRight(e[8:11], " "))
	if e[12]&ntLowerBase != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&ntLowerExt != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// ReadDir lists the directory at the slash-separated path p ("/" for root).
func (rd *Reader) ReadDir(p string) ([]DirEntry, error) {
	off, max := rd.rootOffset(), rd.rootEntries
	for _, c := range splitPath(p) {
		de, err := rd.lookup(off, max, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !de.Dir {
			return nil, fmt.Errorf("fat: %s: %q is not a directory", p, c)
		}
		off, max = rd.clusterOffset(de.Cluster), rd.rootEntries
	}
	return rd.readDir(off, max)
}

func (rd *Reader) lookup(off, max int64, name string) (DirEntry, error) {
	entries, err := rd.readDir(off, max)
	if err != nil {
		return DirEntry{}, err
	}
	for _, de := range entries {
		if strings.EqualFold(de.Name, name) || strings.EqualFold(de.Short, name) {
			return de, nil
		}
	}
	return DirEntry{}, ErrNotFound
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Stat returns the entry for path p.
func (rd *Reader) Stat(p string) (DirEntry, error) {
	comps := splitPath(p)
	if len(comps) == 0 {
		return DirEntry{Name: "/", Dir: true}, nil
	}
	off, max := rd.rootOffset(), rd.rootEntries
	var de DirEntry
	for i, c := range comps {
		var err error
		de, err = rd.lookup(off, max, c)
		if err != nil {
			return DirEntry{}, fmt.Errorf("%s: %w", p, err)
		}
		if i < len(comps)-1 {
			if !de.Dir {
				return DirEntry{}, fmt.Errorf("%s: %w", p, ErrNotFound)
			}
			off = rd.clusterOffset(de.Cluster)
		}
	}
	return de, nil
}

// Extents returns the byte offset and length of file p, assuming it is
// stored contiguously (as Writer stores every file). This is how the device
// finds its command line to rewrite it in place.
func (rd *Reader) Extents(p string) (offset, length int64, err error) {
	de, err := rd.Stat(p)
	if err != nil {
		return 0, 0, err
	}
	if de.Dir {
		return 0, 0, fmt.Errorf("fat: %s is a directory", p)
	}
	if de.Cluster == 0 {
		return 0, 0, nil
	}
	return rd.clusterOffset(de.Cluster), de.Size, nil
}

// Contiguous reports whether file p's cluster chain is one run.
func (rd *Reader) Contiguous(p string) (bool, error) {
	de, err := rd.Stat(p)
	if err != nil {
		return false, err
	}
	chain, err := rd.chain(de.Cluster)
	if err != nil {
		return false, err
	}
	for i := 1; i < len(chain); i++ {
		if chain[i] != chain[i-1]+1 {
			return false, nil
		}
	}
	return true, nil
}

// chain follows the FAT from cluster c (FAT16 entries).
func (rd *Reader) chain(c uint16) ([]uint16, error) {
	var out []uint16
	fatOff := rd.reservedSectors * rd.sectorSize
	maxEntries := rd.fatSectors * rd.sectorSize / 2
	b := make([]byte, 2)
	for c >= 2 && c < 0xFFF8 {
		if int64(c) >= maxEntries || int64(len(out)) > maxEntries {
			return nil, fmt.Errorf("fat: broken cluster chain at %d", c)
		}
		out = append(out, c)
		if _, err := rd.r.ReadAt(b, fatOff+int64(c)*2); err != nil {
			return nil, fmt.Errorf("fat: read FAT: %w", err)
		}
		c = binary.LittleEndian.Uint16(b)
	}
	return out, nil
}

// ReadFile returns the contents of file p, following its cluster chain.
// It reads at most max bytes (an error beyond).
func (rd *Reader) ReadFile(p string, max int64) ([]byte, error) {
	de, err := rd.Stat(p)
	if err != nil {
		return nil, err
	}
	if de.Dir {
		return nil, fmt.Errorf("fat: %s is a directory", p)
	}
	if de.Size > max {
		return nil, fmt.Errorf("fat: %s is %d bytes, more than the %d expected", p, de.Size, max)
	}
	chain, err := rd.chain(de.Cluster)
	if err != nil {
		return nil, err
	}
	cs := rd.sectorsPerCluster * rd.sectorSize
	out := make([]byte, 0, de.Size)
	for _, c := range chain {
		n := min(cs, de.Size-int64(len(out)))
		if n <= 0 {
			break
		}
		buf := make([]byte, n)
		if _, err := rd.r.ReadAt(buf, rd.clusterOffset(c)); err != nil {
			return nil, fmt.Errorf("fat: read %s: %w", p, err)
		}
		out = append(out, buf...)
	}
	if int64(len(out)) != de.Size {
		return nil, fmt.Errorf("fat: %s: chain holds %d of %d bytes", p, len(out), de.Size)
	}
	return out, nil
}
