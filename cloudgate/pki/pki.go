// Package pki creates and loads what a Cloud Gate needs to be trusted and to
// sign: a development certificate authority, the server certificate it
// signs, the Ed25519 keyrings that sign Cloud Tokens and licenses, and the
// operator's admin token. Everything lives in the gate's data directory:
//
//	ca.pem, ca-key.pem              ECDSA P-256 CA (10 years)
//	server.pem, server-key.pem      server certificate signed by the CA; reissued
//	                                when its names change or it nears expiry
//	keys/token/<kid>.pem            Ed25519 Cloud Token signing keys (PKCS#8)
//	keys/token/active               the kid that signs new tokens
//	keys/license/<kid>.pem, active  the same for licenses
//	admin-token                     the management API credential (0600)
//
// # Rotation
//
// A keyring holds several keys and one active kid. Rotate adds a key and
// makes it active; the others still verify what they signed, so gateways
// provisioned before keep working until their tokens expire. Remove a key
// file to stop trusting it.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the data directory.
const (
	CAFile         = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerFile     = "server.pem"
	ServerKeyFile  = "server-key.pem"
	AdminTokenFile = "admin-token"
	TokenKeysDir   = "keys/token"
	LicenseKeysDir = "keys/license"
)

// Material is everything Load produced.
type Material struct {
	CA     *x509.Certificate
	CAPEM  []byte
	CAPin  string // "sha256:" + hex SHA-256 of the CA certificate's DER (the gca claim)
	Server tls.Certificate

	Tokens   *Keyring
	Licenses *Keyring

	AdminToken string
}

// Load reads the material in dir, creating what is missing, and reissues the
// server certificate when hosts (DNS names or IP addresses) are not all in
// it. It writes one line per file created or reused to log.
func Load(dir string, hosts []string, log io.Writer) (*Material, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	m := &Material{}
	caKey, err := m.loadCA(dir, log)
	if err != nil {
		return nil, err
	}
	if m.Server, err = loadServer(dir, m.CA, caKey, hosts, log); err != nil {
		return nil, err
	}
	if m.Tokens, err = OpenKeyring(filepath.Join(dir, TokenKeysDir), "token", log); err != nil {
		return nil, err
	}
	if m.Licenses, err = OpenKeyring(filepath.Join(dir, LicenseKeysDir), "license", log); err != nil {
		return nil, err
	}
	if m.AdminToken, err = loadAdminToken(filepath.Join(dir, AdminTokenFile), log); err != nil {
		return nil, err
	}
	return m, nil
}

// Pin returns the "sha256:<hex>" pin of a certificate's DER.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (m *Material) loadCA(dir string, log io.Writer) (*ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	cert, key, err := readPair(certPath, keyPath)
	switch {
	case err == nil:
		fmt.Fprintf(log, "cloudgate: CA certificate %s (existing)\n", certPath)
	case errors.Is(err, os.ErrNotExist):
		if cert, key, err = newCA(certPath, keyPath); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "cloudgate: CA certificate %s (created; key %s)\n", certPath, keyPath)
	default:
		return nil, err
	}
	m.CA, m.CAPin = cert, Pin(cert)
	m.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return key, nil
}

func newCA(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "edgegate Cloud Gate development CA", Organization: []string{"edgegate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, writePair(certPath, keyPath, der, key)
}

func loadServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, log io.Writer) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile)
	cert, _, err := readPair(certPath, keyPath)
	reason := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		reason = "created"
	case err != nil:
		return tls.Certificate{}, err
	case cert.CheckSignatureFrom(ca) != nil:
		reason = "reissued: not signed by the current CA"
	case time.Until(cert.NotAfter) < 30*24*time.Hour:
		reason = "reissued: near expiry"
	case !covers(cert, hosts):
		reason = "reissued: names changed"
	}
	if reason != "" {
		if err := newServer(certPath, keyPath, ca, caKey, hosts); err != nil {
			return tls.Certificate{}, err
		}
		fmt.Fprintf(log, "cloudgate: server certificate %s (%s; names %s)\n", certPath, reason, strings.Join(hosts, ", "))
	} else {
		fmt.Fprintf(log, "cloudgate: server certificate %s (existing)\n", certPath)
	}
	tc, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load server certificate: %w", err)
	}
	// Send the CA too: a gateway trusts the gate only through the token's
	// gca pin, which it checks against the CA certificate in the chain.
	tc.Certificate = append(tc.Certificate, ca.Raw)
	return tc, nil
}

// covers reports whether every host is among the certificate's names.
func covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(cert.DNSNames, h) {
			return false
		}
	}
	return true
}

func newServer(certPath, keyPath string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate server key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "edgegate Cloud Gate"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create server certificate: %w", err)
	}
	return writePair(certPath, keyPath, der, key)
}

// Hosts returns the names a server certificate must hold: the listen host,
// localhost, 127.0.0.1, ::1 and the public URL's host, without duplicates.
func Hosts(listenHost, publicHost string) []string {
	var out []string
	for _, h := range []string{listenHost, "localhost", "127.0.0.1", "::1", publicHost} {
		h = strings.Trim(h, "[]")
		if h == "" || h == "0.0.0.0" || h == "::" || slices.Contains(out, h) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// serial is a random 127-bit certificate serial number.
func serial() *big.Int {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b[:])
}

func readPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: not a PEM certificate; delete it to have a new one created", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("%s: not a PEM key; delete it and %s to have new ones created", keyPath, certPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
	}
	return cert, ek, nil
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes atomically (temporary file, fsync, rename).
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func loadAdminToken(path string, log io.Writer) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", fmt.Errorf("%s holds %d characters; an admin token needs at least 16 (delete it to have a new one created)", path, len(tok))
		}
		fmt.Fprintf(log, "cloudgate: admin token %s (existing)\n", path)
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	var r [32]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := hex.EncodeToString(r[:])
	if err := writeFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "cloudgate: admin token %s (created)\n", path)
	return tok, nil
}
