// Package netlab builds emulated networks for tests out of Linux network
// namespaces: an "internet" namespace and home LANs, each behind its own
// NAT router namespace that behaves like a home router. Tests run
// processes inside them with Lab.Command.
//
// It follows /work/shared/NETLAB.md (copied into docs/design.md, "#6
// reach"): the internet uses addresses that libp2p counts as public
// (11.0.0.0/24; reserved and private ranges would keep libp2p from hole
// punching), which exist only inside namespaces the lab made and have no
// route out of them; each router masquerades its LAN (nftables), forwards
// inward only established traffic, and drops new traffic addressed to
// itself, as home routers do (otherwise the peer's first punch packet
// takes the connection-tracking tuple and the punch fails). A router is a
// cone NAT (keeps ports: hole punching works) or a symmetric NAT (a new
// random port per destination: hole punching cannot work), see NAT.
//
// It needs root, ip (iproute2) and nft (nftables). New calls t.Skip, naming
// what is missing, when they are not there, or t.Fatal when the
// environment variable LOAM_NETLAB_REQUIRED is 1 (CI sets it, so that the
// test cannot be skipped there unnoticed). Every namespace name carries a
// random prefix, so that parallel or leftover labs never collide, and
// t.Cleanup deletes them even when the test fails; register the cleanup
// of processes run inside the lab after New, so that they stop first.
package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// InternetPrefix is the emulated internet's subnet: public in libp2p's
// eyes, routed nowhere outside the lab.
const InternetPrefix = "11.0.0."

// Lab is one emulated network: an internet namespace with address
// InternetPrefix+"1", and homes.
type Lab struct {
	t     testing.TB
	id    string // random, in every namespace name
	Inet  string // the internet namespace's name
	Homes []Home
}

// Home is one home LAN: a host behind a NAT router.
type Home struct {
	Router string // the router namespace
	Host   string // the host namespace
	// WAN is the router's internet address, LAN the host's address.
	WAN, LAN string
	NAT      NAT      // how the router maps ports
	More     []string // namespaces of the hosts AddHost added
}

// NAT is how a home router maps the LAN's ports to its internet address.
type NAT int

const (
	// ConeNAT keeps a LAN socket's port for every destination when
	// nothing clashes (endpoint-independent mapping): what most home
	// routers do, and what hole punching needs.
	ConeNAT NAT = iota
	// SymmetricNAT gives a LAN socket a new random port for every
	// destination (endpoint-dependent mapping, nftables masquerade
	// fully-random), as carrier-grade and some office NATs do: the
	// address others observe is valid only for the observer, so hole
	// punching cannot work.
	SymmetricNAT
)

func (n NAT) String() string {
	if n == SymmetricNAT {
		return "symmetric"
	}
	return "cone"
}

// Missing returns why a lab cannot be built here, or "".
func Missing() string {
	var miss []string
	if os.Geteuid() != 0 {
		miss = append(miss, "root (network namespaces need CAP_NET_ADMIN)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss = append(miss, fmt.Sprintf("%s (install %s)", tool, map[string]string{"ip": "iproute2", "nft": "nftables"}[tool]))
		}
	}
	if len(miss) == 0 {
		return ""
	}
	return "netlab needs " + strings.Join(miss, ", ")
}

// RequiredEnv names the environment variable that, set to 1, turns the
// skip of SkipIfMissing into a failure.
const RequiredEnv = "LOAM_NETLAB_REQUIRED"

// SkipIfMissing skips the test, naming what is missing, if a lab cannot be
// built here; with RequiredEnv=1 it fails it instead.
func SkipIfMissing(t testing.TB) {
	t.Helper()
	m := Missing()
	switch {
	case m == "":
	case os.Getenv(RequiredEnv) == "1":
		t.Fatalf("%s (and %s=1 requires it)", m, RequiredEnv)
	default:
		t.Skip(m)
	}
}

// New builds a lab with the given number of homes (at most 200), all
// behind cone NATs, or skips the test if Missing says it cannot.
func New(t testing.TB, homes int) *Lab {
	t.Helper()
	return NewNATs(t, make([]NAT, homes)...)
}

// NewNATs builds a lab with one home per element of nats (at most 200),
// behind a router of that kind, or skips the test if Missing says it
// cannot.
func NewNATs(t testing.TB, nats ...NAT) *Lab {
	t.Helper()
	SkipIfMissing(t)
	var b [3]byte
	rand.Read(b[:])
	l := &Lab{t: t, id: hex.EncodeToString(b[:])}
	l.Inet = "lab" + l.id + "-inet"
	t.Cleanup(l.destroy)

	l.addNS(l.Inet)
	l.in(l.Inet, "ip", "link", "add", "br0", "type", "bridge")
	l.in(l.Inet, "ip", "addr", "add", InternetPrefix+"1/24", "dev", "br0")
	l.in(l.Inet, "ip", "link", "set", "br0", "up")
	for i := 1; i <= len(nats); i++ {
		h := Home{
			NAT:    nats[i-1],
			Router: fmt.Sprintf("lab%s-r%d", l.id, i),
			Host:   fmt.Sprintf("lab%s-h%d", l.id, i),
			WAN:    fmt.Sprintf("%s%d", InternetPrefix, 1+i),
			LAN:    fmt.Sprintf("10.%d.0.2", i),
		}
		l.addNS(h.Router)
		l.addNS(h.Host)
		// internet <-> router WAN
		l.run("ip", "link", "add", "wan", "netns", h.Router, "type", "veth", "peer", "name", fmt.Sprintf("home%d", i), "netns", l.Inet)
		l.in(l.Inet, "ip", "link", "set", fmt.Sprintf("home%d", i), "master", "br0", "up")
		l.in(h.Router, "ip", "addr", "add", h.WAN+"/24", "dev", "wan")
		l.in(h.Router, "ip", "link", "set", "wan", "up")
		// router LAN: a bridge, so that more hosts can join it (AddHost)
		l.in(h.Router, "ip", "link", "add", "lan", "type", "bridge")
		l.in(h.Router, "ip", "addr", "add", fmt.Sprintf("10.%d.0.1/24", i), "dev", "lan")
		l.in(h.Router, "ip", "link", "set", "lan", "up")
		l.plug(i, h.Host, h.LAN)
		l.in(h.Router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward") // no procps needed
		l.nft(h.Router, fmt.Sprintf(homeRouter, masquerade[h.NAT]))
		l.Homes = append(l.Homes, h)
	}
	return l
}

// homeRouter is a home router's ruleset: masquerade the LAN (with the
// statement of masquerade), forward inward only what belongs to
// connections from inside, and drop new connections to the router itself
// from the internet.
const homeRouter = `
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" %s
	}
}
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "lan" accept
		ct state established,related accept
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state new drop
	}
}
`

// masquerade is the NAT statement of each kind of router. Plain
// masquerade keeps source ports unless they clash; fully-random picks a
// random port for every new connection tracking entry, that is for every
// destination address and port (TestSymmetricNAT checks both).
var masquerade = map[NAT]string{
	ConeNAT:      "masquerade",
	SymmetricNAT: "masquerade fully-random",
}

// plug connects namespace ns to home i's LAN bridge as eth0 with address
// ip, its default route through the router.
func (l *Lab) plug(i int, ns, ip string) {
	l.t.Helper()
	router := fmt.Sprintf("lab%s-r%d", l.id, i)
	port := "port" + strings.TrimPrefix(ip, fmt.Sprintf("10.%d.0.", i))
	l.run("ip", "link", "add", port, "netns", router, "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.in(router, "ip", "link", "set", port, "master", "lan", "up")
	l.in(ns, "ip", "addr", "add", ip+"/24", "dev", "eth0")
	l.in(ns, "ip", "link", "set", "eth0", "up")
	l.in(ns, "ip", "route", "add", "default", "via", fmt.Sprintf("10.%d.0.1", i))
}

// AddHost adds another host to home i (1-based) on the same LAN, with the
// next free address, and returns its namespace and address. Hosts of one
// home reach each other directly, multicast included (mDNS).
func (l *Lab) AddHost(i int) (ns, ip string) {
	l.t.Helper()
	h := &l.Homes[i-1]
	n := len(h.More) + 3 // .1 is the router, .2 the first host
	ns = fmt.Sprintf("lab%s-h%d-%d", l.id, i, n)
	ip = fmt.Sprintf("10.%d.0.%d", i, n)
	l.addNS(ns)
	l.plug(i, ns, ip)
	h.More = append(h.More, ns)
	return ns, ip
}

// AddInternetAddress gives the internet namespace one more address,
// InternetPrefix+host (host from 210 to 254, above every home's WAN), and
// returns it: a second bootstrap node there is a second observer at
// another address, as a daemon needs to tell how its router maps ports.
func (l *Lab) AddInternetAddress(host int) string {
	l.t.Helper()
	if host < 210 || host > 254 {
		l.t.Fatalf("netlab: internet host %d: want 210 to 254", host)
	}
	ip := fmt.Sprintf("%s%d", InternetPrefix, host)
	l.in(l.Inet, "ip", "addr", "add", ip+"/24", "dev", "br0")
	return ip
}

// Loss makes the internet drop percent of the packets it forwards to or
// from a home's router, at random (nftables numgen: these kernels have no
// netem).
func (l *Lab) Loss(home, percent int) {
	l.t.Helper()
	l.nft(l.Inet, fmt.Sprintf(`
table bridge loss {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "home%[1]d" numgen random mod 100 < %[2]d drop
		oifname "home%[1]d" numgen random mod 100 < %[2]d drop
	}
}
`, home, percent))
}

// Command returns cmd to run name with args in namespace ns.
func (l *Lab) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func (l *Lab) addNS(name string) {
	l.t.Helper()
	l.run("ip", "netns", "add", name)
	l.in(name, "ip", "link", "set", "lo", "up")
}

// in runs a command in namespace ns and fails the test if it fails.
func (l *Lab) in(ns string, args ...string) {
	l.t.Helper()
	l.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

func (l *Lab) nft(ns, ruleset string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v\n%s", ns, err, out)
	}
}

func (l *Lab) run(args ...string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// destroy deletes every namespace of the lab (and with them their
// interfaces), including those of a half-built lab.
func (l *Lab) destroy() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		l.t.Errorf("ip netns list: %v", err)
		return
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		name, _, _ := strings.Cut(string(line), " ")
		if !strings.HasPrefix(name, "lab"+l.id+"-") {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	}
}

// ListenUDP opens a UDP socket in namespace ns, bound to addr
// ("IP:port"; port 0 picks one). The socket stays in ns for its life and
// may be used from any goroutine; the caller closes it. It lets a test
// send and receive packets inside the lab without a helper process.
func (l *Lab) ListenUDP(ns, addr string) (*net.UDPConn, error) {
	c, err := inNS(ns, func() (*net.UDPConn, error) {
		ua, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return nil, err
		}
		return net.ListenUDP("udp4", ua)
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: listen udp %s in %s: %w", addr, ns, err)
	}
	return c, nil
}

// Blackhole makes home i's router (1-based) drop, silently, every packet
// from its LAN to ip: connections there hang until they time out instead
// of failing, as behind a firewall that drops packets or on a captive
// network.
func (l *Lab) Blackhole(i int, ip string) {
	l.t.Helper()
	l.nft(l.Homes[i-1].Router, fmt.Sprintf(`
table ip blackhole {
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		iifname "lan" ip daddr %s drop
	}
}
`, ip))
}
