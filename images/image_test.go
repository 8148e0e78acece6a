package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/images/fat"
)

// partitionReader returns a reader over partition i of the disk image.
func partitionReader(t *testing.T, disk *os.File, l Layout, i int) *io.SectionReader {
	t.Helper()
	return io.NewSectionReader(disk, l.Offset(i), l.Size(i))
}

func TestLayoutTable(t *testing.T) {
	l := NewLayout("edgegate", DefaultPerm)
	buf := tablesOnly(t, l)
	got, err := ReadLayout(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Partitions) != 4 || got.DiskGUID != l.DiskGUID {
		t.Fatalf("read back %+v", got)
	}
	for i, p := range got.Partitions {
		if p != l.Partitions[i] {
			t.Fatalf("partition %d: %+v, want %+v", i+1, p, l.Partitions[i])
		}
	}
	if l.Partitions[0].FirstLBA != FirstLBA || l.Partitions[1].Sectors*SectorSize != RootSize {
		t.Fatalf("layout %+v", l.Partitions)
	}
	if NewLayout("other", DefaultPerm).DiskGUID == l.DiskGUID {
		t.Fatal("different hostnames share a disk GUID")
	}
	t.Run("hybrid MBR", func(t *testing.T) {
		mbr := buf.b[:512]
		e1, e2 := mbr[446:462], mbr[462:478]
		if e1[0] != 0x80 || e1[4] != 0x0C || binary.LittleEndian.Uint32(e1[8:]) != FirstLBA {
			t.Fatalf("entry 1 (Pi boot FAT) %x", e1)
		}
		if e2[4] != 0xEE || binary.LittleEndian.Uint32(e2[8:]) != 1 {
			t.Fatalf("entry 2 (GPT protective) %x", e2)
		}
	})
	t.Run("corruption is detected", func(t *testing.T) {
		bad := memDisk{b: append([]byte(nil), buf.b...)}
		bad.b[1024+40] ^= 0xFF // a byte of partition 1's entry
		if _, err := ReadLayout(&bad); !errors.Is(err, ErrBadTable) {
			t.Fatalf("got %v", err)
		}
	})
}

// tablesOnly writes l's tables to a sparse file and returns its first 34
// sectors (MBR, primary GPT) in memory.
func tablesOnly(t testing.TB, l Layout) *memDisk {
	t.Helper()
	f, err := os.Create(t.TempDir() + "/disk")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := l.WriteTables(f); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 34*512)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return &memDisk{b: b}
}

// memDisk is an in-memory disk for the partition table tests.
type memDisk struct{ b []byte }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if int(off)+len(p) > len(m.b) {
		return 0, io.EOF
	}
	return copy(p, m.b[off:]), nil
}

func FuzzReadLayout(f *testing.F) {
	f.Add(tablesOnly(f, NewLayout("edgegate", DefaultPerm)).b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadLayout(&memDisk{b: b})
	})
}

// TestAmd64Image checks the built amd64 image the way the device reads it:
// the partition table, the boot FAT with gokrazy's reader rules, and the
// root squashfs in both root partitions.
func TestAmd64Image(t *testing.T) {
	requireTools(t, imageTools)
	r := images.build(t, "amd64-a", Options{Target: "amd64", TrialTimeout: 75e9})
	disk, err := os.Open(r.Disk)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	l, err := ReadLayout(disk)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Partitions) != 4 || l.Partitions[0].Type != TypeEFISystem {
		t.Fatalf("partitions %+v", l.Partitions)
	}
	boot := partitionReader(t, disk, l, 1)
	rd, err := fat.NewReader(boot)
	if err != nil {
		t.Fatal(err)
	}
	if rd.NumFATs() != 1 {
		t.Fatalf("%d FATs: the device's reader needs exactly one", rd.NumFATs())
	}
	for _, p := range []string{"/vmlinuz", "/cmdline.txt", "/loader/entries/gokrazy.conf", "/EFI/BOOT/BOOTX64.EFI"} {
		t.Run(p, func(t *testing.T) {
			ok, err := rd.Contiguous(p)
			if err != nil || !ok {
				t.Fatalf("contiguous: %v %v", ok, err)
			}
		})
	}
	cmd, err := rd.ReadFile("/cmdline.txt", 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := "root=PARTUUID=" + l.Partitions[0].GUID.String() + "/PARTNROFF=1"
	if len(cmd) != BootConfigSize || !strings.Contains(string(cmd), want) || !strings.Contains(string(cmd), "init=/gokrazy/init") {
		t.Fatalf("cmdline.txt %q", cmd)
	}
	// Both root partitions hold the same squashfs.
	root, err := os.ReadFile(r.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 3} {
		b := make([]byte, len(root))
		if _, err := partitionReader(t, disk, l, i).ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, root) {
			t.Fatalf("partition %d does not hold root.img", i)
		}
		if string(b[:4]) != "hsqs" {
			t.Fatalf("partition %d is not squashfs", i)
		}
	}
	// /perm is ext4.
	sb := make([]byte, 2)
	if _, err := partitionReader(t, disk, l, 4).ReadAt(sb, 0x438); err != nil || binary.LittleEndian.Uint16(sb) != 0xEF53 {
		t.Fatalf("/perm is not ext4: %x %v", sb, err)
	}
	// The update part boot.img is the start of partition 1.
	bootImg, err := os.ReadFile(r.Boot)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(bootImg))
	if _, err := boot.ReadAt(b, 0); err != nil || !bytes.Equal(b, bootImg) {
		t.Fatalf("boot.img differs from partition 1: %v", err)
	}
	st, _ := os.Stat(r.Disk)
	t.Logf("MEASURE amd64: disk.img %d MiB (sparse), root.img %.1f MiB, boot.img %.1f MiB",
		st.Size()>>20, float64(len(root))/(1<<20), float64(len(bootImg))/(1<<20))
}

// TestReproducible assembles the amd64 image twice from the same Go
// binaries and compares every output byte for byte. (The Go builds are
// reproducible by themselves with -trimpath and no build id; building them
// twice here would race with edits to the shared tree.)
func TestReproducible(t *testing.T) {
	requireTools(t, imageTools)
	opts := Options{Target: "amd64", Dir: repoRoot}
	if err := opts.defaults(); err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	if _, err := buildBinaries(t.Context(), opts, Targets["amd64"], binDir); err != nil {
		t.Fatal(err)
	}
	a := images.build(t, "amd64-repro-1", Options{Target: "amd64", BinDir: binDir})
	b := images.build(t, "amd64-repro-2", Options{Target: "amd64", BinDir: binDir})
	for _, pair := range [][2]string{{a.Disk, b.Disk}, {a.Boot, b.Boot}, {a.Root, b.Root}} {
		ha, hb := fileHash(t, pair[0]), fileHash(t, pair[1])
		if ha != hb {
			t.Errorf("%s and %s differ", pair[0], pair[1])
		}
	}
	if a.BuildID != b.BuildID {
		t.Errorf("build ids %s and %s differ", a.BuildID, b.BuildID)
	}
}

func fileHash(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestRpiImage checks the Raspberry Pi image's layout: the hybrid MBR the
// firmware reads, and the firmware, kernel, device trees and config.txt in
// the boot FAT.
func TestRpiImage(t *testing.T) {
	requireTools(t, map[string]string{"mksquashfs": "squashfs-tools", "mkfs.ext4": "e2fsprogs"})
	r := images.build(t, "rpi", Options{Target: "rpi", PermOnDevice: true})
	disk, err := os.Open(r.Disk)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	l, err := ReadLayout(disk)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := fat.NewReader(partitionReader(t, disk, l, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/bootcode.bin", "/start4.elf", "/fixup4.dat", "/config.txt", "/vmlinuz",
		"/cmdline.txt", "/bcm2711-rpi-4-b.dtb", "/bcm2712-rpi-5-b.dtb", "/overlays"} {
		t.Run(p, func(t *testing.T) {
			if _, err := rd.Stat(p); err != nil {
				t.Fatal(err)
			}
		})
	}
	cfg, err := rd.ReadFile("/config.txt", 1<<16)
	if err != nil || !strings.Contains(string(cfg), "kernel=vmlinuz") {
		t.Fatalf("config.txt %q %v", cfg, err)
	}
	if _, err := rd.Stat("/EFI"); err == nil {
		t.Fatal("the Pi image carries the UEFI loader")
	}
}
