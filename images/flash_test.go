package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlashScriptRefuses checks scripts/flash.sh's safety checks that need
// no spare disk: usage, a missing image, a target that is not a block device.
// (It never points the script at a real device of this machine.)
func TestFlashScriptRefuses(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDev := filepath.Join(dir, "not-a-device")
	if err := os.WriteFile(notDev, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"usage", nil, "usage:"},
		{"missing image", []string{"--yes", filepath.Join(dir, "nope.img"), notDev}, "no such image"},
		{"not a block device", []string{"--yes", img, notDev}, "is not a block device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("sh", append([]string{filepath.Join(repoRoot, "scripts", "flash.sh")}, tc.args...)...).CombinedOutput()
			if err == nil {
				t.Fatalf("flash.sh accepted %v:\n%s", tc.args, out)
			}
			if tc.want != "" && !strings.Contains(string(out), tc.want) {
				t.Fatalf("output %q does not say %q", out, tc.want)
			}
		})
	}
}
