package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Keyring is a set of Ed25519 signing keys, each named by a kid, one of them
// active. Its methods are safe for concurrent use: a running gate rotates
// through the management API. Two processes must not rotate the same
// directory at once.
type Keyring struct {
	dir    string
	prefix string

	mu     sync.RWMutex
	active string
	keys   map[string]ed25519.PrivateKey
}

// ActiveFile names the file holding the active kid in a keyring directory.
const ActiveFile = "active"

// OpenKeyring loads the keyring in dir, creating a first key when it is
// empty. prefix starts every kid ("token", "license").
func OpenKeyring(dir, prefix string, log io.Writer) (*Keyring, error) {
	k := &Keyring{dir: dir, prefix: prefix, keys: map[string]ed25519.PrivateKey{}}
	if err := k.load(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		kid, err := k.Rotate()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "cloudgate: %s signing key %s (created, kid %s)\n", prefix, k.path(kid), kid)
		return k, nil
	}
	fmt.Fprintf(log, "cloudgate: %s signing keys in %s (active kid %s, %d keys)\n", prefix, dir, k.active, len(k.keys))
	return k, nil
}

func (k *Keyring) path(kid string) string { return filepath.Join(k.dir, kid+".pem") }

func (k *Keyring) load() error {
	entries, err := os.ReadDir(k.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read keyring: %w", err)
	}
	for _, e := range entries {
		kid, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || e.IsDir() {
			continue
		}
		key, err := readEd25519(filepath.Join(k.dir, e.Name()))
		if err != nil {
			return err
		}
		k.keys[kid] = key
	}
	b, err := os.ReadFile(filepath.Join(k.dir, ActiveFile))
	if errors.Is(err, os.ErrNotExist) && len(k.keys) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read active %s key: %w", k.prefix, err)
	}
	k.active = strings.TrimSpace(string(b))
	if _, ok := k.keys[k.active]; !ok {
		return fmt.Errorf("%s names key %q but %s does not exist", filepath.Join(k.dir, ActiveFile), k.active, k.path(k.active))
	}
	return nil
}

func readEd25519(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: not a PEM key", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ek, nil
}

// Rotate creates a new key, makes it active and returns its kid. Older keys
// stay and still verify.
func (k *Keyring) Rotate() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate %s key: %w", k.prefix, err)
	}
	sum := sha256.Sum256(pub)
	kid := k.prefix + "-" + hex.EncodeToString(sum[:6])
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	if err := writeFile(k.path(kid), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(k.dir, ActiveFile), []byte(kid+"\n"), 0o600); err != nil {
		return "", err
	}
	k.keys[kid], k.active = priv, kid
	return kid, nil
}

// Active returns the kid and key that sign new tokens or licenses.
func (k *Keyring) Active() (string, ed25519.PrivateKey) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active, k.keys[k.active]
}

// Public returns the public key of kid, or nil when it is unknown. It is a
// provisioning.KeySet.
func (k *Keyring) Public(kid string) crypto.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[kid]
	if !ok {
		return nil
	}
	return key.Public()
}

// PublicKeys returns every public key, active first.
func (k *Keyring) PublicKeys() []ed25519.PublicKey {
	kids := k.KIDs()
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := []ed25519.PublicKey{k.keys[k.active].Public().(ed25519.PublicKey)}
	for _, kid := range kids {
		if kid != k.active {
			out = append(out, k.keys[kid].Public().(ed25519.PublicKey))
		}
	}
	return out
}

// KIDs lists the kids, sorted.
func (k *Keyring) KIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]string, 0, len(k.keys))
	for kid := range k.keys {
		out = append(out, kid)
	}
	sort.Strings(out)
	return out
}
