package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// memFile is an in-memory io.WriterAt/io.ReaderAt.
type memFile struct{ b []byte }

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if int(off) >= len(m.b) {
		return 0, errors.New("EOF")
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, errors.New("short read")
	}
	return n, nil
}

var testFiles = map[string][]byte{
	"/vmlinuz":                       bytes.Repeat([]byte("K"), 70000),
	"/cmdline.txt":                   []byte("root=PARTUUID=x/PARTNROFF=1 ro\n" + strings.Repeat(" ", 200)),
	"/loader/entries/gokrazy.conf":   []byte("title gokrazy\nlinux /vmlinuz\n"),
	"/EFI/BOOT/BOOTX64.EFI":          []byte("efi"),
	"/bcm2711-rpi-4-b.dtb":           []byte("dtb"),
	"/overlays/disable-bt.dtbo":      []byte("overlay"),
	"/edgegate/cloud-token":          []byte("token"),
	"/a-very-long-file-name.txt":     []byte("long"),
	"/a-very-long-file-name-2.txt":   []byte("long2"),
	"/empty":                         nil,
	"/Mixed.Txt":                     []byte("mixed"),
	"/overlays/README":               []byte("readme"),
	"/overlays/vc4-kms-v3d-pi4.dtbo": []byte("vc4"),
}

// deviceNeeds are the files the device locates with its own reader.
var deviceNeeds = map[string]bool{"/vmlinuz": true, "/cmdline.txt": true, "/loader/entries/gokrazy.conf": true}

func buildTest(t *testing.T, size int64) *memFile {
	t.Helper()
	w, err := NewWriter(Options{Size: size, Label: "EDGEGATE", VolumeID: 0x1234, ModTime: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range testFiles {
		if err := w.AddFile(p, b); err != nil {
			t.Fatal(err)
		}
	}
	m := &memFile{}
	if _, err := w.WriteTo(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	m := buildTest(t, 8<<20)
	rd, err := NewReader(m)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Label() != "EDGEGATE" || rd.NumFATs() != 1 {
		t.Fatalf("label %q fats %d", rd.Label(), rd.NumFATs())
	}
	for p, want := range testFiles {
		t.Run(p, func(t *testing.T) {
			got, err := rd.ReadFile(p, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("content differs: %d vs %d bytes", len(got), len(want))
			}
			off, n, err := rd.Extents(p)
			if err != nil || n != int64(len(want)) {
				t.Fatalf("extents %d %d %v", off, n, err)
			}
			if n > 0 && !bytes.Equal(m.b[off:off+n], want) {
				t.Fatal("extent does not hold the file")
			}
			if ok, err := rd.Contiguous(p); err != nil || !ok {
				t.Fatalf("not contiguous: %v", err)
			}
			// The device's reader finds files by short name.
			if deviceNeeds[p] {
				if doff, dn, err := deviceExtents(m, p); err != nil || doff != off || dn != n {
					t.Fatalf("device reader: %d %d %v, want %d %d", doff, dn, err, off, n)
				}
			}
		})
	}
	if _, err := rd.Stat("/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
}

// deviceExtents mirrors the on-device reader's algorithm (a fact-for-fact
// restatement, written here): offsets computed with exactly one FAT, names
// compared as lower-case short names, first match wins, subdirectories
// scanned for the root directory's entry count.
func deviceExtents(m *memFile, p string) (int64, int64, error) {
	b := m.b
	le := binary.LittleEndian
	ss := int64(le.Uint16(b[11:]))
	spc := int64(b[13])
	res := int64(le.Uint16(b[14:]))
	rootEntries := int64(le.Uint16(b[17:]))
	fatSectors := int64(le.Uint16(b[22:]))
	dirOff := (res + fatSectors) * ss
	dataOff := dirOff + (rootEntries*32+ss-1)/ss*ss
	for _, comp := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		found := false
		for i := int64(0); i < rootEntries; i++ {
			e := b[dirOff+i*32 : dirOff+i*32+32]
			if e[0] == 0 {
				continue
			}
			name := string(bytes.TrimRight(e[0:8], " "))
			if e[8] != ' ' {
				name += "." + string(e[8:11])
			}
			base, ext := splitName(strings.ToUpper(comp))
			fit := len(base) <= 8 && len(ext) <= 3
			want := base
			if len(want) > 8 {
				want = want[:8]
			}
			if !fit {
				want = want[:min(len(want), 6)] + "~1"
			}
			// The device always appends "." and the (blank-padded, then
			// trimmed) extension: a name without one ends in a dot and
			// matches only through the exact, case-sensitive comparison.
			if len(ext) > 3 {
				ext = ext[:3]
			}
			want += "." + ext
			if strings.ToLower(name) != strings.ToLower(want) && name != comp {
				continue
			}
			off := dataOff + int64(le.Uint16(e[26:])-2)*spc*ss
			if e[11] == attrDirectory {
				dirOff = off
				found = true
				break
			}
			return off, int64(le.Uint32(e[28:])), nil
		}
		if !found {
			return 0, 0, ErrNotFound
		}
	}
	return 0, 0, ErrNotFound
}

func TestDosfsck(t *testing.T) {
	if _, err := exec.LookPath("fsck.fat"); err != nil {
		t.Fatalf("fsck.fat is missing: apt-get install dosfstools (make test installs it)")
	}
	m := buildTest(t, 8<<20)
	img := filepath.Join(t.TempDir(), "fat.img")
	if err := os.WriteFile(img, m.b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("fsck.fat", "-n", "-v", img).CombinedOutput()
	if err != nil {
		t.Fatalf("fsck.fat: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("mdir"); err != nil {
		t.Fatalf("mdir is missing: apt-get install mtools (make test installs it)")
	}
	out, err = exec.Command("mtype", "-i", img, "::/overlays/vc4-kms-v3d-pi4.dtbo").CombinedOutput()
	if err != nil || string(out) != "vc4" {
		t.Fatalf("mtype: %v %q", err, out)
	}
}

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		size    int64
		wantErr bool
	}{
		{1 << 20, true},
		{4 << 20, false},
		{100 << 20, false},
		{2000 << 20, false},
		{8 << 30, true},
	} {
		t.Run(time.Duration(tc.size).String(), func(t *testing.T) {
			g, err := computeGeometry(tc.size)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if err == nil && (g.clusters < minClusters || g.clusters > maxClusters) {
				t.Fatalf("clusters %d", g.clusters)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	w, err := NewWriter(Options{Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddFile("/big", make([]byte, 5<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(&memFile{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func FuzzReader(f *testing.F) {
	m := &memFile{}
	w, _ := NewWriter(Options{Size: 4 << 20, Label: "X"})
	_ = w.AddFile("/edgegate/cloud-token", []byte("t"))
	if _, err := w.WriteTo(m); err != nil {
		f.Fatal(err)
	}
	f.Add(m.b[:64<<10])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 512 {
			return
		}
		rd, err := NewReader(&memFile{b: b})
		if err != nil {
			return
		}
		_, _ = rd.ReadDir("/edgegate")
		_, _ = rd.ReadFile("/edgegate/cloud-token", 1<<16)
	})
}
