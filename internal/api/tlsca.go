package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// The node's own certificate authority for phones. A phone that installs
// it as trusted accepts the --ui-listen listener's certificate (the leaf,
// tlscert.go) without a warning, so its browser registers the service
// worker and offers to install the app. The CA is name-constrained
// (critical NameConstraints) to what a home node can be called: private
// and loopback addresses, localhost, .local and home.arpa names, and the
// machine's host name when no public website can be named under it. A CA
// that phones trust must not be able to vouch for anything else: a
// browser refuses a certificate it signs for example.com or a public
// address, whoever holds its key. It signs only leaves (path length 0).
const (
	// UICAFile and UICAKeyFile hold the CA's certificate and its private
	// key (PEM; both mode 0600). The CA is made once; a phone that trusts
	// it keeps trusting the node whatever its addresses become.
	UICAFile    = "ui-ca.pem"
	UICAKeyFile = "ui-ca-key.pem"
	// uiCALife is how long the CA is valid: longer than any phone.
	uiCALife = 20 * 365 * 24 * time.Hour
)

// homeIPRanges are the addresses a home node's certificate may name: the
// private (RFC 1918), shared (RFC 6598, carrier-grade NAT and VPNs such
// as Tailscale), link-local and unique-local (fc00::/7) ranges, and
// loopback. No public website is reached at these.
var homeIPRanges = func() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "fc00::/7", "::1/128"} {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			panic(err)
		}
		out = append(out, n)
	}
	return out
}()

// homeAddr reports whether ip is in homeIPRanges: an address a home
// node's certificate may name.
func homeAddr(ip netip.Addr) bool {
	for _, n := range homeIPRanges {
		if n.Contains(ip.AsSlice()) {
			return true
		}
	}
	return false
}

// homeDomains are the DNS names (with all names under them) a home
// node's certificate may name besides its host name: names reserved for
// the machine itself (RFC 6761), for mDNS (RFC 6762) and for home
// networks (RFC 8375). No public website can have them.
var homeDomains = []string{"localhost", "local", "home.arpa"}

// ownDomain reports whether the machine's host name h may be a name
// constraint of its CA: a constraint permits the name and every name
// under it, so h must not be, nor sit under, a suffix the public can
// register names in ("dev" would permit every .dev website,
// "nas.example.com" is under com). It may be a single label that is no
// public top-level domain ("homeserver", as a router's DNS answers it),
// or a name under such a label ("nas.lan"). A top-level domain delegated
// after the CA was made is the risk left (docs/security.md).
func ownDomain(h string) bool {
	if h == "localhost" || !isDNSName(h) {
		return false
	}
	for _, d := range homeDomains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return false // permitted anyway
		}
	}
	suffix, icann := publicsuffix.PublicSuffix(h)
	return !icann && !strings.Contains(suffix, ".")
}

// isDNSName reports whether h is a host name a certificate may carry:
// dot-separated labels of lower-case letters, digits and inner hyphens
// (no underscores, spaces or non-ASCII letters, which some verifiers
// refuse), 1 to 63 long, 253 in all.
func isDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// normalHost returns a host name as certificates name it: lower case,
// without a trailing dot.
func normalHost(h string) string { return strings.ToLower(strings.TrimSuffix(h, ".")) }

// uiCA is the node's CA: its certificate and key.
type uiCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// permitsName reports whether the CA's name constraints permit the DNS
// name (so a leaf naming it verifies).
func (ca *uiCA) permitsName(name string) bool {
	if !isDNSName(name) {
		return false
	}
	for _, d := range ca.cert.PermittedDNSDomains {
		if name == d || strings.HasSuffix(name, "."+strings.TrimPrefix(d, ".")) {
			return true
		}
	}
	return false
}

// permitsIP reports whether the CA's name constraints permit the address.
func (ca *uiCA) permitsIP(ip net.IP) bool {
	for _, n := range ca.cert.PermittedIPRanges {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// caFingerprint returns the SHA-256 of a certificate (its DER) as
// certificate viewers and phones' certificate settings show it: upper
// case hex pairs joined by colons.
func caFingerprint(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range h {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// loadOrMakeCA returns home's CA, making it (named for hostname) if its
// certificate is missing; made reports that it did.
func loadOrMakeCA(home, hostname string, now time.Time) (ca *uiCA, made bool, err error) {
	ca, err = loadCA(home)
	if !errors.Is(err, fs.ErrNotExist) {
		return ca, false, err
	}
	if err := makeCA(home, hostname, now); err != nil {
		return nil, false, fmt.Errorf("api: make the node's certificate authority for phones: %w", err)
	}
	ca, err = loadCA(home)
	return ca, err == nil, err
}

// loadCA reads home's CA; an fs.ErrNotExist error when its certificate is
// missing.
func loadCA(home string) (*uiCA, error) {
	certPEM, err := os.ReadFile(filepath.Join(home, UICAFile))
	if err != nil {
		return nil, err
	}
	broken := func(err error) error {
		return fmt.Errorf("api: the node's certificate authority for phones in %s is not valid: %v (delete %s and %s to make a new one; phones that trusted the old one must then install the new one)", home, err, UICAFile, UICAKeyFile)
	}
	keyPEM, err := os.ReadFile(filepath.Join(home, UICAKeyFile))
	if err != nil {
		return nil, broken(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, broken(err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, broken(err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, broken(errors.New("the key is not the certificate's"))
	}
	if !cert.IsCA || len(cert.PermittedDNSDomains) == 0 {
		return nil, broken(errors.New("not a name-constrained CA"))
	}
	return &uiCA{cert: cert, key: key}, nil
}

// makeCA writes a new CA to home. The key is written first: a crash
// between the two leaves no certificate, and the next start makes both.
func makeCA(home, hostname string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	domains := append([]string(nil), homeDomains...)
	if h := normalHost(hostname); ownDomain(h) {
		domains = append(domains, h)
	}
	name := "Loam home node"
	if h := normalHost(hostname); h != "" {
		name += " " + h
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The name a phone's settings list it by: which node, and when it
		// was made (a home made again has another).
		Subject:                     pkix.Name{CommonName: name + " (" + now.UTC().Format("2006-01-02") + ")", Organization: []string{"Loam"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(uiCALife),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         domains,
		PermittedIPRanges:           homeIPRanges,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := writeKeyPEM(home, UICAKeyFile, key); err != nil {
		return err
	}
	return writeFileAtomic(home, UICAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// parseKeyPEM parses an ECDSA key in PKCS #8 PEM, as writeKeyPEM writes
// it (and the listener's self-signed certificate's key was written).
func parseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("a %T key, want ECDSA P-256", k)
	}
	return ek, nil
}

// writeKeyPEM writes key to home/name (0600, atomically).
func writeKeyPEM(home, name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(home, name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
