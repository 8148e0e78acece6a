package controlplane

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestProvisioningErrorShownInSync: when the appliance's launcher refused a
// provisioning stick, /_node/sync says why; once the file is gone, so is the
// message.
func TestProvisioningErrorShownInSync(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	apis, data := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(apis, "a.json"), apiJSON("a", "/a", backend.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startRun(t, Options{DataDir: data, APIsDir: apis})
	n.waitStatus(t, "/a/x", http.StatusOK)
	if s := n.sync(t); s.ProvisioningError != "" {
		t.Fatalf("a provisioning error with no stick: %q", s.ProvisioningError)
	}
	dir := filepath.Join(data, "provisioning")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const msg = "stick sdb1: license: signature does not verify"
	if err := os.WriteFile(filepath.Join(dir, ProvisioningErrorFile), []byte(msg+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := n.sync(t); s.ProvisioningError != msg {
		t.Fatalf("provisioningError = %q, want %q", s.ProvisioningError, msg)
	}
	if err := os.Remove(filepath.Join(dir, ProvisioningErrorFile)); err != nil {
		t.Fatal(err)
	}
	if s := n.sync(t); s.ProvisioningError != "" {
		t.Fatalf("provisioningError after the file went: %q", s.ProvisioningError)
	}
}
