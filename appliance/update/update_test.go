package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// device stands in for gokrazy's update API (the real one runs only on the
// appliance; TestApplianceQEMU in images drives it for real). It records the
// calls and, after /reboot, is down for a few polls and then reports
// nextBuild.
type device struct {
	mu        sync.Mutex
	build     string
	nextBuild string
	corrupt   bool // answer a wrong hash
	calls     []string
	downPolls int
	written   map[string][]byte
}

func (d *device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != "gokrazy" || p != "pw" {
		http.Error(w, "invalid username/password", http.StatusUnauthorized)
		return
	}
	d.calls = append(d.calls, r.Method+" "+r.URL.Path)
	switch r.URL.Path {
	case "/":
		if d.downPolls > 0 {
			d.downPolls--
			hj, _ := w.(http.Hijacker)
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close() // like a rebooting device
			}
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"BuildTimestamp": d.build})
	case "/update/features":
		io.WriteString(w, "partuuid,updatehash,gpt,")
	case "/update/root", "/update/bootonly":
		b, _ := io.ReadAll(r.Body)
		d.written[r.URL.Path] = b
		sum := sha256.Sum256(b)
		if d.corrupt {
			sum[0] ^= 1
		}
		io.WriteString(w, hex.EncodeToString(sum[:]))
	case "/edgegate/sync":
		w.WriteHeader(http.StatusNoContent)
	case "/update/testboot":
	case "/reboot":
		d.downPolls = 3
		d.build = d.nextBuild
	default:
		http.NotFound(w, r)
	}
}

func parts(t *testing.T) (boot, root string) {
	dir := t.TempDir()
	boot, root = filepath.Join(dir, "boot.img"), filepath.Join(dir, "root.img")
	if err := os.WriteFile(boot, []byte(strings.Repeat("b", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root, []byte(strings.Repeat("r", 70000)), 0o644); err != nil {
		t.Fatal(err)
	}
	return boot, root
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dev      *device
		password string
		want     error
		wantMsg  string
	}{
		{"updated", &device{build: "old", nextBuild: "new"}, "pw", nil, ""},
		{"fell back", &device{build: "old", nextBuild: "old"}, "pw", ErrFellBack, ""},
		{"hash mismatch", &device{build: "old", nextBuild: "new", corrupt: true}, "pw", ErrHashMismatch, ""},
		{"wrong password", &device{build: "old"}, "nope", nil, "wrong password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.dev.written = map[string][]byte{}
			srv := httptest.NewServer(tc.dev)
			defer srv.Close()
			boot, root := parts(t)
			var progress strings.Builder
			res, err := Run(context.Background(), Options{
				Host: strings.TrimPrefix(srv.URL, "http://"), Password: tc.password, Boot: boot, Root: root,
				BuildID: "new", Wait: 10 * time.Second, Poll: 10 * time.Millisecond, Progress: &progress,
			})
			switch {
			case tc.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("got %v, want %q", err, tc.wantMsg)
				}
				return
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			case err != nil:
				t.Fatalf("%v\n%s", err, progress.String())
			}
			if res.Previous != "old" || res.Current != "new" {
				t.Fatalf("result %+v", res)
			}
			tc.dev.mu.Lock()
			defer tc.dev.mu.Unlock()
			order := strings.Join(tc.dev.calls, ",")
			if !strings.Contains(order, "PUT /update/root,PUT /update/bootonly,POST /update/testboot,POST /edgegate/sync,POST /reboot") {
				t.Fatalf("call order %s", order)
			}
			if len(tc.dev.written["/update/root"]) != 70000 {
				t.Fatal("root image not written whole")
			}
		})
	}
}
