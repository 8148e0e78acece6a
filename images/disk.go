package images

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// Disk geometry of the appliance (gokrazy's layout).
const (
	SectorSize     = 512
	FirstLBA       = 8192 // first partition starts at 4 MiB
	BootSize       = 100 << 20
	RootSize       = 500 << 20
	DefaultPerm    = 256 << 20
	gptEntries     = 128
	gptEntrySize   = 128
	gptEntrySecs   = gptEntries * gptEntrySize / SectorSize
	mbrTypeFAT32   = 0x0C
	mbrTypeGPTProt = 0xEE
)

// GPT partition type GUIDs.
var (
	TypeEFISystem = mustGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeLinuxFS   = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
)

// GUID is a GPT GUID in its textual byte order.
type GUID [16]byte

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// ParseGUID parses the 8-4-4-4-12 hex form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return g, fmt.Errorf("guid %q: want 32 hex digits", s)
	}
	for i := 0; i < 16; i++ {
		var v byte
		if _, err := fmt.Sscanf(h[2*i:2*i+2], "%02x", &v); err != nil {
			return g, fmt.Errorf("guid %q: %w", s, err)
		}
		g[i] = v
	}
	return g, nil
}

// String formats the GUID in lower case 8-4-4-4-12 form.
func (g GUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

// mixedEndian is the on-disk encoding of a GUID in GPT.
func (g GUID) mixedEndian() []byte {
	b := make([]byte, 16)
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:], g[8:])
	return b
}

func guidFromMixed(b []byte) GUID {
	var g GUID
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:16])
	return g
}

// DerivedGUID makes a stable version-4-shaped GUID from the hostname and a
// purpose, so two builds for the same host get the same identifiers.
func DerivedGUID(hostname, purpose string) GUID {
	sum := sha256.Sum256([]byte("edgegate image\x00" + hostname + "\x00" + purpose))
	var g GUID
	copy(g[:], sum[:16])
	g[6] = g[6]&0x0F | 0x40
	g[8] = g[8]&0x3F | 0x80
	return g
}

// Partition is one GPT partition.
type Partition struct {
	Name     string
	Type     GUID
	GUID     GUID
	FirstLBA uint64
	Sectors  uint64
}

// Layout is the partition table of a whole disk.
type Layout struct {
	DiskGUID      GUID
	DiskSignature uint32 // MBR disk signature
	TotalSectors  uint64
	Partitions    []Partition
}

// NewLayout returns gokrazy's layout for hostname with a /perm of permBytes.
func NewLayout(hostname string, permBytes int64) Layout {
	sec := func(b int64) uint64 { return uint64(b / SectorSize) }
	l := Layout{DiskGUID: DerivedGUID(hostname, "disk")}
	sig := sha256.Sum256([]byte("edgegate mbr\x00" + hostname))
	l.DiskSignature = binary.LittleEndian.Uint32(sig[:4])
	lba := uint64(FirstLBA)
	add := func(name string, typ GUID, sectors uint64) {
		l.Partitions = append(l.Partitions, Partition{
			Name: name, Type: typ, GUID: DerivedGUID(hostname, "partition "+name),
			FirstLBA: lba, Sectors: sectors,
		})
		lba += sectors
	}
	add("boot", TypeEFISystem, sec(BootSize))
	add("root2", TypeLinuxFS, sec(RootSize))
	add("root3", TypeLinuxFS, sec(RootSize))
	add("perm", TypeLinuxFS, sec(permBytes))
	l.TotalSectors = lba + gptEntrySecs + 1 // backup entries and header
	return l
}

// Offset is the byte offset of partition i (1-based, as in /dev/sda1).
func (l Layout) Offset(i int) int64 { return int64(l.Partitions[i-1].FirstLBA) * SectorSize }

// Size is the byte size of partition i (1-based).
func (l Layout) Size(i int) int64 { return int64(l.Partitions[i-1].Sectors) * SectorSize }

// WriteTables writes the hybrid MBR, the primary and the backup GPT.
func (l Layout) WriteTables(w io.WriterAt) error {
	entries := l.entryArray()
	entriesCRC := crc32.ChecksumIEEE(entries)
	last := l.TotalSectors - 1
	primary := l.header(1, last, 2, entriesCRC)
	backup := l.header(last, 1, last-gptEntrySecs, entriesCRC)
	writes := []struct {
		b   []byte
		lba uint64
	}{
		{l.mbr(), 0},
		{primary, 1},
		{entries, 2},
		{entries, last - gptEntrySecs},
		{backup, last},
	}
	for _, x := range writes {
		if _, err := w.WriteAt(x.b, int64(x.lba)*SectorSize); err != nil {
			return fmt.Errorf("write partition table: %w", err)
		}
	}
	return nil
}

func (l Layout) entryArray() []byte {
	b := make([]byte, gptEntries*gptEntrySize)
	for i, p := range l.Partitions {
		e := b[i*gptEntrySize:]
		copy(e[0:], p.Type.mixedEndian())
		copy(e[16:], p.GUID.mixedEndian())
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.FirstLBA+p.Sectors-1)
		for j, u := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	return b
}

func (l Layout) header(self, alternate, entriesLBA uint64, entriesCRC uint32) []byte {
	h := make([]byte, SectorSize)
	le := binary.LittleEndian
	copy(h[0:], "EFI PART")
	le.PutUint32(h[8:], 0x00010000)
	le.PutUint32(h[12:], 92)
	le.PutUint64(h[24:], self)
	le.PutUint64(h[32:], alternate)
	le.PutUint64(h[40:], 2+gptEntrySecs)                // first usable
	le.PutUint64(h[48:], l.TotalSectors-2-gptEntrySecs) // last usable
	copy(h[56:], l.DiskGUID.mixedEndian())
	le.PutUint64(h[72:], entriesLBA)
	le.PutUint32(h[80:], gptEntries)
	le.PutUint32(h[84:], gptEntrySize)
	le.PutUint32(h[88:], entriesCRC)
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	return h
}

// mbr is a hybrid MBR: entry 1 is the boot FAT (type 0x0C, active), which the
// Raspberry Pi firmware reads; entry 2 protects the GPT (type 0xEE) from LBA
// 1 up to the first partition, which makes UEFI and Linux use the GPT.
func (l Layout) mbr() []byte {
	b := make([]byte, SectorSize)
	binary.LittleEndian.PutUint32(b[440:], l.DiskSignature)
	boot := l.Partitions[0]
	mbrEntry(b[446:], 0x80, mbrTypeFAT32, uint32(boot.FirstLBA), uint32(boot.Sectors))
	mbrEntry(b[462:], 0x00, mbrTypeGPTProt, 1, uint32(boot.FirstLBA-1))
	b[510], b[511] = 0x55, 0xAA
	return b
}

func mbrEntry(e []byte, status, typ byte, first, sectors uint32) {
	e[0] = status
	copy(e[1:4], []byte{0xFE, 0xFF, 0xFF}) // CHS unused: LBA only
	e[4] = typ
	copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(e[8:], first)
	binary.LittleEndian.PutUint32(e[12:], sectors)
}

// ErrBadTable is returned by ReadLayout for an invalid partition table.
var ErrBadTable = errors.New("invalid partition table")

// ReadLayout reads and checks the primary GPT of a disk image (header and
// entry CRCs, the hybrid MBR's boot entry) and returns its partitions.
func ReadLayout(r io.ReaderAt) (Layout, error) {
	mbr := make([]byte, SectorSize)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return Layout{}, fmt.Errorf("read MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return Layout{}, fmt.Errorf("%w: no MBR signature", ErrBadTable)
	}
	h := make([]byte, SectorSize)
	if _, err := r.ReadAt(h, SectorSize); err != nil {
		return Layout{}, fmt.Errorf("read GPT header: %w", err)
	}
	le := binary.LittleEndian
	if string(h[0:8]) != "EFI PART" {
		return Layout{}, fmt.Errorf("%w: no GPT header", ErrBadTable)
	}
	crc := le.Uint32(h[16:])
	hc := append([]byte(nil), h[:92]...)
	le.PutUint32(hc[16:], 0)
	if crc32.ChecksumIEEE(hc) != crc {
		return Layout{}, fmt.Errorf("%w: GPT header CRC mismatch", ErrBadTable)
	}
	n, size := le.Uint32(h[80:]), le.Uint32(h[84:])
	if n == 0 || n > 1024 || size != gptEntrySize {
		return Layout{}, fmt.Errorf("%w: %d entries of %d bytes", ErrBadTable, n, size)
	}
	entries := make([]byte, n*size)
	if _, err := r.ReadAt(entries, int64(le.Uint64(h[72:]))*SectorSize); err != nil {
		return Layout{}, fmt.Errorf("read GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != le.Uint32(h[88:]) {
		return Layout{}, fmt.Errorf("%w: GPT entries CRC mismatch", ErrBadTable)
	}
	l := Layout{
		DiskGUID:      guidFromMixed(h[56:72]),
		DiskSignature: le.Uint32(mbr[440:]),
		TotalSectors:  le.Uint64(h[32:]) + 1,
	}
	for i := uint32(0); i < n; i++ {
		e := entries[i*size : (i+1)*size]
		typ := guidFromMixed(e[0:16])
		if typ == (GUID{}) {
			continue
		}
		var units []uint16
		for j := 56; j+1 < 128; j += 2 {
			if u := le.Uint16(e[j:]); u != 0 {
				units = append(units, u)
			} else {
				break
			}
		}
		first, lastLBA := le.Uint64(e[32:]), le.Uint64(e[40:])
		if lastLBA < first {
			return Layout{}, fmt.Errorf("%w: partition %d ends before it starts", ErrBadTable, i+1)
		}
		l.Partitions = append(l.Partitions, Partition{
			Name: string(utf16.Decode(units)), Type: typ, GUID: guidFromMixed(e[16:32]),
			FirstLBA: first, Sectors: lastLBA - first + 1,
		})
	}
	return l, nil
}
