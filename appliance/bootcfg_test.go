package appliance

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/images"
	"github.com/edgegate/edgegate/images/fat"
)

const guid = "4f058aa6-40f8-4039-90c3-5ad1bdb9fdc9"

// gokrazyTestboot and gokrazySwitch restate what the device does to a boot
// configuration file in place (facts from gokrazy's update code): testboot
// appends the flag before every newline; the old init replaces it with the
// switched flag; both keep the file length, padding before newlines when the
// text shrinks and spilling past the end when it grows.
func gokrazyTestboot(b []byte) []byte {
	rep := bytes.ReplaceAll(b, []byte("\n"), []byte(" "+TryFlag+"\n"))
	return rep[:len(b)] // the device reads back only the file's length
}

func gokrazySwitch(b []byte) []byte {
	rep := bytes.ReplaceAll(b, []byte(TryFlag), []byte(SwitchedFlag))
	if pad := len(b) - len(rep); pad > 0 {
		rep = bytes.ReplaceAll(rep, []byte("\n"), append(bytes.Repeat([]byte(" "), pad), '\n'))
	}
	return rep[:len(b)]
}

func TestRewriteBootConfig(t *testing.T) {
	tgt := images.Targets["amd64"]
	g, err := images.ParseGUID(guid)
	if err != nil {
		t.Fatal(err)
	}
	cmdline := images.Cmdline(tgt, g, 2)
	for _, tc := range []struct {
		name string
		file []byte
		pad  byte
	}{
		{"cmdline.txt", images.CmdlineFile(cmdline), ' '},
		{"gokrazy.conf", images.LoaderEntry(cmdline), '\r'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tried := gokrazyTestboot(tc.file)
			head, _, _ := bytes.Cut(tried, []byte("\n"))
			if !HasFlag(string(head), TryFlag) || RootPartition(string(head)) != 2 {
				t.Fatalf("testboot did not append the flag to the kernel options only: %q", head)
			}
			if tc.name == "gokrazy.conf" && !bytes.HasPrefix(tried, []byte("title edgegate\rlinux /vmlinuz\roptions ")) {
				t.Fatalf("testboot touched the title or linux lines: %q", tried[:60])
			}
			switched := gokrazySwitch(tried)
			for _, root := range []int{2, 3} {
				out, err := RewriteBootConfig(switched, root, tc.pad)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != len(tc.file) {
					t.Fatalf("length %d, want %d", len(out), len(tc.file))
				}
				if want := bytes.Replace(tc.file, []byte("PARTNROFF=1"), []byte("PARTNROFF="+string(rune('0'+root-1))), 1); !bytes.Equal(out, want) {
					t.Fatalf("root %d: got %q\nwant %q", root, out[:200], want[:200])
				}
			}
		})
	}
	t.Run("flags appended", func(t *testing.T) {
		out, err := RewriteBootConfig(gokrazyTestboot(images.CmdlineFile(cmdline)), 3, ' ', SwitchedFlag)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := bytes.Cut(out, []byte("\n"))
		if !HasFlag(string(head), SwitchedFlag) || HasFlag(string(head), TryFlag) || RootPartition(string(head)) != 3 {
			t.Fatalf("got %q", head)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := RewriteBootConfig([]byte("root=/dev/sda2\n"), 2, ' '); err == nil {
			t.Fatal("accepted a command line without PARTUUID")
		}
		if _, err := RewriteBootConfig(images.CmdlineFile(cmdline), 4, ' '); err == nil {
			t.Fatal("accepted partition 4")
		}
	})
}

func TestModeOf(t *testing.T) {
	base := "root=PARTUUID=" + guid + "/PARTNROFF=1 ro"
	for _, tc := range []struct {
		name    string
		cmdline string
		running int
		want    BootMode
	}{
		{"normal", base, 2, Normal},
		{"after fallback", base + " " + SwitchedFlag, 2, Normal},
		{"trial", base + " " + TryFlag, 3, Trial},
		{"old init, try requested", base + " " + TryFlag, 2, TryRequested},
		{"unknown partition", base + " " + TryFlag, 0, TrialFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ModeOf(tc.cmdline, RootPartition(tc.cmdline), tc.running); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRewriteBootFAT rewrites a real boot FAT image file the way the
// device does on commit, and reads it back with the device-like reader.
func TestRewriteBootFAT(t *testing.T) {
	g, _ := images.ParseGUID(guid)
	cmdline := images.Cmdline(images.Targets["amd64"], g, 2)
	w, err := fat.NewWriter(fat.Options{Size: 8 << 20, Label: "EGBOOT", ModTime: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/vmlinuz": bytes.Repeat([]byte{1}, 5000), CmdlinePath: gokrazySwitch(gokrazyTestboot(images.CmdlineFile(cmdline))),
		LoaderEntryPath: gokrazySwitch(gokrazyTestboot(images.LoaderEntry(cmdline))),
	}
	for p, b := range files {
		if err := w.AddFile(p, b); err != nil {
			t.Fatal(err)
		}
	}
	dev := filepath.Join(t.TempDir(), "boot")
	f, err := os.Create(dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := RewriteBootFAT(dev, 3); err != nil {
		t.Fatal(err)
	}
	line, err := ReadBootConfig(dev)
	if err != nil {
		t.Fatal(err)
	}
	if RootPartition(line) != 3 || strings.Contains(line, "gokrazy.") {
		t.Fatalf("cmdline after commit: %q", line)
	}
}
