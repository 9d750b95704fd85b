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
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The certificate of the --ui-listen listener: a leaf the node's own CA
// signs (tlsca.go), naming the machine's current host names and the
// addresses of it the CA permits. It is made on first start and made
// again at a start when a name or address it lacks has appeared (a new
// DHCP lease), when it nears its end, or when it is not the CA's (a home
// from before the CA, whose self-signed certificate it replaces). Its key
// stays: the SPKI fingerprint (UICert.SPKI), which chromium's
// --ignore-certificate-errors-spki-list takes, does not change with it.
// A phone that installed the CA trusts every leaf; one that did not sees
// one warning.
const (
	// UICertFile and UIKeyFile hold the certificate and its private key
	// (PEM; the key with mode 0600).
	UICertFile = "ui-cert.pem"
	UIKeyFile  = "ui-key.pem"
	// uiCertLife is how long a leaf is valid (Apple's limit for a
	// certificate of a root a user installed is 825 days).
	uiCertLife = 365 * 24 * time.Hour
	// uiCertRenew is how long before its end a leaf is made again.
	uiCertRenew = 30 * 24 * time.Hour
)

// UICert is the listener's certificate and its fingerprints.
type UICert struct {
	TLS tls.Certificate
	// SPKI is the base64 SHA-256 of the certificate's public key
	// (SubjectPublicKeyInfo), as chromium's
	// --ignore-certificate-errors-spki-list wants it.
	SPKI string
	// CA is the node's certificate authority, which signs the
	// certificate; CAFingerprint is the SHA-256 of its DER (hex pairs and
	// colons), which a phone shows when it installs it.
	CA            *x509.Certificate
	CAFingerprint string
}

// LoadOrCreateUICert returns home's listener certificate, making the CA
// or the certificate if missing, and the certificate again if it lacks a
// current name or address of the machine, nears its end or is not the
// CA's (see above); it logs what it made.
func LoadOrCreateUICert(home string, log *slog.Logger) (*UICert, error) {
	hostname, _ := os.Hostname()
	return loadOrMakeUICert(home, hostname, interfaceIPs(), time.Now(), log)
}

// loadOrMakeUICert is LoadOrCreateUICert for a machine with the host name
// and addresses, at now.
func loadOrMakeUICert(home, hostname string, addrs []net.IP, now time.Time, log *slog.Logger) (*UICert, error) {
	ca, made, err := loadOrMakeCA(home, hostname, now)
	if err != nil {
		return nil, err
	}
	if made {
		log.Info("made the node's certificate authority for phones (install it on a phone from the pair page to trust the node)",
			"file", filepath.Join(home, UICAFile), "sha256", caFingerprint(ca.cert), "names", strings.Join(ca.cert.PermittedDNSDomains, " "))
	}
	key, err := loadOrMakeLeafKey(home)
	if err != nil {
		return nil, err
	}
	names, ips := leafNames(ca, hostname, addrs)
	leaf, _ := loadLeaf(home)
	why := leafStale(leaf, ca, key, names, ips, now)
	if why != "" {
		if leaf, err = makeLeaf(home, ca, key, hostname, names, ips, now); err != nil {
			return nil, fmt.Errorf("api: make the listener's certificate: %w", err)
		}
		log.Info("made the listener's certificate", "why", why, "names", strings.Join(names, " "), "addresses", fmt.Sprint(ips), "until", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return &UICert{
		TLS:           tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
		SPKI:          spkiFingerprint(leaf),
		CA:            ca.cert,
		CAFingerprint: caFingerprint(ca.cert),
	}, nil
}

// loadOrMakeLeafKey returns the listener's key, making it if missing. A
// home from before the CA keeps the key of its self-signed certificate.
func loadOrMakeLeafKey(home string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join(home, UIKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		os.Remove(filepath.Join(home, UICertFile)) // not the new key's
		return key, writeKeyPEM(home, UIKeyFile, key)
	}
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("api: the listener's key in %s is not valid: %w (delete %s and %s to make a new one; phones that trust the node's CA keep trusting it)", home, err, UIKeyFile, UICertFile)
	}
	return key, nil
}

// loadLeaf reads the listener's certificate; an error if it is missing
// or does not parse (it is then made again).
func loadLeaf(home string) (*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(home, UICertFile))
	if err != nil {
		return nil, err
	}
	return parseCertPEM(b)
}

// leafStale says why leaf must be made again, or "".
func leafStale(leaf *x509.Certificate, ca *uiCA, key *ecdsa.PrivateKey, names []string, ips []net.IP, now time.Time) string {
	switch {
	case leaf == nil:
		return "missing"
	case !key.PublicKey.Equal(leaf.PublicKey):
		return "not of the listener's key"
	case leaf.CheckSignatureFrom(ca.cert) != nil:
		return "self-signed, from before the node's certificate authority: now the CA signs it, so a phone that installs the CA trusts the node (paired browsers stay paired)"
	case now.Add(uiCertRenew).After(leaf.NotAfter):
		return "near its end"
	case now.Before(leaf.NotBefore):
		return "not valid yet (the clock went back)"
	}
	for _, n := range names {
		if !slices.Contains(leaf.DNSNames, n) {
			return "a new name: " + n
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return "a new address: " + ip.String()
		}
	}
	return ""
}

// leafNames returns the names and addresses of the machine (certNames)
// that the CA permits: a public address, say, is left out (a phone
// reaching the node at it sees a warning).
func leafNames(ca *uiCA, hostname string, addrs []net.IP) ([]string, []net.IP) {
	ns, as := certNames(hostname, addrs)
	var names []string
	var ips []net.IP
	for _, n := range ns {
		if ca.permitsName(n) {
			names = append(names, n)
		}
	}
	for _, a := range as {
		if ca.permitsIP(a) {
			ips = append(ips, a)
		}
	}
	return names, ips
}

// spkiFingerprint returns the base64 SHA-256 of cert's public key.
func spkiFingerprint(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// makeLeaf writes a new certificate for key, signed by ca, naming names
// and ips, to home and returns it. It checks the certificate verifies
// under the CA, as a phone that installed it checks.
func makeLeaf(home string, ca *uiCA, key *ecdsa.PrivateKey, hostname string, names []string, ips []net.IP, now time.Time) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Loam node " + normalHost(hostname), Organization: []string{"Loam"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(uiCertLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("the new certificate does not verify under the node's CA: %w", err)
	}
	return leaf, writeFileAtomic(home, UICertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// certNames returns the DNS names and IP addresses a certificate for this
// machine names: its host name (and hostname.local, as mDNS names it),
// localhost, and its addresses.
func certNames(hostname string, addrs []net.IP) ([]string, []net.IP) {
	names := []string{"localhost"}
	if h := normalHost(hostname); h != "" && h != "localhost" {
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
