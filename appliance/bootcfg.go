package appliance

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/edgegate/edgegate/images/fat"
)

// Kernel command line flags gokrazy uses for a try-once boot: /update/testboot
// appends TryFlag; the old init, seeing it, rewrites it to SwitchedFlag (so
// the next boot goes back to the old root) and starts the inactive root.
const (
	TryFlag      = "gokrazy.try_boot_inactive=1"
	SwitchedFlag = "gokrazy.switch_on_boot=1"
)

// Boot configuration files the device rewrites in place.
const (
	CmdlinePath     = "/cmdline.txt"
	LoaderEntryPath = "/loader/entries/gokrazy.conf"
)

var rootArg = regexp.MustCompile(`root=PARTUUID=([0-9a-fA-F-]+)/PARTNROFF=([0-9])`)

// RootPartition returns the root partition number (2 or 3) a command line
// names, or 0 when it names none in gokrazy's GPT form.
func RootPartition(cmdline string) int {
	m := rootArg.FindStringSubmatch(cmdline)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[2])
	return n + 1
}

// HasFlag reports whether the command line holds flag as a whole word.
func HasFlag(cmdline, flag string) bool {
	for _, f := range strings.Fields(cmdline) {
		if f == flag {
			return true
		}
	}
	return false
}

// RewriteBootConfig returns a boot configuration file (cmdline.txt or the
// systemd-boot entry, as images writes them) with its root argument set to
// rootPart, gokrazy's try-once flags removed and flags appended, padded to
// its original length with pad. Everything up to the first newline is
// configuration; what follows is padding.
func RewriteBootConfig(content []byte, rootPart int, pad byte, flags ...string) ([]byte, error) {
	if rootPart != 2 && rootPart != 3 {
		return nil, fmt.Errorf("root partition %d is neither 2 nor 3", rootPart)
	}
	head := content
	if i := bytes.IndexByte(content, '\n'); i >= 0 {
		head = content[:i]
	}
	if !rootArg.Match(head) {
		return nil, fmt.Errorf("no root=PARTUUID=.../PARTNROFF= argument in %q", head)
	}
	s := rootArg.ReplaceAllString(string(head), "root=PARTUUID=${1}/PARTNROFF="+strconv.Itoa(rootPart-1))
	for _, flag := range []string{TryFlag, SwitchedFlag} {
		s = strings.ReplaceAll(s, " "+flag, "")
	}
	s = strings.TrimRight(s, " ")
	for _, f := range flags {
		s += " " + f
	}
	s += "\n"
	if len(s) > len(content) {
		return nil, fmt.Errorf("rewritten configuration (%d bytes) does not fit its file (%d bytes)", len(s), len(content))
	}
	out := []byte(s)
	for len(out) < len(content) {
		out = append(out, pad)
	}
	return out, nil
}

// bootFiles are the files RewriteBootFAT rewrites, with their padding byte;
// the systemd-boot entry is absent on the Raspberry Pi.
var bootFiles = []struct {
	path     string
	pad      byte
	optional bool
}{
	{CmdlinePath, ' ', false},
	{LoaderEntryPath, '\r', true},
}

// RewriteBootFAT rewrites the boot configuration in the FAT file system on
// device (the boot partition) in place: root on rootPart, no try-once flags
// but flags. It locates the files with the same reader logic the device
// uses, and syncs the device before returning: the kernel reads these files
// through vfat (kexec) or the firmware reads them after a reset, neither of
// which sees unwritten block device pages.
func RewriteBootFAT(device string, rootPart int, flags ...string) error {
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open boot partition: %w", err)
	}
	defer f.Close()
	rd, err := fat.NewReader(f)
	if err != nil {
		return fmt.Errorf("boot partition %s: %w", device, err)
	}
	for _, bf := range bootFiles {
		off, n, err := rd.Extents(bf.path)
		if err != nil {
			if bf.optional {
				continue
			}
			return fmt.Errorf("boot partition: %w", err)
		}
		old := make([]byte, n)
		if _, err := f.ReadAt(old, off); err != nil {
			return fmt.Errorf("read %s: %w", bf.path, err)
		}
		nb, err := RewriteBootConfig(old, rootPart, bf.pad, flags...)
		if err != nil {
			return fmt.Errorf("%s: %w", bf.path, err)
		}
		if _, err := f.WriteAt(nb, off); err != nil {
			return fmt.Errorf("write %s: %w", bf.path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync boot partition: %w", err)
	}
	return f.Close()
}

// ReadBootConfig returns the first line of cmdline.txt on the boot partition.
func ReadBootConfig(device string) (string, error) {
	f, err := os.Open(device)
	if err != nil {
		return "", fmt.Errorf("open boot partition: %w", err)
	}
	defer f.Close()
	rd, err := fat.NewReader(f)
	if err != nil {
		return "", err
	}
	b, err := rd.ReadFile(CmdlinePath, 64<<10)
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	return string(line), nil
}
