// Package appliance is the edgegate appliance's init (PID 1 on gokrazy) and
// its gateway launcher with the provisioning watcher.
//
// # Boot
//
// Init calls gokrazy.Boot, makes sure /perm is usable, then supervises
// gokrazy's dhcp, ntp and randomd and the gateway launcher (the same binary
// run as "init gateway", see Launcher). The launcher starts
// `edgegate run --data-dir /perm/edgegate` as soon as provisioning files are
// in /perm/edgegate/provisioning, and installs new ones from any FAT
// partition labelled EDGEGATE or holding an edgegate/ folder, including a
// stick plugged in later.
//
// # Updates and fallback
//
// `edgegate update` writes the new root to the inactive partition and the
// boot partition, then asks gokrazy for a try-once boot (TryFlag) and
// reboots. The old init sees the flag, turns it into SwitchedFlag in the
// boot configuration, synced (so any later boot goes back to the old root),
// and starts the new root's init (StartTrial). That init runs in trial
// mode: when the gateway answers /_node/health within the build's trial
// timeout (or at once on a box that is not provisioned yet), it commits the
// new root in the boot configuration and reboots into it; otherwise it
// reboots, and the box comes back on the previous build. A new init that
// crashes makes the kernel panic and reboot (panic=10): same fallback.
package appliance

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gokrazy/gokrazy"

	"github.com/edgegate/edgegate/appliance/ext2"
	"golang.org/x/sys/unix"
)

// Paths on the appliance.
const (
	ConfigPath      = "/etc/edgegate/appliance.json"
	PermDir         = "/perm"
	StateDir        = "/perm/edgegate"
	ProvisioningDir = "/perm/edgegate/provisioning"
	GatewayBinary   = "/user/edgegate"
	InitBinary      = "/gokrazy/init"
	// GatewayHealthURL is the gateway's node API health endpoint
	// (the default --admin-listen).
	GatewayHealthURL = "http://127.0.0.1:18082/_node/health"
)

// Config is the image's /etc/edgegate/appliance.json (written by images).
type Config struct {
	BuildID             string `json:"buildID"`
	Hostname            string `json:"hostname"`
	TrialTimeoutSeconds int    `json:"trialTimeoutSeconds"`
}

// LoadConfig reads the image configuration; a missing file gives defaults.
func LoadConfig(path string) (Config, error) {
	c := Config{BuildID: "unknown", TrialTimeoutSeconds: 180}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// BootMode says how this init was started.
type BootMode int

const (
	// Normal: the kernel booted the root partition this init runs from.
	Normal BootMode = iota
	// Trial: a try-once boot of a new build (this init runs from the root
	// partition the command line does not name).
	Trial
	// TrialFailed: a try-once boot was asked for, but the old init could
	// not start the new root and went on itself.
	TrialFailed
	// TryRequested: a try-once boot was asked for and this is the old
	// build's init, which starts the new root (see StartTrial).
	TryRequested
)

func (m BootMode) String() string {
	return [...]string{"normal", "trial", "trial failed", "try requested"}[m]
}

// BootState is what the init knows about this boot.
type BootState struct {
	Cmdline     string
	CmdlineRoot int // the root partition the command line names
	Running     int // the partition / is mounted from (0 when unknown)
	BootDevice  string
	PermDevice  string // partition 4
	Mode        BootMode
}

// DetectBootState reads /proc/cmdline and the device of / (via /sys).
// /proc and /sys must be mounted.
func DetectBootState() (BootState, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return BootState{}, err
	}
	st := BootState{Cmdline: strings.TrimSpace(string(b))}
	st.CmdlineRoot = RootPartition(st.Cmdline)
	part, bootDev, permDev, err := runningPartition()
	st.Running, st.BootDevice, st.PermDevice = part, bootDev, permDev
	if err != nil {
		return st, err
	}
	st.Mode = ModeOf(st.Cmdline, st.CmdlineRoot, st.Running)
	return st, nil
}

// ModeOf decides the boot mode from the command line and the partition the
// root file system is mounted from.
func ModeOf(cmdline string, cmdlineRoot, running int) BootMode {
	if !HasFlag(cmdline, TryFlag) {
		return Normal
	}
	if running != 0 && running != cmdlineRoot {
		return Trial
	}
	if running == 0 {
		return TrialFailed // cannot tell where we run: do not switch
	}
	return TryRequested
}

// runningPartition finds the partition number / is mounted from, and the
// device nodes of partition 1 (boot) and 4 (/perm) on the same disk.
func runningPartition() (part int, bootDev, permDev string, err error) {
	var s unix.Stat_t
	if err := unix.Stat("/", &s); err != nil {
		return 0, "", "", err
	}
	sysDev := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(s.Dev), unix.Minor(s.Dev))
	pb, err := os.ReadFile(filepath.Join(sysDev, "partition"))
	if err != nil {
		return 0, "", "", fmt.Errorf("root is not on a partition: %w", err)
	}
	if part, err = strconv.Atoi(strings.TrimSpace(string(pb))); err != nil {
		return 0, "", "", err
	}
	real, err := filepath.EvalSymlinks(sysDev)
	if err != nil {
		return part, "", "", err
	}
	disk := filepath.Dir(real)
	entries, err := os.ReadDir(disk)
	if err != nil {
		return part, "", "", err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(disk, e.Name(), "partition"))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(b)) {
		case "1":
			bootDev = "/dev/" + e.Name()
		case "4":
			permDev = "/dev/" + e.Name()
		}
	}
	if bootDev == "" {
		return part, "", permDev, fmt.Errorf("no partition 1 next to %s", real)
	}
	return part, bootDev, permDev, nil
}

// mountEarly mounts /proc and /sys before gokrazy.Boot so the init can
// decide its mode first; gokrazy treats them as already mounted.
func mountEarly() {
	for _, m := range []struct{ src, dst, typ string }{{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}} {
		if err := syscall.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
			log.Printf("mount %s: %v", m.dst, err)
		}
	}
}

// Init is the appliance's PID 1. It returns only on a fatal error.
func Init() error {
	mountEarly()
	cfg, err := LoadConfig(ConfigPath)
	if err != nil {
		log.Printf("edgegate: %v (using defaults)", err)
	}
	st, stErr := DetectBootState()
	if st.Mode == TryRequested {
		err := StartTrial(st) // returns only on failure
		OpenConsole(false).Printf("update: cannot start the new build (%v); staying on this build", err)
		st.Mode = TrialFailed
	}
	label := cfg.BuildID
	if st.Mode == Trial {
		label += " (trial)"
	}
	if err := gokrazy.Boot(label); err != nil {
		return fmt.Errorf("gokrazy boot: %w", err)
	}
	con := OpenConsole(false)
	if stErr != nil {
		con.Printf("cannot tell which root partition is running (%v); updates fall back on a reboot only", stErr)
	}
	con.Printf("edgegate appliance build %s, root partition %d, %s boot", cfg.BuildID, st.Running, st.Mode)
	ensurePerm(con, st.PermDevice)
	services := []*gokrazy.Service{
		gokrazy.NewService(exec.Command("/gokrazy/dhcp")),
		gokrazy.NewService(exec.Command("/gokrazy/ntp")),
		gokrazy.NewService(exec.Command("/gokrazy/randomd")),
		gokrazy.NewService(exec.Command(InitBinary, "gateway")),
	}
	// gokrazy serves its HTTP API from http.DefaultServeMux behind its
	// password check; SyncPath is added there (see SyncHandler).
	http.Handle(SyncPath, SyncHandler())
	if err := gokrazy.SuperviseServices(services); err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	ctx := context.Background()
	switch st.Mode {
	case Trial:
		go RunTrial(ctx, con, st, time.Duration(cfg.TrialTimeoutSeconds)*time.Second)
	default:
		cleanBootConfig(con, st)
	}
	select {} // PID 1 never returns
}

// StartTrial starts the new build's init from the inactive root partition
// (the try-once boot), before gokrazy.Boot. gokrazy's Boot would do the same
// switch, but the boot configuration edit it makes first (the try flag
// becomes SwitchedFlag, so the next boot returns to this root) stays in the
// block device's cache: if the new build's kernel panics, that edit is lost
// and the machine tries the new build again and again. So the edit is made
// here and synced, and then the new root is mounted, moved onto / and its
// init executed. It returns only on failure.
func StartTrial(st BootState) error {
	if st.BootDevice == "" || st.PermDevice == "" {
		return fmt.Errorf("boot or perm partition not found")
	}
	if err := RewriteBootFAT(st.BootDevice, st.CmdlineRoot, SwitchedFlag); err != nil {
		return fmt.Errorf("mark the try-once boot as used: %w", err)
	}
	inactive := 5 - st.Running // 2 <-> 3
	dev := strings.TrimSuffix(st.PermDevice, "4") + strconv.Itoa(inactive)
	const mnt = "/mnt"
	if err := syscall.Mount(dev, mnt, "squashfs", syscall.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount %s: %w", dev, err)
	}
	if err := os.Chdir(mnt); err != nil {
		return err
	}
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the new root onto /: %w", err)
	}
	if err := syscall.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return syscall.Exec(InitBinary, []string{InitBinary}, os.Environ())
}

// SyncPath is the device API endpoint `edgegate update` calls before it
// reboots the device.
const SyncPath = "/edgegate/sync"

// SyncHandler answers POST by flushing every dirty block to disk.
// gokrazy's /update/bootonly and /update/testboot edit the boot
// configuration in place through the block device and do not sync; its
// reboot reads that configuration back through vfat (kexec), or the
// firmware reads it after a reset, and neither sees unwritten pages.
func SyncHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		unix.Sync()
		w.WriteHeader(http.StatusNoContent)
	})
}

// cleanBootConfig removes leftover try-once flags after a normal boot (for
// example the SwitchedFlag after a fallback), keeping the root the kernel
// booted.
func cleanBootConfig(con *Console, st BootState) {
	if st.BootDevice == "" || st.CmdlineRoot == 0 {
		return
	}
	line, err := ReadBootConfig(st.BootDevice)
	if err != nil {
		con.Printf("reading the boot configuration: %v", err)
		return
	}
	if !HasFlag(line, TryFlag) && !HasFlag(line, SwitchedFlag) && st.Mode == Normal {
		return
	}
	root := st.CmdlineRoot
	if st.Mode == TrialFailed {
		con.Printf("update: the new build's root partition could not be started; staying on this build")
		root = st.Running
	}
	if HasFlag(st.Cmdline, SwitchedFlag) {
		con.Printf("update: the previous try of a new build failed; running the previous build")
	}
	if err := RewriteBootFAT(st.BootDevice, root); err != nil {
		con.Printf("cleaning the boot configuration: %v", err)
	}
}

// ensurePerm makes sure /perm is usable. gokrazy mounts partition 4 if it
// holds a file system; if it is empty (its first MiB is zeros: a new disk,
// or an image built with -perm-on-device), it is formatted (ext2, see
// package ext2) and mounted. Otherwise the gateway runs on a tmpfs so the
// box still serves, and the console says what to do.
func ensurePerm(con *Console, permDev string) {
	if !mounted(PermDir) && permDev != "" {
		if err := formatIfEmpty(con, permDev); err != nil {
			con.Printf("/perm: %v", err)
		}
	}
	if !mounted(PermDir) {
		con.Printf("WARNING: /perm (partition 4) is not mounted: it holds no ext4 file system and is not empty. State will NOT survive a reboot. Reflash the image, or format partition 4 with mkfs.ext4 -L perm.")
		if err := syscall.Mount("tmpfs", PermDir, "tmpfs", 0, "size=64m"); err != nil {
			con.Printf("/perm: tmpfs: %v", err)
		}
	}
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		con.Printf("/perm: %v", err)
	}
}

// formatIfEmpty formats dev when its first MiB is all zeros, then mounts it
// on /perm as gokrazy would have.
func formatIfEmpty(con *Console, dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("read %s: %w", dev, err)
	}
	for _, b := range head {
		if b != 0 {
			return nil // not empty: never format over data
		}
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	con.Printf("/perm (%s, %d MiB) is empty: formatting it (first boot)", dev, size>>20)
	var uuid [16]byte
	if _, err := rand.Read(uuid[:]); err != nil {
		return err
	}
	if err := ext2.Format(f, ext2.Options{Size: size, Label: "perm", UUID: uuid}); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	var mountErr error
	for _, fstype := range []string{"ext4", "ext2"} {
		if mountErr = syscall.Mount(dev, PermDir, fstype, 0, ""); mountErr == nil {
			break
		}
	}
	if mountErr != nil {
		return fmt.Errorf("mount the new file system: %w", mountErr)
	}
	// What gokrazy sets up on /perm when it mounts it at boot.
	if err := os.MkdirAll("/perm/var", 0o755); err != nil {
		return err
	}
	if err := os.Symlink("/run", "/perm/var/run"); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	con.Printf("formatted /perm (%s) and mounted it", dev)
	return nil
}

// mounted reports whether dir is a mount point (its device differs from
// its parent's).
func mounted(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// Console writes operator messages to the log (gokrazy's status page) and
// to the local screen and serial console, so a box without a network still
// says what is wrong.
type Console struct {
	outs []io.Writer
}

// OpenConsole returns a Console on every active kernel console (screen and
// serial, from /sys/class/tty/console/active), plus stderr when withLog is
// set (a supervised service's stderr is gokrazy's log, not a console).
func OpenConsole(withLog bool) *Console {
	c := &Console{}
	if withLog {
		c.outs = append(c.outs, os.Stderr)
	}
	active, err := os.ReadFile("/sys/class/tty/console/active")
	if err != nil {
		c.outs = append(c.outs, os.Stderr)
		return c
	}
	for _, name := range strings.Fields(string(active)) {
		if f, err := os.OpenFile("/dev/"+name, os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
			c.outs = append(c.outs, f)
		}
	}
	return c
}

// NewConsole returns a Console writing to w (for tests and the launcher).
func NewConsole(w ...io.Writer) *Console { return &Console{outs: w} }

// Printf writes one line prefixed with "edgegate: ".
func (c *Console) Printf(format string, args ...any) {
	line := "edgegate: " + fmt.Sprintf(format, args...) + "\n"
	for _, w := range c.outs {
		_, _ = io.WriteString(w, line) // best effort: a console may be gone
	}
}
