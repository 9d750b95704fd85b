package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func ips(ss ...string) []net.IP {
	var out []net.IP
	for _, s := range ss {
		out = append(out, net.ParseIP(s))
	}
	return out
}

// phoneVerify checks cert as a phone with only the node's CA installed
// does: chained to the CA, for the server name name, at at.
func phoneVerify(ca *x509.Certificate, cert *x509.Certificate, name string, at time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func readFile(t *testing.T, home, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUICertCA: the node makes its CA once (ECDSA P-256, key 0600,
// name-constrained, critical, path length 0); the listener's certificate
// is a leaf it signs that verifies, with the CA as the only root, for the
// LAN address, the host name, HOSTNAME.local and localhost, and not for
// a public address the machine also has (left out). When the addresses
// change, the leaf is made again (same key: the SPKI pin holds) and
// verifies for the new address under the same CA, whose files are
// unchanged; unchanged addresses leave the leaf as it is; a leaf near
// its end is made again.
func TestUICertCA(t *testing.T) {
	home := t.TempDir()
	now := time.Now()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c, err := loadOrMakeUICert(home, "HomeNode", ips("192.168.1.20", "127.0.0.1", "2001:4860::1", "fd00::20"), now, log)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, home, UICAKeyFile)
	assertMode(t, home, UIKeyFile)
	ca := c.CA
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	if !ca.IsCA || !ca.MaxPathLenZero || ca.MaxPathLen != 0 || !ca.PermittedDNSDomainsCritical {
		t.Errorf("CA: IsCA %v, path length zero %v, constraints critical %v", ca.IsCA, ca.MaxPathLenZero, ca.PermittedDNSDomainsCritical)
	}
	critical := false
	for _, e := range ca.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 30}) {
			critical = e.Critical
		}
	}
	if !critical {
		t.Error("the CA's NameConstraints extension is not critical")
	}
	if got := strings.Join(ca.PermittedDNSDomains, " "); got != "localhost local home.arpa homenode" {
		t.Errorf("permitted names %q", got)
	}
	leaf := c.TLS.Leaf
	for _, name := range []string{"192.168.1.20", "homenode", "homenode.local", "localhost", "127.0.0.1", "fd00::20"} {
		if err := phoneVerify(ca, leaf, name, now); err != nil {
			t.Errorf("the leaf for %s: %v", name, err)
		}
	}
	if err := phoneVerify(ca, leaf, "2001:4860::1", now); err == nil {
		t.Error("the leaf names the public address 2001:4860::1")
	}
	if c.CAFingerprint != caFingerprint(ca) || len(c.CAFingerprint) != 95 {
		t.Errorf("CA fingerprint %q", c.CAFingerprint)
	}
	if !strings.Contains(logs.String(), "made the node's certificate authority") || !strings.Contains(logs.String(), "why=missing") {
		t.Errorf("logs:\n%s", logs.String())
	}

	// Restarted with the same addresses: nothing is made again.
	caPEM, caKeyPEM, leafPEM := readFile(t, home, UICAFile), readFile(t, home, UICAKeyFile), readFile(t, home, UICertFile)
	logs = syncBuffer{}
	log = slog.New(slog.NewTextHandler(&logs, nil))
	again, err := loadOrMakeUICert(home, "homenode", ips("127.0.0.1", "192.168.1.20"), now.Add(time.Hour), log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, home, UICertFile), leafPEM) || !again.TLS.Leaf.Equal(leaf) || logs.String() != "" {
		t.Errorf("the leaf was made again with no new address:\n%s", logs.String())
	}

	// A new DHCP lease: the leaf is made again, under the same CA.
	later := now.Add(24 * time.Hour)
	moved, err := loadOrMakeUICert(home, "homenode", ips("127.0.0.1", "192.168.7.33"), later, log)
	if err != nil {
		t.Fatal(err)
	}
	if moved.TLS.Leaf.Equal(leaf) || !strings.Contains(logs.String(), "a new address: 192.168.7.33") {
		t.Fatalf("the leaf was not made again for a new address:\n%s", logs.String())
	}
	if err := phoneVerify(ca, moved.TLS.Leaf, "192.168.7.33", later); err != nil {
		t.Errorf("the new leaf under the old CA: %v", err)
	}
	if !bytes.Equal(readFile(t, home, UICAFile), caPEM) || !bytes.Equal(readFile(t, home, UICAKeyFile), caKeyPEM) || !moved.CA.Equal(ca) {
		t.Error("the CA's files changed with the addresses")
	}
	if moved.SPKI != c.SPKI {
		t.Errorf("the SPKI fingerprint changed with the addresses: %s, was %s", moved.SPKI, c.SPKI)
	}
	if _, err := tls.X509KeyPair(readFile(t, home, UICertFile), readFile(t, home, UIKeyFile)); err != nil {
		t.Errorf("the files on disk: %v", err)
	}

	// Near its end: made again.
	end := moved.TLS.Leaf.NotAfter.Add(-uiCertRenew / 2)
	renewed, err := loadOrMakeUICert(home, "homenode", ips("127.0.0.1", "192.168.7.33"), end, log)
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.TLS.Leaf.NotAfter.After(moved.TLS.Leaf.NotAfter) || !strings.Contains(logs.String(), "near its end") {
		t.Errorf("a leaf near its end (%s) was not made again: until %s", moved.TLS.Leaf.NotAfter, renewed.TLS.Leaf.NotAfter)
	}
	if err := phoneVerify(ca, renewed.TLS.Leaf, "homenode.local", end); err != nil {
		t.Errorf("the renewed leaf: %v", err)
	}

	// A broken CA key is refused, saying what to do.
	os.WriteFile(filepath.Join(home, UICAKeyFile), []byte("junk"), 0o600)
	if _, err := loadOrMakeUICert(home, "homenode", nil, now, log); err == nil || !strings.Contains(err.Error(), "delete "+UICAFile) {
		t.Errorf("a broken CA key: %v", err)
	}
}

// signWithCA returns a certificate for names and addresses that the CA
// of home signs, as anyone holding its key could, and its key.
func signWithCA(t *testing.T, home string, names []string, addrs []net.IP, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	ca, err := loadCA(home)
	if err != nil {
		t.Fatal(err)
	}
	return signWith(t, ca.cert, ca.key, names, addrs, isCA)
}

func signWith(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, names []string, addrs []net.IP, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "www.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: isCA,
		DNSNames: names, IPAddresses: addrs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestUICANameConstraints: the CA cannot be used to impersonate a real
// website: a certificate it signs for example.com, a public address, a
// name under a public top-level domain named like a host, or a home name
// together with a public one fails verification with the CA as the only
// root; it cannot make an intermediate CA either. A host name that is a
// public top-level domain ("dev") is not among the CA's names.
func TestUICANameConstraints(t *testing.T) {
	home := t.TempDir()
	c, err := loadOrMakeUICert(home, "homenode", ips("10.0.0.2"), time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		names []string
		addrs []net.IP
		check string
		ok    bool
	}{
		{"a home name", []string{"homenode.local"}, nil, "homenode.local", true},
		{"a private address", nil, ips("172.20.1.1"), "172.20.1.1", true},
		{"a name under the host name", []string{"www.homenode"}, nil, "www.homenode", true},
		{"example.com", []string{"example.com"}, nil, "example.com", false},
		{"www.google.com", []string{"www.google.com"}, nil, "www.google.com", false},
		{"a public address", nil, ips("8.8.8.8"), "8.8.8.8", false},
		{"a public IPv6 address", nil, ips("2606:4700::1111"), "2606:4700::1111", false},
		{"the host name as a domain's label", []string{"homenode.example.com"}, nil, "homenode.example.com", false},
		{"a home name with a public one", []string{"homenode.local", "bank.example"}, nil, "homenode.local", false},
		{"a private address with a public one", nil, ips("10.0.0.2", "1.1.1.1"), "10.0.0.2", false},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			cert, _ := signWithCA(t, home, tc.names, tc.addrs, false)
			err := phoneVerify(c.CA, cert, tc.check, time.Now())
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok {
				var ci x509.CertificateInvalidError
				if !errors.As(err, &ci) || ci.Reason != x509.CANotAuthorizedForThisName {
					t.Errorf("accepted or refused for another reason: %v", err)
				}
			}
		})
	}
	// An intermediate the CA signs (for home names only) cannot sign
	// anything a phone accepts: the CA's path length is 0.
	inter, interKey := signWithCA(t, home, []string{"homenode.local"}, nil, true)
	leaf, _ := signWith(t, inter, interKey, []string{"homenode.local"}, nil, false)
	roots, mids := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(c.CA)
	mids.AddCert(inter)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: mids, DNSName: "homenode.local"})
	var ci x509.CertificateInvalidError
	if !errors.As(err, &ci) || ci.Reason != x509.TooManyIntermediates {
		t.Errorf("a leaf of an intermediate of the CA: %v, want too many intermediates", err)
	}

	for _, h := range []string{"dev", "app", "google", "nas.example.com", "fritz.box", "localhost", "x.local"} {
		if ownDomain(h) {
			t.Errorf("host name %q would be a name constraint: it permits public websites' names", h)
		}
	}
	for _, h := range []string{"my_host", "höst", "-x", "a..b", ""} {
		if ownDomain(h) {
			t.Errorf("host name %q (not a DNS name) would be a name constraint", h)
		}
	}
	odd, err := loadOrMakeUICert(t.TempDir(), "My_Host", ips("10.0.0.2"), time.Now(), slog.New(slog.DiscardHandler))
	if err != nil || strings.Join(odd.TLS.Leaf.DNSNames, " ") != "localhost" {
		t.Errorf("host name My_Host: %v, leaf names %v", err, odd.TLS.Leaf.DNSNames)
	}
	for _, h := range []string{"homenode", "nas.lan", "my-server"} {
		if !ownDomain(h) {
			t.Errorf("host name %q is not a name constraint", h)
		}
	}
	devHome := t.TempDir()
	dev, err := loadOrMakeUICert(devHome, "dev", ips("10.0.0.2"), time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(dev.CA.PermittedDNSDomains, " "), "dev") || strings.Contains(strings.Join(dev.TLS.Leaf.DNSNames, " "), "dev ") {
		t.Errorf("host name dev: CA names %v, leaf names %v", dev.CA.PermittedDNSDomains, dev.TLS.Leaf.DNSNames)
	}
	if err := phoneVerify(dev.CA, dev.TLS.Leaf, "dev.local", time.Now()); err != nil {
		t.Errorf("host name dev, the leaf for dev.local: %v", err)
	}
	if www, _ := signWithCA(t, devHome, []string{"www.dev"}, nil, false); phoneVerify(dev.CA, www, "www.dev", time.Now()) == nil {
		t.Error("host name dev: the CA vouches for www.dev")
	}
}

// TestUICertMigrates: a home with the self-signed certificate of before
// moves to the CA at its first start, keeping the key (the SPKI
// fingerprint is the same), and says so in the log.
func TestUICertMigrates(t *testing.T) {
	home := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Loam node homenode"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, DNSNames: []string{"localhost", "homenode"}, IPAddresses: ips("10.0.0.2"),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := x509.ParseCertificate(der)
	if err := writeKeyPEM(home, UIKeyFile, key); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, UICertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)

	var logs syncBuffer
	c, err := loadOrMakeUICert(home, "homenode", ips("10.0.0.2"), time.Now(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c.SPKI != spkiFingerprint(old) {
		t.Errorf("the SPKI fingerprint changed: %s, was %s", c.SPKI, spkiFingerprint(old))
	}
	if err := phoneVerify(c.CA, c.TLS.Leaf, "10.0.0.2", time.Now()); err != nil {
		t.Errorf("the moved leaf under the CA: %v", err)
	}
	if !strings.Contains(logs.String(), "self-signed, from before") || !strings.Contains(logs.String(), "paired browsers stay paired") {
		t.Errorf("the log does not say the certificate moved to the CA:\n%s", logs.String())
	}
}

// TestCAServed: /loam-ca.crt is served on the LAN listener without a
// session, as DER with the type phones install, and it is the CA that
// the listener's own TLS certificate chains to; the loopback API does not
// serve it, and a foreign Host is refused.
func TestCAServed(t *testing.T) {
	l := serveLAN(t, t.TempDir(), "127.0.0.1:0")
	resp, body := l.do("GET", CAPath, "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" {
		t.Fatalf("GET %s: %s %q", CAPath, resp.Status, resp.Header.Get("Content-Type"))
	}
	ca, err := x509.ParseCertificate([]byte(body))
	if err != nil || !ca.IsCA || !ca.Equal(l.d.UICert().CA) {
		t.Fatalf("GET %s: not the CA: %v", CAPath, err)
	}
	if got := resp.Header.Get("X-Loam-CA-SHA256"); got != caFingerprint(ca) {
		t.Errorf("X-Loam-CA-SHA256 %q, want %q", got, caFingerprint(ca))
	}
	// What the listener presents verifies under it, as on a phone that
	// installed it.
	if err := phoneVerify(ca, resp.TLS.PeerCertificates[0], "127.0.0.1", time.Now()); err != nil {
		t.Errorf("the listener's certificate under the served CA: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	trusting := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	conn, err := tls.Dial("tcp", l.d.UIListenAddr(), trusting)
	if err != nil {
		t.Errorf("a client trusting only the CA: %v", err)
	} else {
		conn.Close()
	}
	if resp, _ := l.do("HEAD", CAPath, "", nil); resp.StatusCode != 200 || resp.Header.Get("X-Loam-CA-SHA256") == "" {
		t.Errorf("HEAD %s: %s", CAPath, resp.Status)
	}
	if resp, _ := l.do("POST", CAPath, "", nil); resp.StatusCode != 405 {
		t.Errorf("POST %s: %s", CAPath, resp.Status)
	}
	port := l.base[strings.LastIndex(l.base, ":")+1:]
	if resp, _ := l.do("GET", CAPath, "", map[string]string{"Host": "evil.example:" + port}); resp.StatusCode != 403 {
		t.Errorf("GET %s with a foreign Host: %s", CAPath, resp.Status)
	}
	lo, err := l.d.Client().LoginURL(ctxT(t))
	if err != nil || lo.CA != caFingerprint(ca) {
		t.Errorf("POST /v1/logins: CA %q %v", lo.CA, err)
	}
	p, err := l.d.Client().Pair(ctxT(t), "phone")
	if err != nil || p.CA != caFingerprint(ca) || !strings.Contains(p.URLs[0], "&ca=") {
		t.Errorf("POST /v1/pairings: %+v %v", p, err)
	}
	r, err := (&http.Client{}).Get("http://" + l.d.Addr() + CAPath)
	if err == nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode == 200 && r.Header.Get("Content-Type") == "application/x-x509-ca-cert" {
			t.Error("the loopback API serves the CA")
		}
	}
}

// localConn is a connection that says which local address it came to.
type localConn struct {
	net.Conn
	local net.Addr
}

func (c localConn) LocalAddr() net.Addr { return c.local }

// TestCertFollowsNewAddress: while the daemon runs, the machine gets a
// new address (a new DHCP lease); the first connection to it gets a
// certificate made again that names it, under the same CA, with no
// restart; another connection to an address it does not name within
// certRecheck does not make it again.
func TestCertFollowsNewAddress(t *testing.T) {
	home := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	addrs := ips("127.0.0.1", "192.168.1.20")
	c, err := loadOrMakeUICert(home, "homenode", addrs, time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	p := newPhoneState()
	p.setListener(&net.TCPAddr{IP: net.IPv4zero, Port: 7443}, c)
	reloads := 0
	p.setReload(func() (*UICert, error) {
		reloads++
		return loadOrMakeUICert(home, "homenode", addrs, time.Now(), log)
	})
	hello := func(ip string) *tls.ClientHelloInfo {
		return &tls.ClientHelloInfo{Conn: localConn{local: &net.TCPAddr{IP: net.ParseIP(ip), Port: 7443}}}
	}
	if got := p.currentCert(hello("192.168.1.20")); got != c || reloads != 0 {
		t.Fatalf("a connection to a named address: reloads %d", reloads)
	}
	addrs = ips("127.0.0.1", "192.168.7.33") // the new lease
	got := p.currentCert(hello("192.168.7.33"))
	if reloads != 1 || got == c {
		t.Fatalf("a connection to the new address: reloads %d, same certificate %v", reloads, got == c)
	}
	if err := phoneVerify(c.CA, got.TLS.Leaf, "192.168.7.33", time.Now()); err != nil {
		t.Fatalf("the new certificate for the new address: %v", err)
	}
	if !bytes.Equal(got.CA.Raw, c.CA.Raw) || got.SPKI != c.SPKI {
		t.Fatal("the CA or the key changed: phones would have to trust the node again")
	}
	if p.currentCert(hello("10.9.9.9")); reloads != 1 {
		t.Fatalf("another unnamed address within %s made it again (%d reloads)", certRecheck, reloads)
	}
}

// TestLANURLsOnlyHomeAddresses: the pairing and UI URLs name only
// addresses the CA permits (private, shared, link-local, unique-local),
// never a public IPv6 or IPv4 address a phone would refuse the certificate
// of; loopback only when there is nothing else. Before, a machine with a
// global IPv6 address printed a pairing URL that no phone could open.
func TestLANURLsOnlyHomeAddresses(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	for _, c := range []struct {
		ips  []netip.Addr
		want []string
	}{
		{addrs("192.168.1.20", "2a01:4f8::20", "fd12:3456::20", "203.0.113.7", "127.0.0.1"),
			[]string{"https://192.168.1.20:7443/x", "https://[fd12:3456::20]:7443/x"}},
		{addrs("2a01:4f8::20", "127.0.0.1"), []string{"https://127.0.0.1:7443/x"}},
	} {
		p := &phoneState{port: "7443", ips: c.ips, ipsAt: time.Now()}
		got := p.lanURLs("/x")
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("addresses %v: URLs %v, want %v", c.ips, got, c.want)
		}
	}
}
