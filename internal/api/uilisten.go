package api

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The --ui-listen listener serves the web UI and the API to the owner's
// phones and tablets on the home network, over HTTPS (TLS 1.3 only, the
// node's own certificate, see tlscert.go). It differs from the loopback
// listener in what it accepts: the Host must be one of the node's own
// addresses or names with the listener's port (DNS rebinding refused);
// only a paired browser's session cookie authenticates (never the API
// token); every write needs the own Origin and the session's CSRF token;
// request bodies are bounded by LANMaxBody; login links, and asking for
// logins or pairing codes, are the loopback API's only.

// LANMaxBody bounds a request body on the --ui-listen listener.
const LANMaxBody = 256 << 20

// lanMaxConns bounds the connections the listener holds at once; more
// wait in the kernel's backlog until one closes.
const lanMaxConns = 256

// lanHostsTTL is how long the list of the machine's addresses is reused
// before it is read again (addresses change when a network does).
const lanHostsTTL = 10 * time.Second

// phoneState is a Server's pairing state and, once Serve starts it, its
// --ui-listen listener.
type phoneState struct {
	pair    pairing
	log     atomic.Pointer[slog.Logger] // the daemon's, set by Serve
	maxBody int64                       // LANMaxBody but in tests

	mu       sync.Mutex
	port     string                  // the listener's port; "" when there is none; guarded by mu
	fixed    *netip.Addr             // the listener's host when not unspecified; guarded by mu
	cert     *UICert                 // guarded by mu
	reload   func() (*UICert, error) // makes the certificate again if stale (LoadOrCreateUICert); guarded by mu
	checked  time.Time               // when reload last ran; guarded by mu
	hostname string                  // guarded by mu
	ips      []netip.Addr
	ipsAt    time.Time // when ips was read; guarded by mu
}

func newPhoneState() *phoneState {
	return &phoneState{maxBody: LANMaxBody, pair: pairing{codes: map[[32]byte]pairCode{}, spent: map[[32]byte]time.Time{}, now: time.Now}}
}

// setListener records the listener s serves on addr with cert.
func (p *phoneState) setListener(addr net.Addr, cert *UICert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ta, _ := addr.(*net.TCPAddr)
	ap := ta.AddrPort()
	p.port = fmt.Sprint(ap.Port())
	if ip := ap.Addr().Unmap(); !ip.IsUnspecified() {
		p.fixed = &ip
	}
	p.cert = cert
	p.hostname, _ = os.Hostname()
	p.hostname = strings.ToLower(strings.TrimSuffix(p.hostname, "."))
}

// setReload sets how the listener's certificate is made again when a
// connection comes to an address it does not name (currentCert).
func (p *phoneState) setReload(reload func() (*UICert, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reload = reload
}

// addrs returns the addresses the listener answers on: its own host, or
// every address of the machine.
func (p *phoneState) addrsLocked() []netip.Addr {
	if p.fixed != nil {
		return []netip.Addr{*p.fixed}
	}
	if time.Since(p.ipsAt) > lanHostsTTL {
		p.ips = p.ips[:0]
		for _, ip := range interfaceIPs() {
			if a, ok := netip.AddrFromSlice(ip); ok {
				p.ips = append(p.ips, a.Unmap())
			}
		}
		p.ipsAt = time.Now()
	}
	return p.ips
}

// listening returns the listener's port and certificate; port "" when
// there is no listener.
func (p *phoneState) listening() (string, *UICert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.port, p.cert
}

// ownHost reports whether host (a Host header) names the listener: one of
// its addresses, the machine's host name, hostname.local or localhost,
// with the listener's port (which may be left out only for 443).
func (p *phoneState) ownHost(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.port == "" {
		return false
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, "443"
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
	if port != p.port {
		return false
	}
	h = strings.ToLower(h)
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			return false
		}
		return slices.Contains(p.addrsLocked(), ip.Unmap()) || (ip.IsLoopback() && p.fixed == nil)
	}
	switch {
	case h == "localhost":
		return p.fixed == nil || p.fixed.IsLoopback()
	case p.hostname != "" && (h == p.hostname || h == p.hostname+".local" || h+".local" == p.hostname):
		return true
	}
	return false
}

// lanURLs returns a URL of the listener, ending in path, per address of
// it a phone can reach: IPv4 first, loopback ones left out (unless there
// is no other), and none the certificate cannot name (a public address:
// the CA is constrained to homeIPRanges, so a phone would refuse it).
func (p *phoneState) lanURLs(path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.port == "" {
		return nil
	}
	var v4, v6, lo []string
	primary := primaryIP()
	for _, ip := range p.addrsLocked() {
		if ip == primary || !homeAddr(ip) {
			continue // primary first, below; a public address never
		}
		u := "https://" + net.JoinHostPort(ip.String(), p.port) + path
		switch {
		case ip.IsLoopback():
			lo = append(lo, u)
		case ip.Is4():
			v4 = append(v4, u)
		default:
			v6 = append(v6, u)
		}
	}
	out := append(v4, v6...)
	if slices.Contains(p.addrsLocked(), primary) && !primary.IsLoopback() && homeAddr(primary) {
		out = append([]string{"https://" + net.JoinHostPort(primary.String(), p.port) + path}, out...)
	}
	if len(out) == 0 {
		out = lo
	}
	return out
}

// primaryIP returns the address this machine's default route leaves from
// (the one a phone on the home network most likely reaches: not a
// container bridge's or a VPN's), or the zero Addr. Dialing UDP sends
// nothing.
func primaryIP() netip.Addr {
	c, err := net.Dial("udp4", "192.0.2.1:9") // TEST-NET-1: only the route is looked up
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	ua, _ := c.LocalAddr().(*net.UDPAddr)
	if ua == nil {
		return netip.Addr{}
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	return ip.Unmap()
}

// checkLANHost refuses a request on the --ui-listen listener whose Host is
// not the node's own (DNS rebinding), or whose Origin, when it has one, is
// not https:// and that Host.
func (s *Server) checkLANHost(r *http.Request) error {
	if !s.phone.ownHost(r.Host) {
		return &kindError{kind: ErrForbidden,
			msg: fmt.Sprintf("the Host header %q is not one of this node's own addresses or names: open the node by the address 'loam pair' prints", r.Host)}
	}
	if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
		return &kindError{kind: ErrForbidden,
			msg: fmt.Sprintf("a request from origin %q refused: this listener serves only its own pages", o)}
	}
	return nil
}

// lanOnly serves the paths that differ on the --ui-listen listener and
// reports whether it did.
func (s *Server) lanOnly(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/login":
		writeError(w, &kindError{kind: ErrForbidden,
			msg: "login links work only on the loopback API, on the node's own machine: pair this browser with 'loam pair' instead"})
	case "/" + Version + "/pair":
		s.redeemPair(w, r)
	case CAPath:
		s.serveCA(w, r)
	case "/" + Version + "/pairings", "/" + Version + "/logins":
		writeError(w, &kindError{kind: ErrForbidden,
			msg: "pairing codes and login links are made only through the loopback API: run 'loam pair' or 'loam ui' on the node"})
	default:
		if r.Method == http.MethodPost && identityActs[r.URL.Path] {
			writeError(w, &kindError{kind: ErrForbidden,
				msg: "the person's identity is managed only on the node itself (loam id, loam device): a paired browser cannot make, recover or link identities, nor revoke devices"})
			return true
		}
		if _, pattern := s.mux.Handler(r); pattern == leavePattern {
			writeError(w, &kindError{kind: ErrForbidden,
				msg: "leaving a space deletes its data from the node: it is done only on the node itself ('loam space leave'), not from a paired browser"})
			return true
		}
		return false
	}
	return true
}

// identityActs are the acts on the person's identity the LAN listener
// refuses: each makes a credential of the person that outlives the
// browser's session (a recovery phrase, a linked device) or cuts the
// person's devices, so a lost or stolen paired phone must not reach them.
var identityActs = map[string]bool{
	"/" + Version + "/identity":                true, // answers the recovery phrase
	"/" + Version + "/identity/recover":        true,
	"/" + Version + "/identity/link":           true,
	"/" + Version + "/identity/link/wait":      true,
	"/" + Version + "/identity/add":            true,
	"/" + Version + "/identity/devices/revoke": true,
}

// CAPath is where the --ui-listen listener serves the node's CA (see
// tlsca.go), to anyone: a phone installs it from there to trust the node.
const CAPath = "/loam-ca.crt"

// serveCA serves GET CAPath: the CA's certificate in DER, as
// application/x-x509-ca-cert (which Android and iOS offer to install),
// and its fingerprint in X-Loam-CA-SHA256 for the pair page to show. It
// needs no session: the certificate is public, and a phone installs it
// before it pairs or after.
func (s *Server) serveCA(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeErrorStatus(w, http.StatusMethodNotAllowed, "method_not_allowed", "the node's certificate authority is read with GET "+CAPath)
		return
	}
	_, cert := s.phone.listening()
	h := w.Header()
	h.Set("Content-Type", "application/x-x509-ca-cert")
	h.Set("Content-Length", fmt.Sprint(len(cert.CA.Raw)))
	h.Set("X-Loam-CA-SHA256", cert.CAFingerprint)
	if r.Method == http.MethodGet {
		w.Write(cert.CA.Raw)
	}
}

// lanHandler is the http.Handler of the --ui-listen listener.
type lanHandler struct{ s *Server }

func (h lanHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		writeError(w, &kindError{kind: ErrForbidden, msg: "this listener answers only over HTTPS"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.s.phone.maxBody)
	h.s.serve(w, r, true)
}

// lanTLSConfig is the TLS configuration of the listener: TLS 1.3 only,
// with the certificate in force (currentCert).
func (p *phoneState) lanTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &p.currentCert(hello).TLS, nil
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// certRecheck is how often, at most, a connection to an address the
// certificate does not name makes the node check its certificate again.
const certRecheck = 30 * time.Second

// currentCert returns the listener's certificate for a connection. When
// the connection came to an address the certificate does not name (the
// machine got a new address while the daemon runs: a new DHCP lease), it
// first has the certificate made again (at most every certRecheck), so a
// phone on the new address needs no restart of the daemon.
func (p *phoneState) currentCert(hello *tls.ClientHelloInfo) *UICert {
	p.mu.Lock()
	cert, reload := p.cert, p.reload
	due := reload != nil && time.Since(p.checked) >= certRecheck && !names(cert, hello)
	if due {
		p.checked = time.Now()
	}
	p.mu.Unlock()
	if !due {
		return cert
	}
	c, err := reload()
	if err != nil {
		if log := p.log.Load(); log != nil {
			log.Warn("make the listener's certificate again", "err", err)
		}
		return cert
	}
	p.mu.Lock()
	p.cert = c
	p.mu.Unlock()
	return c
}

// names reports whether cert names the address the connection came to
// (or, with no address to tell, whether there is nothing to check).
func names(cert *UICert, hello *tls.ClientHelloInfo) bool {
	if hello == nil || hello.Conn == nil || cert.TLS.Leaf == nil {
		return true
	}
	ta, ok := hello.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return true
	}
	ip := ta.IP
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	for _, a := range cert.TLS.Leaf.IPAddresses {
		if a.Equal(ip) {
			return true
		}
	}
	return false
}

// describe adds the listener's URLs and fingerprint to u, if it listens.
func (p *phoneState) describe(u *LoginURL) {
	if _, cert := p.listening(); cert != nil {
		u.UIListen, u.SPKI, u.CA = p.lanURLs("/"), cert.SPKI, cert.CAFingerprint
	}
}

// limitListener accepts at most cap(sem) connections at once: Accept waits
// for one to close. Close ends a waiting Accept.
type limitListener struct {
	net.Listener
	sem  chan struct{} // one token per open connection
	done chan struct{} // closed by Close
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its token back when closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
