package provisioning

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Provisioning media: a FAT partition (or a whole stick without a partition
// table) labelled StickLabel, or any FAT partition with a top-level StickDir
// folder, holding these files.
const (
	StickLabel  = "EDGEGATE"
	StickDir    = "edgegate"
	TokenFile   = "cloud-token"
	LicenseFile = "license.key"
	ConfigFile  = "edgegate.json"
)

// maxConfigSize bounds edgegate.json.
const maxConfigSize = 64 << 10

// ErrNoProvisioning is returned by ReadStick when a file system holds no
// provisioning files.
var ErrNoProvisioning = errors.New("no edgegate provisioning files")

// FATVolume is a block device whose first sector is a FAT boot sector.
type FATVolume struct {
	Device string // e.g. /dev/sdb1
	Label  string // volume label from the boot sector, upper case, trimmed
}

// ProbeFAT reads the boot sector in r and reports whether it is a FAT12,
// FAT16 or FAT32 file system, and its label.
func ProbeFAT(r io.ReaderAt) (label string, ok bool) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return "", false
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return "", false
	}
	bytesPerSector := binary.LittleEndian.Uint16(b[11:])
	if bytesPerSector < 512 || bytesPerSector&(bytesPerSector-1) != 0 || b[13] == 0 || b[16] == 0 {
		return "", false
	}
	switch {
	case b[38] == 0x29 && strings.HasPrefix(string(b[54:62]), "FAT"):
		return cleanLabel(b[43:54]), true
	case b[66] == 0x29 && strings.HasPrefix(string(b[82:90]), "FAT"):
		return cleanLabel(b[71:82]), true
	}
	return "", false
}

func cleanLabel(b []byte) string {
	l := strings.ToUpper(strings.TrimRight(string(b), " \x00"))
	if l == "NO NAME" {
		return ""
	}
	return l
}

// ScanFATVolumes lists the block devices under sysBlock (normally
// /sys/class/block) and returns those that hold a FAT file system, sorted by
// device name. devDir is where their device nodes are (normally /dev).
// Devices that cannot be opened (an empty card reader) are skipped.
func ScanFATVolumes(sysBlock, devDir string) ([]FATVolume, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, fmt.Errorf("scan block devices: %w", err)
	}
	var out []FATVolume
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		dev := filepath.Join(devDir, name)
		f, err := os.Open(dev)
		if err != nil {
			continue
		}
		label, ok := ProbeFAT(f)
		f.Close()
		if ok {
			out = append(out, FATVolume{Device: dev, Label: label})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, nil
}

// Files are the provisioning files found on a stick.
type Files struct {
	Source  string // where they were read from, for messages
	Token   string
	License string
	Config  []byte // edgegate.json, nil when absent
}

// ReadStick reads the provisioning files from a mounted file system: from
// its top-level StickDir folder when present, else from its top level when
// the volume is labelled StickLabel. It returns ErrNoProvisioning when
// neither holds a cloud-token or license.key.
func ReadStick(root, label string) (*Files, error) {
	dir := ""
	if st, err := os.Stat(filepath.Join(root, StickDir)); err == nil && st.IsDir() {
		dir = filepath.Join(root, StickDir)
	} else if strings.EqualFold(label, StickLabel) {
		dir = root
	}
	if dir == "" {
		return nil, ErrNoProvisioning
	}
	tok, errT := readSmall(filepath.Join(dir, TokenFile), MaxTokenSize)
	lic, errL := readSmall(filepath.Join(dir, LicenseFile), MaxLicenseSize)
	if errors.Is(errT, fs.ErrNotExist) && errors.Is(errL, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (expected %s and %s)", ErrNoProvisioning, dir, TokenFile, LicenseFile)
	}
	if errT != nil {
		return nil, fmt.Errorf("%s: %w", TokenFile, errT)
	}
	if errL != nil {
		return nil, fmt.Errorf("%s: %w", LicenseFile, errL)
	}
	f := &Files{Source: dir, Token: strings.TrimSpace(string(tok)), License: strings.TrimSpace(string(lic))}
	cfg, err := readSmall(filepath.Join(dir, ConfigFile), maxConfigSize)
	switch {
	case err == nil:
		f.Config = cfg
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return f, nil
}

// readSmall reads a file of at most max bytes (a longer one is an error: it
// is not what we expect, and we do not read a huge file into memory).
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes; is it the right file?", path, max)
	}
	return b, nil
}

// ApplianceConfig is edgegate.json: optional settings for `edgegate run`
// on the appliance. Unknown keys are an error, so a typo is not ignored.
type ApplianceConfig struct {
	// Flags are extra `edgegate run` flags by name without dashes; only
	// the names in ApplianceFlags are accepted.
	Flags map[string]string `json:"flags,omitempty"`
}

// ApplianceFlags are the `edgegate run` flags edgegate.json may set.
var ApplianceFlags = []string{"listen", "tls-listen", "tls-cert", "tls-key", "admin-listen", "environment", "log-level", "gate-domain"}

// ParseApplianceConfig parses and checks edgegate.json.
func ParseApplianceConfig(b []byte) (*ApplianceConfig, error) {
	var c ApplianceConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	for k := range c.Flags {
		ok := false
		for _, a := range ApplianceFlags {
			ok = ok || k == a
		}
		if !ok {
			return nil, fmt.Errorf("%s: flag %q cannot be set here (allowed: %s)", ConfigFile, k, strings.Join(ApplianceFlags, ", "))
		}
	}
	return &c, nil
}

// Args returns the flags as command-line arguments, sorted by name.
func (c *ApplianceConfig) Args() []string {
	keys := make([]string, 0, len(c.Flags))
	for k := range c.Flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, "--"+k+"="+c.Flags[k])
	}
	return out
}

// Validate checks the files as a gateway would before using them: the
// token's structure, audience and expiry; the license's signature against
// the token's lpk key (and any extra trusted keys) and its organization and
// expiry; edgegate.json's syntax. It returns the license warning, if any.
func (f *Files) Validate(now time.Time, extraKeys []ed25519.PublicKey) (warning string, err error) {
	tok, err := ParseToken(f.Token, now)
	if err != nil {
		return "", err
	}
	trusted := append([]ed25519.PublicKey(nil), extraKeys...)
	if tok.Claims.LicenseKey != "" {
		k, err := DecodePublicKey(tok.Claims.LicenseKey)
		if err != nil {
			return "", fmt.Errorf("cloud token lpk: %w", err)
		}
		trusted = append(trusted, k)
	}
	lic, err := ParseLicense(f.License, trusted)
	if err != nil {
		return "", err
	}
	warning, err = lic.Check(tok.Claims.Org, now)
	if err != nil {
		return "", err
	}
	if f.Config != nil {
		if _, err := ParseApplianceConfig(f.Config); err != nil {
			return "", err
		}
	}
	return warning, nil
}

// Install copies the files into dir (created 0700) atomically, each through
// a temporary file and a rename, and removes a stale edgegate.json when the
// stick has none. It reports whether anything changed.
func (f *Files) Install(dir string) (changed bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("install provisioning: %w", err)
	}
	want := map[string][]byte{TokenFile: []byte(f.Token + "\n"), LicenseFile: []byte(f.License + "\n")}
	if f.Config != nil {
		want[ConfigFile] = f.Config
	} else if err := os.Remove(filepath.Join(dir, ConfigFile)); err == nil {
		changed = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("install provisioning: %w", err)
	}
	names := []string{TokenFile, LicenseFile, ConfigFile}
	for _, n := range names {
		b, ok := want[n]
		if !ok {
			continue
		}
		p := filepath.Join(dir, n)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(b) {
			continue
		}
		if err := writeAtomic(p, b); err != nil {
			return changed, fmt.Errorf("install provisioning: %w", err)
		}
		changed = true
	}
	return changed, nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
