package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgegate/edgegate/provisioning"
)

// Launcher runs the gateway on the appliance and watches for provisioning
// media. It is supervised by the init as "/gokrazy/init gateway".
//
// Every ScanInterval it lists the FAT volumes; a volume it has not seen
// yet (or that came back after being removed) is mounted read-only, its
// provisioning files read, validated and, when valid, installed into
// ProvisioningDir (a bad set never replaces a good one). The gateway is
// started once a cloud-token and license.key are installed, and restarted
// when they change. A gateway that exits with 125 ("not configured") is not
// restarted until the files change; other exits are restarted with backoff.
type Launcher struct {
	Console         *Console
	SysBlock        string        // default /sys/class/block
	DevDir          string        // default /dev
	MountDir        string        // default /run/edgegate-stick
	StateDir        string        // default StateDir
	ProvisioningDir string        // default ProvisioningDir
	Gateway         string        // default GatewayBinary
	ScanInterval    time.Duration // default 2s
	// Mount and Unmount default to read-only vfat mounts (tests replace them
	// because mounting needs root and a kernel).
	Mount   func(dev, dir string) error
	Unmount func(dir string) error
	Now     func() time.Time // default time.Now

	mountFailures map[string]int // owned by Run's goroutine
}

func (l *Launcher) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&l.SysBlock, "/sys/class/block")
	def(&l.DevDir, "/dev")
	def(&l.MountDir, "/run/edgegate-stick")
	def(&l.StateDir, StateDir)
	def(&l.ProvisioningDir, ProvisioningDir)
	def(&l.Gateway, GatewayBinary)
	if l.ScanInterval == 0 {
		l.ScanInterval = 2 * time.Second
	}
	if l.Mount == nil {
		l.Mount = func(dev, dir string) error {
			return syscall.Mount(dev, dir, "vfat", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
		}
	}
	if l.Unmount == nil {
		l.Unmount = func(dir string) error { return syscall.Unmount(dir, 0) }
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Console == nil {
		l.Console = NewConsole(os.Stderr)
	}
}

// gatewayProc is a running gateway and the channel its exit arrives on.
type gatewayProc struct {
	cmd  *exec.Cmd
	done chan error
}

// Run watches and launches until ctx is done, then stops the gateway
// (SIGTERM, then SIGKILL after GatewayStopTimeout) and returns.
func (l *Launcher) Run(ctx context.Context) error {
	l.defaults()
	seen := map[string]string{} // device -> label, for volumes already read
	var gw *gatewayProc
	var backoff time.Duration
	var nextStart time.Time
	notConfigured := false
	tick := time.NewTicker(l.ScanInterval)
	defer tick.Stop()
	for {
		if l.scan(seen) {
			notConfigured, backoff, nextStart = false, 0, time.Time{}
			if gw != nil {
				l.Console.Printf("restarting the gateway with the new provisioning")
				l.stop(gw)
				gw = nil
			}
		}
		if gw == nil && !notConfigured && l.haveCredentials() && !l.Now().Before(nextStart) {
			var err error
			if gw, err = l.start(); err != nil {
				l.Console.Printf("starting the gateway: %v", err)
			}
		}
		var exited chan error
		if gw != nil {
			exited = gw.done
		}
		select {
		case <-ctx.Done():
			if gw != nil {
				l.stop(gw)
			}
			// gokrazy stops the services before it reboots (by kexec,
			// reading the boot configuration through vfat) and never
			// syncs: its in-place edits of the boot configuration
			// (/update/bootonly, /update/testboot) would be read stale.
			unix.Sync()
			return nil
		case err := <-exited:
			gw = nil
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 125 {
				l.Console.Printf("the gateway says it is not configured (exit 125); waiting for a provisioning stick")
				notConfigured = true
				continue
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			nextStart = l.Now().Add(backoff)
			l.Console.Printf("the gateway exited (%v); restarting in %s", err, backoff)
		case <-tick.C:
		}
	}
}

func (l *Launcher) haveCredentials() bool {
	for _, f := range []string{provisioning.TokenFile, provisioning.LicenseFile} {
		if _, err := os.Stat(filepath.Join(l.ProvisioningDir, f)); err != nil {
			return false
		}
	}
	return true
}

// Args returns the gateway's command line.
func (l *Launcher) Args() []string {
	args := []string{"run", "--data-dir", l.StateDir,
		"--cloud-token-file", filepath.Join(l.ProvisioningDir, provisioning.TokenFile),
		"--license-file", filepath.Join(l.ProvisioningDir, provisioning.LicenseFile)}
	if b, err := os.ReadFile(filepath.Join(l.ProvisioningDir, provisioning.ConfigFile)); err == nil {
		if c, err := provisioning.ParseApplianceConfig(b); err == nil {
			args = append(args, c.Args()...)
		}
	}
	return args
}

func (l *Launcher) start() (*gatewayProc, error) {
	cmd := exec.Command(l.Gateway, l.Args()...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l.Console.Printf("gateway started: %s %s", l.Gateway, strings.Join(cmd.Args[1:], " "))
	p := &gatewayProc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }() // ends when the process exits
	return p, nil
}

// stop ends the gateway gracefully and waits for it.
func (l *Launcher) stop(p *gatewayProc) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
	select {
	case <-p.done:
	case <-time.After(GatewayStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// scan reads provisioning volumes not seen before and reports whether new
// valid files were installed.
func (l *Launcher) scan(seen map[string]string) (installed bool) {
	vols, err := provisioning.ScanFATVolumes(l.SysBlock, l.DevDir)
	if err != nil {
		l.Console.Printf("provisioning: %v", err)
		return false
	}
	present := map[string]bool{}
	for _, v := range vols {
		present[v.Device] = true
		if label, ok := seen[v.Device]; ok && label == v.Label {
			continue
		}
		ok, retry := l.readVolume(v)
		if !retry {
			seen[v.Device] = v.Label
		}
		installed = installed || ok
	}
	for dev := range seen {
		if !present[dev] {
			delete(seen, dev) // removed: read it again when it comes back
		}
	}
	return installed
}

// readVolume reads one volume. It reports whether new provisioning was
// installed, and whether to try the volume again at the next scan (it could
// not be mounted yet: a stick that is still settling).
func (l *Launcher) readVolume(v provisioning.FATVolume) (installed, retry bool) {
	dir := filepath.Join(l.MountDir, filepath.Base(v.Device))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		l.Console.Printf("provisioning: %v", err)
		return false, false
	}
	if err := l.Mount(v.Device, dir); err != nil {
		if l.mountFailures == nil {
			l.mountFailures = map[string]int{}
		}
		l.mountFailures[v.Device]++
		n := l.mountFailures[v.Device]
		if n == 1 || n == maxMountTries {
			l.Console.Printf("provisioning: cannot mount %s read-only (try %d of %d): %v", v.Device, n, maxMountTries, err)
		}
		return false, n < maxMountTries
	}
	delete(l.mountFailures, v.Device)
	files, err := provisioning.ReadStick(dir, v.Label)
	if uerr := l.Unmount(dir); uerr != nil {
		l.Console.Printf("provisioning: unmount %s: %v", v.Device, uerr)
	}
	if errors.Is(err, provisioning.ErrNoProvisioning) {
		return false, false
	}
	if err != nil {
		l.report(v, err)
		return false, false
	}
	return l.install(v, files), false
}

// GatewayStopTimeout bounds a graceful gateway stop; it is shorter than
// RebootSignalWait so the launcher syncs before gokrazy gives up on it.
const GatewayStopTimeout = 20 * time.Second

// RebootSignalWait is the wait_per_signal every reboot request passes to
// gokrazy: how long services get after SIGTERM before SIGKILL (gokrazy's
// default is 100 s, and one slow service then delays every reboot).
const RebootSignalWait = 45 * time.Second

// maxMountTries bounds the scans that retry a volume that does not mount.
const maxMountTries = 5

func (l *Launcher) install(v provisioning.FATVolume, files *provisioning.Files) bool {
	warning, err := files.Validate(l.Now(), nil)
	if err != nil {
		l.report(v, err)
		return false
	}
	if warning != "" {
		l.Console.Printf("provisioning: %s", warning)
	}
	changed, err := files.Install(l.ProvisioningDir)
	if err != nil {
		l.report(v, err)
		return false
	}
	_ = os.Remove(filepath.Join(l.ProvisioningDir, "last-error")) // may not exist
	if changed {
		l.Console.Printf("provisioning: installed cloud-token and license.key from %s (%s); the stick can be removed", v.Device, files.Source)
	} else {
		l.Console.Printf("provisioning: %s holds the installed provisioning already", v.Device)
	}
	return changed
}

// report says why a stick was refused, on the console and in
// ProvisioningDir/last-error (which the gateway's node API may show).
func (l *Launcher) report(v provisioning.FATVolume, err error) {
	msg := fmt.Sprintf("provisioning stick %s refused: %v; the installed provisioning (if any) stays in use", v.Device, err)
	if mkErr := os.MkdirAll(l.ProvisioningDir, 0o700); mkErr == nil {
		_ = os.WriteFile(filepath.Join(l.ProvisioningDir, "last-error"), []byte(msg+"\n"), 0o600) // best effort
	}
	l.Console.Printf("%s", msg)
}
