package appliance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/syncbuf"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/images/fat"
	"github.com/edgegate/edgegate/provisioning"
)

// signedFiles returns a valid cloud-token and license.key for org.
func signedFiles(t *testing.T, org string) *provisioning.Files {
	t.Helper()
	_, tokKey, _ := ed25519.GenerateKey(rand.Reader)
	licPub, licKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	tok, err := provisioning.SignToken(provisioning.Claims{
		Issuer: "https://gate", Audience: jwt.ClaimStrings{provisioning.Audience}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), ID: "j", Org: org, Envs: []string{"prod"}, CPG: "local", TTK: "t",
		LicenseKey: provisioning.EncodePublicKey(licPub),
	}, tokKey, "k")
	if err != nil {
		t.Fatal(err)
	}
	lic, err := provisioning.SignLicense(provisioning.License{ID: "l", Org: org, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, licKey, "l")
	if err != nil {
		t.Fatal(err)
	}
	return &provisioning.Files{Token: tok, License: lic}
}

// extractMount stands in for the kernel's read-only vfat mount (which needs
// root and a kernel here): it reads the FAT image with our reader and
// copies the edgegate/ folder into dir.
func extractMount(dev, dir string) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := fat.NewReader(f)
	if err != nil {
		return err
	}
	entries, err := rd.ReadDir("/edgegate")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "edgegate"), 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if e.Dir {
			continue
		}
		b, err := rd.ReadFile("/edgegate/"+e.Name, 1<<20)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "edgegate", e.Name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type launcherEnv struct {
	sys, dev, state, args string
	console               *syncbuf.Buffer
}

func (e *launcherEnv) plug(t *testing.T, name string, files *provisioning.Files) {
	t.Helper()
	defer func() {
		if err := os.MkdirAll(filepath.Join(e.sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}()
	// The device node appears with its contents, as a stick's does.
	tmp := filepath.Join(e.dev, "."+name+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := provisioning.WriteStickImage(f, files, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dev, name)); err != nil {
		t.Fatal(err)
	}
}

func (e *launcherEnv) unplug(t *testing.T, name string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(e.sys, name)); err != nil {
		t.Fatal(err)
	}
}

func (e *launcherEnv) starts() int {
	b, _ := os.ReadFile(e.args) // absent until the first start
	return strings.Count(string(b), "\n")
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLauncher(t *testing.T) {
	root := t.TempDir()
	e := &launcherEnv{sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), state: filepath.Join(root, "perm"),
		args: filepath.Join(root, "args"), console: &syncbuf.Buffer{}}
	for _, d := range []string{e.sys, e.dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gw := filepath.Join(root, "gateway.sh")
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec sleep 300\n", e.args)
	if err := os.WriteFile(gw, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &Launcher{
		Console: NewConsole(e.console), SysBlock: e.sys, DevDir: e.dev, MountDir: filepath.Join(root, "mnt"),
		StateDir: e.state, ProvisioningDir: filepath.Join(e.state, "provisioning"), Gateway: gw,
		ScanInterval: 50 * time.Millisecond, Mount: extractMount, Unmount: os.RemoveAll,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	time.Sleep(200 * time.Millisecond) // a few scans with nothing plugged in
	if e.starts() != 0 {
		t.Fatal("gateway started without provisioning")
	}

	good := signedFiles(t, "acme")
	e.plug(t, "sdb", good)
	waitFor(t, "gateway started after the stick", func() bool { return e.starts() == 1 })
	b, _ := os.ReadFile(e.args)
	if !strings.Contains(string(b), "--cloud-token-file "+filepath.Join(e.state, "provisioning", "cloud-token")) {
		t.Fatalf("gateway args: %s", b)
	}

	t.Run("a bad stick is refused and changes nothing", func(t *testing.T) {
		bad := signedFiles(t, "acme")
		bad.License = signedFiles(t, "acme").License // signed with a key the token does not name
		e.plug(t, "sdc", bad)
		waitFor(t, "refusal on the console", func() bool { return strings.Contains(e.console.String(), "sdc refused") })
		tok, _ := os.ReadFile(filepath.Join(e.state, "provisioning", "cloud-token"))
		if strings.TrimSpace(string(tok)) != good.Token {
			t.Fatal("a bad stick replaced the good token")
		}
		if _, err := os.Stat(filepath.Join(e.state, "provisioning", "last-error")); err != nil {
			t.Fatalf("last-error: %v", err)
		}
		if e.starts() != 1 {
			t.Fatal("gateway restarted for a bad stick")
		}
		e.unplug(t, "sdc")
	})

	t.Run("new provisioning restarts the gateway", func(t *testing.T) {
		e.unplug(t, "sdb")
		time.Sleep(200 * time.Millisecond)
		e.plug(t, "sdb", signedFiles(t, "acme"))
		waitFor(t, "gateway restarted", func() bool { return e.starts() == 2 })
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		done <- nil // for the cleanup
	case <-time.After(40 * time.Second):
		t.Fatal("launcher did not stop")
	}
}

// TestLauncherRetriesMount: a stick that cannot be mounted at first (still
// settling) is tried again, a bounded number of times.
func TestLauncherRetriesMount(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int
		installed bool
	}{
		{"mounts on the third try", 2, true},
		{"never mounts", 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			e := &launcherEnv{sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), state: filepath.Join(root, "perm"), console: &syncbuf.Buffer{}}
			for _, d := range []string{e.sys, e.dev} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			e.plug(t, "sdb", signedFiles(t, "acme"))
			tries := 0
			l := &Launcher{
				Console: NewConsole(e.console), SysBlock: e.sys, DevDir: e.dev, MountDir: filepath.Join(root, "mnt"),
				StateDir: e.state, ProvisioningDir: filepath.Join(e.state, "provisioning"),
				Mount: func(dev, dir string) error {
					if tries++; tries <= tc.failures {
						return fmt.Errorf("device busy")
					}
					return extractMount(dev, dir)
				},
				Unmount: os.RemoveAll,
			}
			l.defaults()
			seen := map[string]string{}
			installed := false
			for range 2 * maxMountTries {
				installed = l.scan(seen) || installed
			}
			if installed != tc.installed {
				t.Fatalf("installed %v after %d mount attempts", installed, tries)
			}
			if want := min(tc.failures+1, maxMountTries); tries != want {
				t.Fatalf("%d mount attempts, want %d", tries, want)
			}
		})
	}
}
