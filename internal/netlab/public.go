package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Public is a host on the emulated internet with an address of its own
// and no NAT in front of it: a server, or a daemon with a public address.
type Public struct {
	NS   string // its namespace
	IP   string // its internet address
	Port string // its link's interface on the internet namespace's bridge
}

// NeedTools skips the test, naming what is missing, if one of tools (as
// "tc") is not on PATH; with RequiredEnv=1 it fails it instead. Call it
// besides SkipIfMissing for tools beyond ip and nft.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	var miss []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			miss = append(miss, tool)
		}
	}
	switch {
	case len(miss) == 0:
	case os.Getenv(RequiredEnv) == "1":
		t.Fatalf("netlab needs %s (install iproute2), and %s=1 requires it", strings.Join(miss, ", "), RequiredEnv)
	default:
		t.Skipf("netlab needs %s (install iproute2)", strings.Join(miss, ", "))
	}
}

// publicTop is the internet address of the first public host; the next
// ones count down from it, above every home's router (homes take
// InternetPrefix+2 on) and below AddInternetAddress's range.
const publicTop = 209

// AddPublic adds a public host: a namespace whose eth0 is plugged into
// the internet bridge with the next free address counting down from
// InternetPrefix+"209". It fails the test when that address would be a
// home's.
func (l *Lab) AddPublic() Public {
	l.t.Helper()
	i := l.countNS("-p") + 1
	host := publicTop + 1 - i
	if host <= 1+len(l.Homes) {
		l.t.Fatalf("netlab: public host %d would take %s%d, a home router's address", i, InternetPrefix, host)
	}
	p := Public{NS: fmt.Sprintf("lab%s-p%d", l.id, i), IP: fmt.Sprintf("%s%d", InternetPrefix, host), Port: fmt.Sprintf("pub%d", i)}
	l.addNS(p.NS)
	l.run("ip", "link", "add", "eth0", "netns", p.NS, "type", "veth", "peer", "name", p.Port, "netns", l.Inet)
	l.in(l.Inet, "ip", "link", "set", p.Port, "master", "br0", "up")
	l.in(p.NS, "ip", "addr", "add", p.IP+"/24", "dev", "eth0")
	l.in(p.NS, "ip", "link", "set", "eth0", "up")
	return p
}

// countNS counts the lab's namespaces whose name, after the lab's prefix,
// starts with infix.
func (l *Lab) countNS(infix string) int {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		l.t.Fatalf("ip netns list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(name, "lab"+l.id+infix) {
			n++
		}
	}
	return n
}

// Shape degrades public host p's link to the internet: the internet drops
// lossPercent of the packets p sends, at random (nftables numgen; these
// kernels have no netem), so that each packet between two shaped hosts is
// lost with that probability once; and, unless rate is "", each direction
// of the link carries at most rate (tc tbf, in tc's units: "1mbit").
// Call it once per host.
func (l *Lab) Shape(p Public, lossPercent int, rate string) {
	l.t.Helper()
	if lossPercent > 0 {
		l.nft(l.Inet, fmt.Sprintf(`
table bridge shape {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "%s" numgen random mod 100 < %d drop
	}
}
`, p.Port, lossPercent))
	}
	if rate != "" {
		// A burst of 32 KB lets TCP start; a packet waits at most 400 ms
		// in the queue, then it is dropped, as a slow home link does.
		tbf := []string{"tc", "qdisc", "add", "dev", "", "root", "tbf", "rate", rate, "burst", "32kb", "latency", "400ms"}
		tbf[4] = p.Port // toward p: its download
		l.in(l.Inet, tbf...)
		tbf[4] = "eth0" // from p: its upload
		l.in(p.NS, tbf...)
	}
}

// DialContext returns a dial function that opens connections from inside
// namespace ns, for net/http.Transport.DialContext: a test reaches a
// server that listens on a namespace's loopback (a daemon's API) that way.
func (l *Lab) DialContext(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := inNS(ns, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		})
		if err != nil {
			return nil, fmt.Errorf("netlab: dial %s in %s: %w", addr, ns, err)
		}
		return c, nil
	}
}

// ListenTCP opens a TCP listener in namespace ns on addr ("IP:port"; port
// 0 picks one). The listener stays in ns; the caller closes it.
func (l *Lab) ListenTCP(ns, addr string) (net.Listener, error) {
	ln, err := inNS(ns, func() (net.Listener, error) { return net.Listen("tcp4", addr) })
	if err != nil {
		return nil, fmt.Errorf("netlab: listen tcp %s in %s: %w", addr, ns, err)
	}
	return ln, nil
}

// inNS runs f on a thread inside namespace ns and returns what it made: a
// socket made there stays in ns for its life and may be used from any
// goroutine. The thread is never unlocked: when its goroutine returns,
// the runtime ends the thread instead of reusing it in the wrong
// namespace.
func inNS[T any](ns string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := enterNS(ns); err != nil {
			var zero T
			done <- result{zero, err}
			return
		}
		v, err := f()
		done <- result{v, err}
	}()
	r := <-done
	return r.v, r.err
}

// enterNS moves the calling thread, which must be locked, into ns.
func enterNS(ns string) error {
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	return nil
}

// DropSYNs makes the internet drop every TCP SYN sent to p (new
// connections to p do not open; those open carry on) until stop is
// called; dropped returns how many it has dropped so far.
func (l *Lab) DropSYNs(p Public) (dropped func() int, stop func()) {
	l.t.Helper()
	table := "nosyn_" + p.Port
	l.nft(l.Inet, fmt.Sprintf(`
table bridge %s {
	chain forward {
		type filter hook forward priority filter; policy accept;
		oifname "%s" meta l4proto tcp tcp flags & (syn | ack) == syn counter drop
	}
}
`, table, p.Port))
	dropped = func() int {
		out, err := exec.Command("ip", "netns", "exec", l.Inet, "nft", "list", "table", "bridge", table).CombinedOutput()
		if err != nil {
			return 0
		}
		var n int
		if i := strings.Index(string(out), "counter packets "); i >= 0 {
			fmt.Sscanf(string(out[i+len("counter packets "):]), "%d", &n)
		}
		return n
	}
	stop = func() { l.in(l.Inet, "nft", "delete", "table", "bridge", table) }
	return dropped, stop
}
