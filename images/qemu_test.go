package images

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/syncbuf"
)

// OVMF firmware from Debian's ovmf package.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// appliance is the amd64 image running under qemu (no KVM, UEFI).
type appliance struct {
	t       *testing.T
	qemu    *child
	console *syncbuf.Buffer
	gwPort  int // host port forwarded to the gateway's :8082
	gkPort  int // host port forwarded to gokrazy's :80
	client  *http.Client
	served  int // requests the gateway answered
	started time.Time
}

// bootAppliance starts qemu on disk with the stick attached as USB storage.
func bootAppliance(t *testing.T, disk, stick string) *appliance {
	t.Helper()
	dir := t.TempDir()
	vars := filepath.Join(dir, "vars.fd")
	b, err := os.ReadFile(ovmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// A long timeout and no connection reuse: every request sent gets its
	// answer and none is retried by the transport, so the requests the test
	// counts are exactly those the gateway served.
	a := &appliance{t: t, console: &syncbuf.Buffer{}, gwPort: freePort(t), gkPort: freePort(t),
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}}
	argv := []string{"qemu-system-x86_64", "-machine", "q35", "-m", "1024", "-smp", "2", "-nographic",
		"-drive", "if=pflash,format=raw,readonly=on,file=" + ovmfCode,
		"-drive", "if=pflash,format=raw,file=" + vars,
		"-drive", "file=" + disk + ",format=raw,if=virtio",
		"-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,file=" + stick,
		"-device", "usb-storage,bus=xhci.0,drive=stick",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8082,hostfwd=tcp:127.0.0.1:%d-:80", a.gwPort, a.gkPort),
		"-device", "virtio-net-pci,netdev=n0",
	}
	a.started = time.Now()
	a.qemu = startChild(t, "qemu", a.console, argv...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- appliance console, boot and edgegate lines:\n%s", grepLines(a.console.String(),
				"edgegate:", "VFS: Mounted root", "Kernel panic", "BdsDxe: starting", "sending sigterm", "services shut down", "did not stop"))
			t.Logf("--- appliance console (last lines):\n%s", tail(a.console.String(), 120))
		}
	})
	return a
}

// get sends one request through the gateway and counts it when answered.
func (a *appliance) get(path string) (int, string, error) {
	code, body, err := httpGet(a.client, fmt.Sprintf("http://127.0.0.1:%d%s", a.gwPort, path))
	if err == nil {
		a.served++
	}
	return code, body, err
}

// waitServed polls path until it answers 200 with want, and returns when.
func (a *appliance) waitServed(path, want string, within time.Duration) time.Duration {
	a.t.Helper()
	start := time.Now()
	eventually(a.t, within, 500*time.Millisecond, "GET "+path+" through the appliance", func() error {
		code, body, err := a.get(path)
		if err != nil {
			return err
		}
		if code != http.StatusOK || body != want {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	return time.Since(start)
}

// gokrazy calls the device's gokrazy API.
func (a *appliance) gokrazy(method, path, password string) (int, string, error) {
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", a.gkPort, path), nil)
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth("gokrazy", password)
	req.Header.Set("Accept", "application/json")
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var st struct{ BuildTimestamp string }
	_ = json.NewDecoder(resp.Body).Decode(&st) // only GET / answers JSON
	return resp.StatusCode, st.BuildTimestamp, nil
}

// cloudGate is a cloudgate serve on the host, reachable from the guest as 10.0.2.2.
type cloudGate struct {
	proc *child
	dir  string
	port int
	bin  string
}

func startCloudGate(t *testing.T, bin, dir string, port int) *cloudGate {
	t.Helper()
	g := &cloudGate{dir: dir, port: port, bin: bin}
	g.proc = startChild(t, "cloudgate", nil, filepath.Join(bin, "cloudgate"), "serve", "--data-dir", dir,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--geo", "local",
		"--public-url", fmt.Sprintf("https://10.0.2.2:%d", port))
	eventually(t, 30*time.Second, 200*time.Millisecond, "cloud gate up", func() error {
		if _, err := os.Stat(filepath.Join(dir, "admin-token")); err != nil {
			return err
		}
		_, err := runErr(g.cli("env", "create", "--org", "acme", "--env", "prod")...)
		return err
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- cloudgate output:\n%s", tail(g.proc.out.String(), 40))
		}
	})
	return g
}

func (g *cloudGate) cli(args ...string) []string {
	return append(append([]string{filepath.Join(g.bin, "cloudgate")}, args...),
		"--server", fmt.Sprintf("https://127.0.0.1:%d", g.port),
		"--admin-token-file", filepath.Join(g.dir, "admin-token"), "--ca-file", filepath.Join(g.dir, "ca.pem"))
}

// writeAPI writes a keyless v4 API definition proxying path to target.
func writeAPI(t *testing.T, dir, id, path, target string) string {
	t.Helper()
	def := map[string]any{
		"id": id, "name": "API " + id, "apiVersion": "1", "definitionVersion": "V4", "type": "proxy",
		"listeners": []any{map[string]any{
			"type": "http", "paths": []any{map[string]any{"path": path}},
			"entrypoints": []any{map[string]any{"type": "http-proxy"}},
		}},
		"endpointGroups": []any{map[string]any{
			"name": "default", "type": "http-proxy",
			"endpoints": []any{map[string]any{"name": "backend", "type": "http-proxy", "configuration": map[string]any{"target": target}}},
		}},
		"plans": []any{map[string]any{"id": "free", "name": "Free", "status": "PUBLISHED", "security": map[string]any{"type": "key-less"}}},
	}
	b, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, id+".json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// copySparse copies an image keeping it sparse (qemu writes to the copy).
func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// TestApplianceQEMU boots the real amd64 image under qemu (UEFI, no KVM)
// with a provisioning USB stick and a Cloud Gate on the host, then reboots
// it with the gate down, updates it, and pushes a broken build that must
// fall back. See docs/appliance.md.
func TestApplianceQEMU(t *testing.T) {
	requireTools(t, imageTools)
	requireTools(t, map[string]string{"qemu-system-x86_64": "qemu-system-x86", ovmfCode: "ovmf"})
	bin := hostBinaries(t)
	work := t.TempDir()

	// Three builds: the one flashed, a good update, a broken update.
	trial := 60 * time.Second
	first := images.build(t, "amd64-a", Options{Target: "amd64", TrialTimeout: trial})
	good := images.build(t, "amd64-b", Options{Target: "amd64", TrialTimeout: trial, Epoch: testEpoch.Add(time.Hour)})
	broken := images.build(t, "amd64-broken", Options{Target: "amd64", TrialTimeout: trial, Epoch: testEpoch.Add(2 * time.Hour),
		GatewayPkg: "./images/testdata/brokengw"})
	brokenInit := images.build(t, "amd64-broken-init", Options{Target: "amd64", TrialTimeout: trial, Epoch: testEpoch.Add(3 * time.Hour),
		InitPkg: "./images/testdata/brokeninit"})
	password := filepath.Join(images.dir, "gokr-pw.txt")
	pw, err := os.ReadFile(password)
	if err != nil {
		t.Fatal(err)
	}

	site := newSite(t, bin, work)
	gate, stick := site.gate, site.stick
	disk := filepath.Join(work, "disk.img")
	copySparse(t, first.Disk, disk)
	a := bootAppliance(t, disk, stick)
	a.waitServed("/orders/ping", "backend saw /v1/ping", 4*time.Minute)
	t.Logf("MEASURE power-on to first proxied answer (amd64, UEFI, no KVM): %.1fs", time.Since(a.started).Seconds())
	for i := range 5 {
		if code, body, err := a.get("/orders/n/" + strconv.Itoa(i)); err != nil || code != 200 || body != "backend saw /v1/n/"+strconv.Itoa(i) {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
	}

	t.Run("gate down, reboot: serves from /perm", func(t *testing.T) {
		gate.proc.stop()
		start := time.Now()
		if code, _, err := a.gokrazy(http.MethodPost, "/reboot?wait_per_signal=45s", string(trimNL(pw))); err != nil || code != 200 {
			t.Fatalf("reboot: %d %v", code, err)
		}
		// The gateway goes down, then serves again from its snapshot.
		eventually(t, time.Minute, time.Second, "gateway goes down", func() error {
			if _, _, err := httpGet(a.client, fmt.Sprintf("http://127.0.0.1:%d/_x", a.gwPort)); err == nil {
				a.served++
				return errors.New("still up")
			}
			return nil
		})
		a.waitServed("/orders/again", "backend saw /v1/again", 3*time.Minute)
		t.Logf("MEASURE reboot (kexec) to serving from /perm with the gate down: %.1fs", time.Since(start).Seconds())
	})

	gate = startCloudGate(t, bin, site.gateDir, site.gatePort)
	t.Run("gate back: every request served is counted", func(t *testing.T) {
		waitCount(t, gate, a.served)
	})

	t.Run("update to a new build", func(t *testing.T) {
		out := run(t, filepath.Join(bin, "edgegate"), "update", "--host", fmt.Sprintf("127.0.0.1:%d", a.gkPort),
			"--password-file", password, "--wait", "6m", filepath.Dir(good.Disk))
		t.Logf("edgegate update:\n%s", out)
		_, cur, err := a.gokrazy(http.MethodGet, "/", string(trimNL(pw)))
		if err != nil || cur != good.BuildID {
			t.Fatalf("device runs %q (%v), want %s", cur, err, good.BuildID)
		}
		if !strings.Contains(a.console.String(), "build "+good.BuildID+", root partition 3, normal boot") {
			t.Fatal("the new build does not run from the other root partition (3) after its commit")
		}
		a.waitServed("/orders/updated", "backend saw /v1/updated", 2*time.Minute)
	})

	t.Run("broken build falls back", func(t *testing.T) {
		out, err := runErr(filepath.Join(bin, "edgegate"), "update", "--host", fmt.Sprintf("127.0.0.1:%d", a.gkPort),
			"--password-file", password, "--wait", "8m", filepath.Dir(broken.Disk))
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("edgegate update of a broken build: want exit 3 (fell back), got %v\n%s", err, out)
		}
		t.Logf("edgegate update (broken build):\n%s", out)
		_, cur, err := a.gokrazy(http.MethodGet, "/", string(trimNL(pw)))
		if err != nil || cur != good.BuildID {
			t.Fatalf("device runs %q (%v), want the previous build %s", cur, err, good.BuildID)
		}
		a.waitServed("/orders/fallback", "backend saw /v1/fallback", 2*time.Minute)
	})

	t.Run("broken init falls back through a cold boot", func(t *testing.T) {
		// The new init dies, the kernel panics and the machine resets: the
		// firmware and systemd-boot read the boot configuration, which the
		// old init left pointing at the previous root.
		out, err := runErr(filepath.Join(bin, "edgegate"), "update", "--host", fmt.Sprintf("127.0.0.1:%d", a.gkPort),
			"--password-file", password, "--wait", "8m", filepath.Dir(brokenInit.Disk))
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("edgegate update of a broken init: want exit 3 (fell back), got %v\n%s", err, out)
		}
		// The new init ran if it said so, or if init exited at all (the
		// builds' own init never does; the panic line is the kernel's, which
		// the console cannot lose the way it can lose the dying init's).
		if con := a.console.String(); !strings.Contains(con, "brokeninit: this init is broken on purpose") &&
			!strings.Contains(con, "Attempted to kill init") {
			t.Fatal("the broken init never ran: the try-once boot did not start the new root")
		}
		_, cur, err := a.gokrazy(http.MethodGet, "/", string(trimNL(pw)))
		if err != nil || cur != good.BuildID {
			t.Fatalf("device runs %q (%v), want the previous build %s", cur, err, good.BuildID)
		}
		a.waitServed("/orders/cold", "backend saw /v1/cold", 2*time.Minute)
	})

	t.Run("all requests counted at the gate", func(t *testing.T) {
		waitCount(t, gate, a.served)
	})
}

// waitCount waits until the gate's analytics count for acme equals want.
func waitCount(t *testing.T, g *cloudGate, want int) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("records at the gate:\n%s", g.records(t))
		}
	})
	eventually(t, 2*time.Minute, time.Second, fmt.Sprintf("analytics count %d", want), func() error {
		got, err := runErr(g.cli("analytics", "count", "--org", "acme")...)
		if err != nil {
			return err
		}
		if got != strconv.Itoa(want) {
			return fmt.Errorf("count %s, want %d", got, want)
		}
		return nil
	})
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// records lists the gate's analytics records (for a failure message).
func (g *cloudGate) records(t *testing.T) string {
	pem, err := os.ReadFile(filepath.Join(g.dir, "ca.pem"))
	if err != nil {
		return err.Error()
	}
	admin, err := os.ReadFile(filepath.Join(g.dir, "admin-token"))
	if err != nil {
		return err.Error()
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/management/v1/orgs/acme/analytics/records?limit=200", g.port), nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+string(trimNL(admin)))
	resp, err := c.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}

// site is a backend and a Cloud Gate on the host, with an API deployed and
// a provisioning stick for a gateway; the guest reaches them at 10.0.2.2.
type site struct {
	gate     *cloudGate
	gateDir  string
	gatePort int
	stick    string
}

func newSite(t *testing.T, bin, work string) *site {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend saw %s", r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	_, bport, err := net.SplitHostPort(backend.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := &site{gatePort: freePort(t), gateDir: filepath.Join(work, "gate"), stick: filepath.Join(work, "prov.img")}
	s.gate = startCloudGate(t, bin, s.gateDir, s.gatePort)
	creds := filepath.Join(work, "creds")
	run(t, s.gate.cli("gateway", "create", "--org", "acme", "--env", "prod", "--access-point", "https://branch-1.example.com", "--out", creds)...)
	id := run(t, s.gate.cli("api", "import", "--org", "acme", "--env", "prod",
		writeAPI(t, work, "orders", "/orders", "http://10.0.2.2:"+bport+"/v1"))...)
	run(t, s.gate.cli("api", "deploy", "--org", "acme", "--env", "prod", id)...)
	// The provisioning stick, made with the user-facing command.
	run(t, filepath.Join(bin, "edgegate"), "provision", "--token-file", filepath.Join(creds, "cloud-token"),
		"--license-file", filepath.Join(creds, "license.key"), "--out", s.stick)
	return s
}

// TestRpiUserlandQEMU boots the Raspberry Pi image's root file system (our
// init, gokrazy's services, the arm64 gateway) under qemu-system-aarch64 -M
// virt with gokrazy's generic arm64 kernel (a Pi cannot be emulated here),
// the provisioning stick as a second disk, and a Cloud Gate on the host.
func TestRpiUserlandQEMU(t *testing.T) {
	requireTools(t, map[string]string{"mksquashfs": "squashfs-tools", "mkfs.ext4": "e2fsprogs", "qemu-system-aarch64": "qemu-system-arm"})
	r := images.build(t, "rpi", Options{Target: "rpi", PermOnDevice: true})
	kdir, err := moduleDir(t.Context(), repoRoot, Targets["arm64"].KernelModule)
	if err != nil {
		t.Fatal(err)
	}
	bin := hostBinaries(t)
	work := t.TempDir()
	site := newSite(t, bin, work)
	disk := filepath.Join(work, "disk.img")
	copySparse(t, r.Disk, disk)
	a := &appliance{t: t, console: &syncbuf.Buffer{}, gwPort: freePort(t), gkPort: freePort(t),
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}}
	cmdline := Cmdline(Targets["arm64"], r.Layout.Partitions[0].GUID, 2)
	argv := []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "1024", "-smp", "2", "-nographic",
		"-kernel", filepath.Join(kdir, "vmlinuz"), "-append", cmdline,
		"-drive", "file=" + disk + ",format=raw,if=virtio",
		"-drive", "file=" + site.stick + ",format=raw,if=virtio",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8082,hostfwd=tcp:127.0.0.1:%d-:80", a.gwPort, a.gkPort),
		"-device", "virtio-net-pci,netdev=n0",
	}
	a.started = time.Now()
	a.qemu = startChild(t, "qemu", a.console, argv...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- arm64 console (last lines):\n%s", tail(a.console.String(), 120))
		}
	})
	a.waitServed("/orders/arm", "backend saw /v1/arm", 5*time.Minute)
	t.Logf("MEASURE power-on to first proxied answer (arm64 userland of the Pi image, -M virt -kernel, no KVM): %.1fs", time.Since(a.started).Seconds())
	// The image was built with an empty /perm: the init formatted it.
	if !strings.Contains(a.console.String(), "edgegate: formatted /perm") {
		t.Fatalf("the appliance did not format its empty /perm")
	}
	waitCount(t, site.gate, a.served)
}

// grepLines returns the lines of s that contain any of subs.
func grepLines(s string, subs ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(line, sub) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
