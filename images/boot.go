package images

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/edgegate/edgegate/images/fat"
)

// BootConfigSize is the padded size of cmdline.txt and the systemd-boot
// entry: the device rewrites both in place (root partition switch, try-once
// flags), so they keep room to grow inside their cluster.
const BootConfigSize = 512

// Cmdline is the kernel command line for target t with root on partition
// rootPart (2 or 3) of the disk whose boot partition has GUID boot.
func Cmdline(t Target, boot GUID, rootPart int) string {
	return fmt.Sprintf("%s root=PARTUUID=%s/PARTNROFF=%d ro init=/gokrazy/init rootwait panic=10 oops=panic",
		t.Console, boot, rootPart-1)
}

// CmdlineFile is cmdline.txt: the command line, a newline, then spaces up to
// BootConfigSize. Padding after the newline lets the device append a flag
// before the newline without losing anything but padding.
func CmdlineFile(cmdline string) []byte {
	return padTo(cmdline+"\n", ' ')
}

// LoaderEntry is loader/entries/gokrazy.conf for systemd-boot. Its lines are
// separated by carriage returns (systemd-boot splits lines on CR and LF) and
// only the options line ends in a newline: the device appends try-once flags
// before every newline, which must touch only the kernel options.
func LoaderEntry(cmdline string) []byte {
	return padTo("title edgegate\rlinux /vmlinuz\roptions "+cmdline+"\n", '\r')
}

func padTo(s string, pad byte) []byte {
	b := []byte(s)
	for len(b) < BootConfigSize {
		b = append(b, pad)
	}
	return b
}

// bootVolumeID is the FAT volume id for hostname.
func bootVolumeID(hostname string) uint32 {
	g := DerivedGUID(hostname, "boot volume")
	return binary.LittleEndian.Uint32(g[:4])
}

func writeBootImage(ctx context.Context, opts Options, t Target, res *Result) error {
	w, err := fat.NewWriter(fat.Options{
		Size: BootSize, Label: "EGBOOT", VolumeID: bootVolumeID(opts.Hostname),
		HiddenSectors: FirstLBA, ModTime: opts.Epoch,
	})
	if err != nil {
		return err
	}
	kdir, err := moduleDir(ctx, opts.Dir, t.KernelModule)
	if err != nil {
		return err
	}
	add := func(dst, src string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return w.AddFile(dst, b)
	}
	if err := add("/vmlinuz", filepath.Join(kdir, "vmlinuz")); err != nil {
		return err
	}
	cmdline := Cmdline(t, res.Layout.Partitions[0].GUID, 2)
	if err := w.AddFile("/cmdline.txt", CmdlineFile(cmdline)); err != nil {
		return err
	}
	if t.UEFI {
		if err := add("/EFI/BOOT/BOOTX64.EFI", SystemdBootEFI); err != nil {
			return err
		}
		if err := w.AddFile("/loader/loader.conf", []byte("timeout 0\ndefault gokrazy.conf\n")); err != nil {
			return err
		}
		if err := w.AddFile("/loader/entries/gokrazy.conf", LoaderEntry(cmdline)); err != nil {
			return err
		}
	}
	if t.Pi {
		if err := addPiFiles(ctx, opts, kdir, add); err != nil {
			return err
		}
	}
	f, err := os.Create(res.Boot)
	if err != nil {
		return err
	}
	used, err := w.WriteTo(f)
	if err != nil {
		f.Close()
		return err
	}
	// The update part only needs the used clusters: the rest of the
	// partition is free space the new FAT does not reference.
	if err := f.Truncate(used); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// addPiFiles adds the device trees and overlays from the kernel module, the
// firmware's bootcode.bin, start*.elf and fixup*.dat, and config.txt.
func addPiFiles(ctx context.Context, opts Options, kdir string, add func(dst, src string) error) error {
	fwdir, err := moduleDir(ctx, opts.Dir, FirmwareModule)
	if err != nil {
		return err
	}
	globs := []struct{ dir, pattern, dst string }{
		{kdir, "*.dtb", "/"},
		{filepath.Join(kdir, "overlays"), "*", "/overlays/"},
		{fwdir, "bootcode.bin", "/"},
		{fwdir, "start*.elf", "/"},
		{fwdir, "fixup*.dat", "/"},
		{kdir, "config.txt", "/"},
	}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(g.dir, g.pattern))
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return fmt.Errorf("no %s in %s: is the module complete?", g.pattern, g.dir)
		}
		sort.Strings(matches)
		for _, m := range matches {
			if st, err := os.Stat(m); err != nil || !st.Mode().IsRegular() {
				continue
			}
			if err := add(g.dst+filepath.Base(m), m); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeDisk(res *Result) error {
	l := res.Layout
	f, err := os.Create(res.Disk)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(l.TotalSectors) * SectorSize); err != nil {
		f.Close()
		return err
	}
	if err := l.WriteTables(f); err != nil {
		f.Close()
		return err
	}
	parts := []struct {
		src string
		idx int
	}{{res.Boot, 1}, {res.Root, 2}, {res.Root, 3}}
	for _, p := range parts {
		if err := copyAt(f, p.src, l.Offset(p.idx), l.Size(p.idx)); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// copyAt writes file src into f at off, refusing more than max bytes.
// Zero blocks are skipped so the image stays sparse.
func copyAt(f *os.File, src string, off, max int64) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if int64(len(b)) > max {
		return fmt.Errorf("%s is %d bytes, larger than its %d-byte partition", src, len(b), max)
	}
	const block = 64 << 10
	for i := 0; i < len(b); i += block {
		chunk := b[i:min(i+block, len(b))]
		if isZero(chunk) {
			continue
		}
		if _, err := f.WriteAt(chunk, off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func mkfsPerm(ctx context.Context, opts Options, res *Result) error {
	l := res.Layout
	uuid := DerivedGUID(opts.Hostname, "perm file system").String()
	blocks := l.Size(4) / 4096
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "perm", "-U", uuid,
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s,root_owner=0:0,lazy_itable_init=0", l.Offset(4), uuid),
		res.Disk, strconv.FormatInt(blocks, 10))
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+strconv.FormatInt(opts.Epoch.Unix(), 10))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 /perm: %v\n%s", err, b)
	}
	return nil
}

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
