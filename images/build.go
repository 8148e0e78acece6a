// Package images builds the edgegate appliance disk image: gokrazy's layout
// (GPT plus a hybrid MBR; a FAT16 boot partition; root A and root B squashfs
// partitions; an ext4 /perm) with the gokrazy kernel and firmware pinned in
// go.mod, our init (cmd/edgegate-init), gokrazy's dhcp, ntp and randomd, and
// the gateway at /user/edgegate.
//
// # Basics
//
// Build assembles build/<target>/disk.img (to flash) and the update parts
// boot.img and root.img (for `edgegate update`), plus build-id.txt. It uses
// the Go toolchain and, from Debian, mksquashfs (squashfs-tools), mkfs.ext4
// (e2fsprogs) and, for amd64, systemd-boot (systemd-boot-efi); a missing
// tool is reported with the package to install.
//
// # Reproducibility
//
// Two builds of the same commit with the same password file are identical
// byte for byte: every timestamp is Options.Epoch (SOURCE_DATE_EPOCH),
// partition and file system identifiers derive from the hostname, directory
// entries are sorted, and Go binaries are built with -trimpath and no build
// id or VCS stamp.
//
// # Caveats
//
// The /perm file system is made at build time to the size in Options.Perm
// (it does not grow to fill a larger disk); see docs/appliance.md.
package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Targets names the images Build can make.
var Targets = map[string]Target{
	"amd64": {Name: "amd64", GOARCH: "amd64", KernelModule: "github.com/gokrazy/kernel.amd64", UEFI: true,
		Console: "console=tty1 console=ttyS0,115200"},
	"rpi": {Name: "rpi", GOARCH: "arm64", KernelModule: "github.com/gokrazy/kernel.rpi", Pi: true,
		Console: "console=tty1"},
	"arm64": {Name: "arm64", GOARCH: "arm64", KernelModule: "github.com/gokrazy/kernel.arm64",
		Console: "console=ttyAMA0,115200"},
}

// FirmwareModule is the module holding the Raspberry Pi firmware.
const FirmwareModule = "github.com/gokrazy/firmware"

// GokrazyModule provides the init runtime and the dhcp, ntp and randomd programs.
const GokrazyModule = "github.com/gokrazy/gokrazy"

// Target describes one kind of appliance.
type Target struct {
	Name         string
	GOARCH       string
	KernelModule string
	UEFI         bool   // systemd-boot as EFI/BOOT/BOOTX64.EFI
	Pi           bool   // Raspberry Pi firmware, device trees, config.txt
	Console      string // kernel console arguments
}

// Options configure Build. The zero value of each field means the default
// documented on it.
type Options struct {
	Target   string // "amd64", "rpi" or "arm64" (qemu -M virt); required
	OutDir   string // default build/<target>
	Hostname string // default "edgegate"
	// PasswordFile holds the device update password (gokr-pw.txt); default
	// build/gokr-pw.txt, created with a random password when missing.
	PasswordFile string
	GatewayPkg   string    // default ./cmd/edgegate
	InitPkg      string    // default ./cmd/edgegate-init
	Epoch        time.Time // default SOURCE_DATE_EPOCH, else the last commit's time
	Perm         int64     // /perm size in bytes; default DefaultPerm
	// TrialTimeout is how long a freshly updated build has to get the
	// gateway healthy before the device falls back; default 3 minutes.
	TrialTimeout time.Duration
	Log          io.Writer // progress; default os.Stderr
	// Dir is the module root the Go packages are built in; default ".".
	Dir string
	// PermOnDevice leaves /perm empty: the appliance formats it on its
	// first boot (see package appliance). The default formats it here.
	PermOnDevice bool
	// BinDir, when set, holds prebuilt init, edgegate, dhcp, ntp and
	// randomd for the target, and no Go code is built.
	BinDir string
}

// Result lists what Build wrote.
type Result struct {
	Disk, Boot, Root, BuildIDFile string
	BuildID                       string
	Layout                        Layout
}

// ErrMissingTool is wrapped by errors about a host tool that is not installed.
var ErrMissingTool = errors.New("missing tool")

func (o *Options) defaults() error {
	if _, ok := Targets[o.Target]; !ok {
		return fmt.Errorf("unknown target %q: use amd64, rpi or arm64", o.Target)
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.Dir, "build", o.Target)
	}
	if o.Hostname == "" {
		o.Hostname = "edgegate"
	}
	if o.PasswordFile == "" {
		o.PasswordFile = filepath.Join(o.Dir, "build", "gokr-pw.txt")
	}
	if o.GatewayPkg == "" {
		o.GatewayPkg = "./cmd/edgegate"
	}
	if o.InitPkg == "" {
		o.InitPkg = "./cmd/edgegate-init"
	}
	if o.Perm == 0 {
		o.Perm = DefaultPerm
	}
	if o.TrialTimeout == 0 {
		o.TrialTimeout = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Epoch.IsZero() {
		e, err := defaultEpoch(o.Dir)
		if err != nil {
			return err
		}
		o.Epoch = e
	}
	return nil
}

// defaultEpoch reads SOURCE_DATE_EPOCH, else the last commit's time.
func defaultEpoch(dir string) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%ct").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("no SOURCE_DATE_EPOCH and no git commit time: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git commit time %q: %w", out, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// CheckTools reports the first missing host tool for target t, naming the
// Debian package that provides it.
func CheckTools(t Target) error {
	tools := [][2]string{{"mksquashfs", "squashfs-tools"}, {"mkfs.ext4", "e2fsprogs"}, {"go", "golang (or /usr/local/go/bin in PATH)"}}
	for _, tl := range tools {
		if _, err := exec.LookPath(tl[0]); err != nil {
			return fmt.Errorf("%w: %s not found: apt-get install %s", ErrMissingTool, tl[0], tl[1])
		}
	}
	if t.UEFI {
		if _, err := os.Stat(SystemdBootEFI); err != nil {
			return fmt.Errorf("%w: %s not found: apt-get install systemd-boot-efi", ErrMissingTool, SystemdBootEFI)
		}
	}
	return nil
}

// SystemdBootEFI is where Debian's systemd-boot-efi installs the UEFI loader.
const SystemdBootEFI = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// step prints one progress line and returns a func that prints its duration.
func step(w io.Writer, n, total int, what string) func() {
	start := time.Now()
	fmt.Fprintf(w, "[%d/%d] %s ...\n", n, total, what)
	return func() { fmt.Fprintf(w, "      done in %.1fs\n", time.Since(start).Seconds()) }
}

// Build makes the image described by opts.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	t := Targets[opts.Target]
	if err := CheckTools(t); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "edgegate-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	const total = 6
	done := step(opts.Log, 1, total, fmt.Sprintf("building init, gateway, dhcp, ntp, randomd for linux/%s", t.GOARCH))
	bins, err := binariesFor(ctx, opts, t, filepath.Join(work, "bin"))
	if err != nil {
		return nil, err
	}
	done()
	password, err := readOrCreatePassword(opts.PasswordFile)
	if err != nil {
		return nil, err
	}
	done = step(opts.Log, 2, total, "assembling the root file system")
	rootDir := filepath.Join(work, "root")
	buildID, err := assembleRoot(ctx, opts, t, bins, rootDir, password)
	if err != nil {
		return nil, err
	}
	done()
	res := &Result{
		Disk: filepath.Join(opts.OutDir, "disk.img"), Boot: filepath.Join(opts.OutDir, "boot.img"),
		Root: filepath.Join(opts.OutDir, "root.img"), BuildIDFile: filepath.Join(opts.OutDir, "build-id.txt"),
		BuildID: buildID, Layout: NewLayout(opts.Hostname, opts.Perm),
	}
	done = step(opts.Log, 3, total, "making the root squashfs (gzip)")
	if err := mksquashfs(ctx, rootDir, res.Root, opts.Epoch); err != nil {
		return nil, err
	}
	done()
	done = step(opts.Log, 4, total, "writing the boot FAT")
	if err := writeBootImage(ctx, opts, t, res); err != nil {
		return nil, err
	}
	done()
	done = step(opts.Log, 5, total, "writing the disk image (partition table, boot, root A and B)")
	if err := writeDisk(res); err != nil {
		return nil, err
	}
	done()
	if opts.PermOnDevice {
		fmt.Fprintf(opts.Log, "[6/%d] /perm left empty: the appliance formats it on first boot\n", total)
	} else {
		done = step(opts.Log, 6, total, "formatting /perm (ext4)")
		if err := mkfsPerm(ctx, opts, res); err != nil {
			return nil, err
		}
		done()
	}
	if err := os.WriteFile(res.BuildIDFile, []byte(buildID+"\n"), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "image %s (build %s)\n  update parts: %s %s\n", res.Disk, buildID, res.Boot, res.Root)
	return res, nil
}

// moduleDir returns the directory of a module pinned in go.mod.
func moduleDir(ctx context.Context, dir, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list -m %s: %v: %s (is it required in go.mod? go get %s@latest)", module, err, ee.Stderr, module)
		}
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("module %s is not downloaded: run go mod download %s", module, module)
	}
	return d, nil
}

// binaries maps a program name to its built file.
type binaries map[string]string

// binariesFor returns prebuilt binaries from opts.BinDir, or builds them.
func binariesFor(ctx context.Context, opts Options, t Target, dir string) (binaries, error) {
	if opts.BinDir == "" {
		return buildBinaries(ctx, opts, t, dir)
	}
	bins := binaries{}
	for _, n := range []string{"init", "edgegate", "dhcp", "ntp", "randomd"} {
		p := filepath.Join(opts.BinDir, n)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("prebuilt binary: %w", err)
		}
		bins[n] = p
	}
	return bins, nil
}

func buildBinaries(ctx context.Context, opts Options, t Target, dir string) (binaries, error) {
	pkgs := map[string]string{
		"init":     opts.InitPkg,
		"edgegate": opts.GatewayPkg,
		"dhcp":     GokrazyModule + "/cmd/dhcp",
		"ntp":      GokrazyModule + "/cmd/ntp",
		"randomd":  GokrazyModule + "/cmd/randomd",
	}
	bins := binaries{}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out := filepath.Join(dir, n)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags=-s -w -buildid=", "-o", out, pkgs[n])
		cmd.Dir = opts.Dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.GOARCH, "GOFLAGS=-mod=readonly")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkgs[n], err, b)
		}
		bins[n] = out
	}
	return bins, nil
}

func readOrCreatePassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("password file %s is empty", path)
		}
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	pw, err := randomPassword()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// ApplianceConfig is /etc/edgegate/appliance.json in the root file system,
// read by the init.
type ApplianceConfig struct {
	BuildID             string `json:"buildID"`
	Hostname            string `json:"hostname"`
	TrialTimeoutSeconds int    `json:"trialTimeoutSeconds"`
}

// ApplianceConfigPath is where the init finds ApplianceConfig.
const ApplianceConfigPath = "/etc/edgegate/appliance.json"

func assembleRoot(ctx context.Context, opts Options, t Target, bins binaries, root, password string) (string, error) {
	files := map[string]string{ // root path -> source file
		"gokrazy/init":    bins["init"],
		"gokrazy/dhcp":    bins["dhcp"],
		"gokrazy/ntp":     bins["ntp"],
		"gokrazy/randomd": bins["randomd"],
		"user/edgegate":   bins["edgegate"],
	}
	for dst, src := range files {
		if err := copyFile(src, filepath.Join(root, dst), 0o755); err != nil {
			return "", err
		}
	}
	text := map[string]string{
		"etc/hostname":      opts.Hostname,
		"etc/hosts":         "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 " + opts.Hostname + "\n",
		"etc/gokr-pw.txt":   password,
		"etc/http-port.txt": "80",
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		text["etc/ssl/ca-bundle.pem"] = string(ca)
	}
	for p, s := range text {
		if err := writeFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			return "", err
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "perm", "run", "mnt", "etc/edgegate"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	links := map[string]string{"etc/resolv.conf": "/tmp/resolv.conf", "var": "/perm/var"}
	for p, target := range links {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			return "", err
		}
	}
	kdir, err := moduleDir(ctx, opts.Dir, t.KernelModule)
	if err != nil {
		return "", err
	}
	if err := copyTree(filepath.Join(kdir, "lib", "modules"), filepath.Join(root, "lib", "modules")); err != nil {
		return "", err
	}
	id, err := treeHash(root)
	if err != nil {
		return "", err
	}
	buildID := opts.Epoch.UTC().Format("20060102T150405Z") + "-" + id[:12]
	cfg, err := json.MarshalIndent(ApplianceConfig{
		BuildID: buildID, Hostname: opts.Hostname, TrialTimeoutSeconds: int(opts.TrialTimeout / time.Second),
	}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(root, ApplianceConfigPath), append(cfg, '\n'), 0o644); err != nil {
		return "", err
	}
	return buildID, nil
}

// treeHash hashes the names, modes and contents of every file under dir.
func treeHash(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00%v\x00", rel, d.Type())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			io.WriteString(h, t)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func mksquashfs(ctx context.Context, dir, out string, epoch time.Time) error {
	if err := os.Remove(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	e := strconv.FormatInt(epoch.Unix(), 10)
	cmd := exec.CommandContext(ctx, "mksquashfs", dir, out, "-comp", "gzip", "-noappend", "-all-root",
		"-no-xattrs", "-quiet", "-no-progress")
	// mksquashfs sets the file system and every inode time from it.
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+e)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs: %v\n%s", err, b)
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	if st.Size() > RootSize {
		return fmt.Errorf("root file system is %d bytes, larger than the %d-byte root partition", st.Size(), RootSize)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, b, mode)
}

func writeFile(dst string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		default:
			return copyFile(p, target, 0o644)
		}
	})
}
