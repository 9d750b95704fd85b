package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The certificate of the --ui-listen listener: the node makes it on first
// start, self-signed, and keeps it in the home; it is made again only if
// missing. Browsers show a warning for it once; the SPKI fingerprint
// (UICert.SPKI) is what to compare, and what chromium's
// --ignore-certificate-errors-spki-list takes.
const (
	// UICertFile and UIKeyFile hold the certificate and its private key
	// (PEM; the key with mode 0600).
	UICertFile = "ui-cert.pem"
	UIKeyFile  = "ui-key.pem"
	// uiCertLife is how long the certificate is valid.
	uiCertLife = 10 * 365 * 24 * time.Hour
)

// UICert is the listener's certificate and its fingerprint.
type UICert struct {
	TLS tls.Certificate
	// SPKI is the base64 SHA-256 of the certificate's public key
	// (SubjectPublicKeyInfo), as chromium's
	// --ignore-certificate-errors-spki-list wants it.
	SPKI string
}

// LoadOrCreateUICert returns home's listener certificate, making it (an
// ECDSA P-256 key; SANs: the machine's addresses and host name) if there
// is none.
func LoadOrCreateUICert(home string) (*UICert, error) {
	c, err := loadUICert(home)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if err := makeUICert(home); err != nil {
		return nil, fmt.Errorf("api: make the listener's certificate: %w", err)
	}
	return loadUICert(home)
}

func loadUICert(home string) (*UICert, error) {
	certPEM, err := os.ReadFile(filepath.Join(home, UICertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(home, UIKeyFile))
	if err != nil {
		return nil, err
	}
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("api: the listener's certificate in %s is not valid: %w (delete %s and %s to make a new one; paired browsers then see a new certificate warning)", home, err, UICertFile, UIKeyFile)
	}
	leaf, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("api: the listener's certificate: %w", err)
	}
	tc.Leaf = leaf
	return &UICert{TLS: tc, SPKI: spkiFingerprint(leaf)}, nil
}

// spkiFingerprint returns the base64 SHA-256 of cert's public key.
func spkiFingerprint(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// makeUICert writes a new self-signed certificate and key to home. The
// key is written first: a crash between the two leaves no certificate,
// and the next start makes both again.
func makeUICert(home string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	names, ips := certNames(hostname, interfaceIPs())
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Loam node " + hostname, Organization: []string{"Loam"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(uiCertLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(home, UIKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return err
	}
	return writeFileAtomic(home, UICertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// certNames returns the DNS names and IP addresses a certificate for this
// machine names: its host name (and hostname.local, as mDNS names it),
// localhost, and its addresses.
func certNames(hostname string, addrs []net.IP) ([]string, []net.IP) {
	names := []string{"localhost"}
	if h := strings.ToLower(strings.TrimSuffix(hostname, ".")); h != "" && h != "localhost" {
		names = append(names, h)
		if !strings.HasSuffix(h, ".local") {
			names = append(names, h+".local")
		}
	}
	return names, addrs
}

// interfaceIPs returns the addresses of the machine's interfaces, link-
// local IPv6 ones left out (a browser cannot name them without a zone).
func interfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsMulticast() {
			continue
		}
		out = append(out, ipn.IP)
	}
	return out
}
