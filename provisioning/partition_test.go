package provisioning

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/images/fat"
)

// testFiles returns a valid token and license signed with fresh keys.
func testFiles(t testing.TB, org string, expires time.Time) *Files {
	t.Helper()
	_, tokKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	licPub, licKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := SignToken(Claims{
		Issuer: "https://10.0.2.2:9443", Audience: jwt.ClaimStrings{Audience}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(expires), ID: "jti-1", Org: org, Envs: []string{"prod"}, CPG: "local", TTK: "ttk",
		Gate: "https://10.0.2.2:9443", LicenseKey: EncodePublicKey(licPub),
	}, tokKey, "k1")
	if err != nil {
		t.Fatal(err)
	}
	lic, err := SignLicense(License{ID: "lic-1", Org: org, Tier: "universe", IssuedAt: now, ExpiresAt: expires}, licKey, "l1")
	if err != nil {
		t.Fatal(err)
	}
	return &Files{Token: tok, License: lic}
}

// stickImage writes a stick image to a file and returns its path.
func stickImage(t testing.TB, f *Files) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prov.img")
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := WriteStickImage(out, f, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStickImageRoundTrip(t *testing.T) {
	files := testFiles(t, "acme", time.Now().Add(24*time.Hour))
	files.Config = []byte(`{"flags":{"listen":":9000"}}`)
	img := stickImage(t, files)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	label, ok := ProbeFAT(f)
	if !ok || label != StickLabel {
		t.Fatalf("probe: %q %v", label, ok)
	}
	rd, err := fat.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rd.ReadFile("/edgegate/cloud-token", MaxTokenSize)
	if err != nil || strings.TrimSpace(string(got)) != files.Token {
		t.Fatalf("token on the stick: %v", err)
	}
	// Same files, same image.
	b1, _ := os.ReadFile(img)
	b2, _ := os.ReadFile(stickImage(t, files))
	if string(b1) != string(b2) {
		t.Fatal("stick images of the same files differ")
	}
}

func TestProbeFAT(t *testing.T) {
	fat32 := make([]byte, 512)
	binary.LittleEndian.PutUint16(fat32[11:], 512)
	fat32[13], fat32[16] = 8, 2
	fat32[66] = 0x29
	copy(fat32[71:82], "MYSTICK    ")
	copy(fat32[82:90], "FAT32   ")
	fat32[510], fat32[511] = 0x55, 0xAA
	noLabel := append([]byte(nil), fat32...)
	copy(noLabel[71:82], "NO NAME    ")
	ext4 := make([]byte, 2048)
	for _, tc := range []struct {
		name  string
		b     []byte
		label string
		ok    bool
	}{
		{"fat32", fat32, "MYSTICK", true},
		{"fat32 no label", noLabel, "", true},
		{"not fat", ext4, "", false},
		{"short", []byte{1, 2}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label, ok := ProbeFAT(strings.NewReader(string(tc.b)))
			if label != tc.label || ok != tc.ok {
				t.Fatalf("got %q %v", label, ok)
			}
		})
	}
}

func TestReadStick(t *testing.T) {
	good := testFiles(t, "acme", time.Now().Add(24*time.Hour))
	write := func(t *testing.T, dir string, files map[string]string) {
		for p, s := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		label   string
		files   map[string]string
		wantErr error
		anyErr  bool
	}{
		{"folder", "USB", map[string]string{"edgegate/cloud-token": good.Token, "edgegate/license.key": good.License}, nil, false},
		{"label top level", "EDGEGATE", map[string]string{"cloud-token": good.Token + "\n", "license.key": good.License}, nil, false},
		{"unrelated stick", "PHOTOS", map[string]string{"cloud-token": good.Token}, ErrNoProvisioning, true},
		{"empty folder", "USB", map[string]string{"edgegate/readme": "x"}, ErrNoProvisioning, true},
		{"license missing", "USB", map[string]string{"edgegate/cloud-token": good.Token}, nil, true},
		{"huge token", "USB", map[string]string{"edgegate/cloud-token": strings.Repeat("x", MaxTokenSize+1), "edgegate/license.key": "x"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tc.files)
			f, err := ReadStick(dir, tc.label)
			if tc.anyErr {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Validate(time.Now(), nil); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := testFiles(t, "acme", time.Now().Add(24*time.Hour))
	other := testFiles(t, "other", time.Now().Add(24*time.Hour))
	for _, tc := range []struct {
		name  string
		files Files
		want  error
	}{
		{"good", *good, nil},
		{"license of another org's keys", Files{Token: good.Token, License: other.License}, ErrLicenseSignature},
		{"garbage token", Files{Token: "nope", License: good.License}, ErrTokenMalformed},
		{"expired", Files{Token: good.Token, License: good.License}, ErrTokenExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			if tc.name == "expired" {
				now = now.Add(48 * time.Hour)
			}
			_, err := tc.files.Validate(now, nil)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prov")
	f := testFiles(t, "acme", time.Now().Add(time.Hour))
	f.Config = []byte(`{}`)
	for i, want := range []bool{true, false} {
		changed, err := f.Install(dir)
		if err != nil || changed != want {
			t.Fatalf("install %d: changed %v err %v", i, changed, err)
		}
	}
	f.Config = nil
	if changed, err := f.Install(dir); err != nil || !changed {
		t.Fatalf("removing edgegate.json: %v %v", changed, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale edgegate.json kept: %v", err)
	}
}

func TestParseApplianceConfig(t *testing.T) {
	for _, tc := range []struct {
		in   string
		args string
		ok   bool
	}{
		{`{}`, "", true},
		{`{"flags":{"listen":":9000","log-level":"debug"}}`, "--listen=:9000 --log-level=debug", true},
		{`{"flags":{"data-dir":"/tmp"}}`, "", false},
		{`{"flag":{}}`, "", false},
		{`not json`, "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseApplianceConfig([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if err == nil && strings.Join(c.Args(), " ") != tc.args {
				t.Fatalf("args %q", c.Args())
			}
		})
	}
}

func FuzzProbeFAT(f *testing.F) {
	f.Add(make([]byte, 512))
	b := make([]byte, 512)
	binary.LittleEndian.PutUint16(b[11:], 512)
	b[13], b[16], b[38] = 1, 1, 0x29
	copy(b[54:], "FAT16   ")
	b[510], b[511] = 0x55, 0xAA
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ProbeFAT(strings.NewReader(string(b)))
	})
}

func FuzzParseApplianceConfig(f *testing.F) {
	f.Add([]byte(`{"flags":{"listen":":1"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseApplianceConfig(b)
		if err == nil {
			for _, a := range c.Args() {
				if !strings.HasPrefix(a, "--") {
					t.Fatalf("arg %q", a)
				}
			}
		}
	})
}
