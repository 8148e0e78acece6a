package ext2

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFormatFsck(t *testing.T) {
	if _, err := exec.LookPath("e2fsck"); err != nil {
		t.Fatalf("e2fsck is missing: apt-get install e2fsprogs (make test installs it)")
	}
	for _, size := range []int64{
		8 << 20,            // one small group
		(128 << 20) + 4096, // a last group too small: dropped
		(129 << 20),        // a small last group kept
		300 << 20,          // three groups
		(2 << 30) + 12345,  // odd size, 16 groups with backups in 1, 3, 5, 7, 9
	} {
		t.Run(filepath.Base(time.Duration(size).String()), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "perm")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			if err := Format(f, Options{Size: size, Label: "perm", UUID: [16]byte{1, 2, 3}, Now: time.Unix(1700000000, 0)}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			out, err := exec.Command("e2fsck", "-fn", p).CombinedOutput()
			if err != nil {
				t.Fatalf("e2fsck: %v\n%s", err, out)
			}
			out, err = exec.Command("debugfs", "-R", "ls -l /", p).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "lost+found") {
				t.Fatalf("debugfs: %v\n%s", err, out)
			}
		})
	}
}

func TestTooSmall(t *testing.T) {
	if err := Format(nil, Options{Size: 512 << 10}); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("got %v", err)
	}
}
