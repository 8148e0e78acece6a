// Package ext2 makes an empty ext2 file system (mounted by Linux's ext4
// driver), so the appliance can format an empty /perm partition on its first
// boot without a mke2fs binary on the read-only root.
//
// The file system is deliberately plain: revision 1, 4 KiB blocks, 128-byte
// inodes, one inode per 16 KiB, the sparse_super, large_file and filetype
// features, a root directory and lost+found. e2fsck accepts it as clean. It
// has no journal: the gateway's bbolt database is copy-on-write and fsyncs
// every transaction, which is what keeps its state consistent.
package ext2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

const (
	blockSize      = 4096
	blocksPerGroup = 8 * blockSize
	inodeSize      = 128
	bytesPerInode  = 16384
	inodesPerGroup = blocksPerGroup * blockSize / bytesPerInode // 8192
	itableBlocks   = inodesPerGroup * inodeSize / blockSize     // 256
	rootIno        = 2
	lostFoundIno   = 11
	firstIno       = 11
	magic          = 0xEF53
)

// ErrTooSmall is returned for a device too small for a file system.
var ErrTooSmall = errors.New("ext2: device too small")

// Options describe the file system. Zero values mean the defaults noted.
type Options struct {
	Size  int64     // bytes of the device; required
	Label string    // volume name, at most 16 bytes
	UUID  [16]byte  // file system UUID
	Now   time.Time // timestamps; default time.Now()
}

// layout is the computed geometry.
type layout struct {
	blocks    uint32 // total blocks
	groups    uint32
	gdtBlocks uint32
}

func (l layout) groupStart(g uint32) uint32 { return g * blocksPerGroup }

func (l layout) groupBlocks(g uint32) uint32 {
	if g == l.groups-1 {
		return l.blocks - g*blocksPerGroup
	}
	return blocksPerGroup
}

// hasSuper reports whether group g holds a superblock backup (sparse_super:
// groups 0, 1 and powers of 3, 5 and 7).
func hasSuper(g uint32) bool {
	if g <= 1 {
		return true
	}
	for _, base := range []uint32{3, 5, 7} {
		n := base
		for n < g {
			n *= base
		}
		if n == g {
			return true
		}
	}
	return false
}

// overhead is the number of metadata blocks at the start of group g.
func (l layout) overhead(g uint32) uint32 {
	n := uint32(2 + itableBlocks) // block bitmap, inode bitmap, inode table
	if hasSuper(g) {
		n += 1 + l.gdtBlocks
	}
	return n
}

func computeLayout(size int64) (layout, error) {
	blocks := size / blockSize
	if blocks > 1<<32-1 {
		return layout{}, fmt.Errorf("ext2: %d bytes is more than this formatter handles (16 TiB)", size)
	}
	l := layout{blocks: uint32(blocks)}
	for {
		l.groups = (l.blocks + blocksPerGroup - 1) / blocksPerGroup
		if l.groups == 0 {
			return layout{}, ErrTooSmall
		}
		l.gdtBlocks = (l.groups*32 + blockSize - 1) / blockSize
		last := l.groups - 1
		if l.groupBlocks(last) >= l.overhead(last)+16 {
			break
		}
		if l.groups == 1 {
			return layout{}, fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
		}
		l.blocks = last * blocksPerGroup // drop a last group too small to hold its metadata
	}
	return l, nil
}

// Format writes the file system to dev, which must be Options.Size bytes.
// It writes every metadata block (inode tables included), so whatever was
// on the device before cannot be mistaken for file system data.
func Format(dev io.WriterAt, o Options) error {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if len(o.Label) > 16 {
		return fmt.Errorf("ext2: label %q is longer than 16 bytes", o.Label)
	}
	l, err := computeLayout(o.Size)
	if err != nil {
		return err
	}
	f := &formatter{dev: dev, o: o, l: l}
	return f.run()
}

type formatter struct {
	dev io.WriterAt
	o   Options
	l   layout
}

func (f *formatter) writeBlock(b uint32, data []byte) error {
	buf := make([]byte, blockSize)
	copy(buf, data)
	if _, err := f.dev.WriteAt(buf, int64(b)*blockSize); err != nil {
		return fmt.Errorf("ext2: write block %d: %w", b, err)
	}
	return nil
}

func (f *formatter) run() error {
	l := f.l
	// Group 0 holds the root directory's and lost+found's blocks after its
	// metadata.
	rootBlock := l.overhead(0)
	lfBlock := rootBlock + 1
	var freeBlocks, freeInodes uint32
	gdt := make([]byte, l.gdtBlocks*blockSize)
	for g := uint32(0); g < l.groups; g++ {
		start := l.groupStart(g)
		meta := start
		if hasSuper(g) {
			meta += 1 + l.gdtBlocks
		}
		used := l.overhead(g)
		usedInodes := uint32(0)
		dirs := uint16(0)
		if g == 0 {
			used += 2
			usedInodes = firstIno // inodes 1..11 (reserved, root, lost+found)
			dirs = 2
		}
		if err := f.writeBlock(meta, bitmap(used, l.groupBlocks(g))); err != nil {
			return err
		}
		if err := f.writeBlock(meta+1, bitmap(usedInodes, inodesPerGroup)); err != nil {
			return err
		}
		zero := make([]byte, blockSize)
		for i := uint32(0); i < itableBlocks; i++ {
			if err := f.writeBlock(meta+2+i, zero); err != nil {
				return err
			}
		}
		free := l.groupBlocks(g) - used
		freeBlocks += free
		freeInodes += inodesPerGroup - usedInodes
		d := gdt[g*32:]
		le := binary.LittleEndian
		le.PutUint32(d[0:], meta)
		le.PutUint32(d[4:], meta+1)
		le.PutUint32(d[8:], meta+2)
		le.PutUint16(d[12:], uint16(free))
		le.PutUint16(d[14:], uint16(inodesPerGroup-usedInodes))
		le.PutUint16(d[16:], dirs)
	}
	if err := f.writeInodes(rootBlock, lfBlock); err != nil {
		return err
	}
	if err := f.writeDirs(rootBlock, lfBlock); err != nil {
		return err
	}
	for g := uint32(0); g < l.groups; g++ {
		if !hasSuper(g) {
			continue
		}
		start := l.groupStart(g)
		sb := f.superblock(g, freeBlocks, freeInodes)
		block := make([]byte, blockSize)
		off := 0
		if g == 0 {
			off = 1024 // the primary superblock sits 1024 bytes into block 0
		}
		copy(block[off:], sb)
		if err := f.writeBlock(start, block); err != nil {
			return err
		}
		for i := uint32(0); i < l.gdtBlocks; i++ {
			if err := f.writeBlock(start+1+i, gdt[i*blockSize:(i+1)*blockSize]); err != nil {
				return err
			}
		}
	}
	return nil
}

// bitmap returns a bitmap block with the first used bits set, and the bits
// past size (beyond the group's end) set too, as e2fsck expects.
func bitmap(used, size uint32) []byte {
	b := make([]byte, blockSize)
	for i := uint32(0); i < blockSize*8; i++ {
		if i < used || i >= size {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

func (f *formatter) superblock(group, freeBlocks, freeInodes uint32) []byte {
	l := f.l
	sb := make([]byte, 1024)
	le := binary.LittleEndian
	now := uint32(f.o.Now.Unix())
	le.PutUint32(sb[0:], l.groups*inodesPerGroup)
	le.PutUint32(sb[4:], l.blocks)
	le.PutUint32(sb[8:], 0) // no reserved blocks: the gateway is the only user
	le.PutUint32(sb[12:], freeBlocks)
	le.PutUint32(sb[16:], freeInodes)
	le.PutUint32(sb[20:], 0) // first data block (4 KiB blocks)
	le.PutUint32(sb[24:], 2) // log2(block size) - 10
	le.PutUint32(sb[28:], 2)
	le.PutUint32(sb[32:], blocksPerGroup)
	le.PutUint32(sb[36:], blocksPerGroup)
	le.PutUint32(sb[40:], inodesPerGroup)
	le.PutUint32(sb[48:], now) // last write
	le.PutUint16(sb[54:], 0xFFFF)
	le.PutUint16(sb[56:], magic)
	le.PutUint16(sb[58:], 1) // clean
	le.PutUint16(sb[60:], 1) // on errors: continue
	le.PutUint32(sb[64:], now)
	le.PutUint32(sb[76:], 1) // revision 1 (dynamic)
	le.PutUint32(sb[84:], firstIno)
	le.PutUint16(sb[88:], inodeSize)
	le.PutUint16(sb[90:], uint16(group))
	le.PutUint32(sb[96:], 0x2)      // incompat: filetype
	le.PutUint32(sb[100:], 0x1|0x2) // ro_compat: sparse_super, large_file
	copy(sb[104:120], f.o.UUID[:])
	copy(sb[120:136], f.o.Label)
	copy(sb[236:252], f.o.UUID[:]) // directory hash seed
	le.PutUint32(sb[264:], now)    // mkfs time
	return sb
}

func (f *formatter) writeInodes(rootBlock, lfBlock uint32) error {
	table := make([]byte, 2*blockSize) // the first inodes of group 0's table
	now := uint32(f.o.Now.Unix())
	dir := func(ino uint32, mode uint16, links uint16, block uint32) {
		in := table[(ino-1)*inodeSize:]
		le := binary.LittleEndian
		le.PutUint16(in[0:], mode)
		le.PutUint32(in[4:], blockSize)
		le.PutUint32(in[8:], now)
		le.PutUint32(in[12:], now)
		le.PutUint32(in[16:], now)
		le.PutUint16(in[26:], links)
		le.PutUint32(in[28:], blockSize/512)
		le.PutUint32(in[40:], block)
	}
	dir(rootIno, 0x4000|0o755, 3, rootBlock)
	dir(lostFoundIno, 0x4000|0o700, 2, lfBlock)
	itable := f.l.overhead(0) - itableBlocks
	for i := uint32(0); i < 2; i++ {
		if err := f.writeBlock(itable+i, table[i*blockSize:(i+1)*blockSize]); err != nil {
			return err
		}
	}
	return nil
}

// dirent encodes one directory entry with the filetype byte (2: directory).
func dirent(ino uint32, name string, recLen uint16) []byte {
	e := make([]byte, recLen)
	binary.LittleEndian.PutUint32(e[0:], ino)
	binary.LittleEndian.PutUint16(e[4:], recLen)
	e[6] = byte(len(name))
	e[7] = 2
	copy(e[8:], name)
	return e
}

func (f *formatter) writeDirs(rootBlock, lfBlock uint32) error {
	var root []byte
	root = append(root, dirent(rootIno, ".", 12)...)
	root = append(root, dirent(rootIno, "..", 12)...)
	root = append(root, dirent(lostFoundIno, "lost+found", blockSize-24)...)
	if err := f.writeBlock(rootBlock, root); err != nil {
		return err
	}
	var lf []byte
	lf = append(lf, dirent(lostFoundIno, ".", 12)...)
	lf = append(lf, dirent(rootIno, "..", blockSize-12)...)
	return f.writeBlock(lfBlock, lf)
}
