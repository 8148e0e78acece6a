package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// gokrazyHTTPSocket is where gokrazy's HTTP handlers (reboot, update) listen
// locally, next to the network listeners.
const gokrazyHTTPSocket = "/run/gokrazy-http.sock"

// HealthCheck reports whether the new build is healthy.
type HealthCheck func(ctx context.Context) error

// RunTrial waits up to timeout for the new build to be healthy, then
// commits it (boot configuration on the running root) and reboots into it;
// otherwise it reboots without committing, which starts the previous build.
func RunTrial(ctx context.Context, con *Console, st BootState, timeout time.Duration) {
	con.Printf("update: trying build on root partition %d; it has %s to become healthy, else the previous build (partition %d) comes back", st.Running, timeout, st.CmdlineRoot)
	check := gatewayHealthy
	if !provisioned() {
		con.Printf("update: not provisioned yet: the build is healthy once the init runs")
		check = func(context.Context) error { return nil }
	}
	err := waitHealthy(ctx, check, timeout, 2*time.Second)
	if err != nil {
		con.Printf("update: new build NOT healthy (%v): rebooting into the previous build", err)
		reboot(con)
		return
	}
	if err := RewriteBootFAT(st.BootDevice, st.Running); err != nil {
		con.Printf("update: committing the new build failed (%v): rebooting into the previous build", err)
		reboot(con)
		return
	}
	con.Printf("update: new build healthy; committed root partition %d, rebooting into it", st.Running)
	reboot(con)
}

// waitHealthy polls check every interval until it succeeds or timeout.
func waitHealthy(ctx context.Context, check HealthCheck, timeout, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s: %w", timeout, last)
		case <-t.C:
		}
	}
}

func provisioned() bool {
	_, err := os.Stat(ProvisioningDir + "/cloud-token")
	return err == nil
}

// gatewayHealthy asks the gateway's node API for /_node/health.
func gatewayHealthy(ctx context.Context) error {
	c := &http.Client{Timeout: 3 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, GatewayHealthURL, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway health: %s", resp.Status)
	}
	return nil
}

// reboot asks gokrazy to reboot (it stops the services, unmounts /perm and
// kexecs the kernel with the boot partition's command line); if that fails
// it syncs and resets the machine.
func reboot(con *Console) {
	if err := gokrazyReboot(); err != nil {
		con.Printf("reboot through gokrazy failed (%v); resetting", err)
		unix.Sync()
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
			con.Printf("reboot: %v", err)
		}
	}
}

func gokrazyReboot() error {
	pw, err := os.ReadFile("/etc/gokr-pw.txt")
	if err != nil {
		return err
	}
	c := &http.Client{
		Timeout: 3 * time.Minute, // gokrazy waits for services to stop
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", gokrazyHTTPSocket)
			},
		},
	}
	req, err := http.NewRequest(http.MethodPost, "http://gokrazy/reboot?wait_per_signal="+RebootSignalWait.String(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("gokrazy", strings.TrimSpace(string(pw)))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("gokrazy /reboot: " + resp.Status)
	}
	return nil
}
