package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCreatesThenReuses(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	m1, err := Load(dir, Hosts("127.0.0.1", "gate.example"), &log)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAFile, CAKeyFile, ServerFile, ServerKeyFile, AdminTokenFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s not created: %v", f, err)
		}
		if strings.Contains(f, "key") || f == AdminTokenFile {
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
			}
		}
		if !strings.Contains(log.String(), filepath.Join(dir, f)) && f != CAKeyFile && f != ServerKeyFile {
			t.Errorf("the log does not say where %s was written:\n%s", f, log.String())
		}
	}
	leaf, err := x509.ParseCertificate(m1.Server.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(m1.CA)
	for _, h := range []string{"127.0.0.1", "localhost", "::1", "gate.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", h, err)
		}
	}
	if !strings.HasPrefix(m1.CAPin, "sha256:") || len(m1.CAPin) != 71 {
		t.Fatalf("pin %q", m1.CAPin)
	}

	m2, err := Load(dir, Hosts("127.0.0.1", "gate.example"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	kid1, _ := m1.Tokens.Active()
	kid2, _ := m2.Tokens.Active()
	if m2.CAPin != m1.CAPin || m2.AdminToken != m1.AdminToken || kid1 != kid2 || !bytes.Equal(m2.Server.Certificate[0], m1.Server.Certificate[0]) {
		t.Fatal("a second Load did not reuse what the first created")
	}

	var log3 bytes.Buffer
	m3, err := Load(dir, Hosts("127.0.0.1", "other.example"), &log3)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(m3.Server.Certificate[0], m1.Server.Certificate[0]) || !strings.Contains(log3.String(), "names changed") || m3.CAPin != m1.CAPin {
		t.Fatalf("a new public host did not reissue the server certificate under the same CA:\n%s", log3.String())
	}
}

func TestKeyringRotation(t *testing.T) {
	dir := t.TempDir()
	k, err := OpenKeyring(dir, "token", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	oldKID, oldKey := k.Active()
	msg := []byte("signed before rotation")
	sig := ed25519.Sign(oldKey, msg)
	newKID, err := k.Rotate()
	if err != nil || newKID == oldKID {
		t.Fatalf("Rotate = %q, %v", newKID, err)
	}
	reopened, err := OpenKeyring(dir, "token", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := reopened.Active(); kid != newKID {
		t.Fatalf("active after reopen %q, want %q", kid, newKID)
	}
	pub, ok := reopened.Public(oldKID).(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, msg, sig) {
		t.Fatal("the old key no longer verifies after rotation")
	}
	if reopened.Public("token-unknown") != nil || len(reopened.PublicKeys()) != 2 {
		t.Fatal("unknown kid resolved or key count wrong")
	}
	if err := os.WriteFile(filepath.Join(dir, ActiveFile), []byte("token-gone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyring(dir, "token", io.Discard); err == nil || !strings.Contains(err.Error(), "token-gone") {
		t.Fatalf("a dangling active kid gave %v", err)
	}
}
