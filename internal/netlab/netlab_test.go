package netlab

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBuildAndCleanup: a lab's namespaces exist while its test runs and
// are gone when it ends.
func TestBuildAndCleanup(t *testing.T) {
	SkipIfMissing(t)
	var l *Lab
	t.Run("build", func(t *testing.T) {
		l = New(t, 2)
		list := namespaces(t)
		for _, ns := range []string{l.Inet, l.Homes[0].Router, l.Homes[0].Host, l.Homes[1].Router, l.Homes[1].Host} {
			if !strings.Contains(list, ns) {
				t.Errorf("namespace %s missing from %q", ns, list)
			}
		}
		out, err := l.Command(t.Context(), l.Homes[1].Host, "ip", "route", "get", InternetPrefix+"1").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "via 10.2.0.1") {
			t.Errorf("route from home 2 to the internet: %v %s", err, out)
		}
		ns, ip := l.AddHost(1)
		if got := udpFrom(t, l, ns, ip, l.Homes[0].Host, l.Homes[0].LAN); got != ip {
			t.Errorf("a packet from the second host of home 1 (%s) to the first came from %s", ip, got)
		}
		l.Loss(1, 5)
	})
	if list := namespaces(t); strings.Contains(list, "lab"+l.id) {
		t.Errorf("namespaces left after the test: %q", list)
	}
}

func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestSymmetricNAT checks that the two kinds of router map ports as they
// claim: one UDP socket in each home sends to two ports of the internet;
// behind a cone NAT both see the same source port, behind a symmetric NAT
// two different ones.
func TestSymmetricNAT(t *testing.T) {
	l := NewNATs(t, ConeNAT, SymmetricNAT)
	var dst [2]*net.UDPConn
	for i := range dst {
		c, err := l.ListenUDP(l.Inet, InternetPrefix+"1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		dst[i] = c
	}
	for _, h := range l.Homes {
		src, err := l.ListenUDP(h.Host, h.LAN+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var ports [2]int
		for i, d := range dst {
			if _, err := src.WriteTo([]byte("hello"), d.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			d.SetReadDeadline(time.Now().Add(5 * time.Second))
			var buf [16]byte
			_, from, err := d.ReadFromUDP(buf[:])
			if err != nil {
				t.Fatalf("%s home: %v", h.NAT, err)
			}
			if got := from.IP.String(); got != h.WAN {
				t.Errorf("%s home: packet from %s, want the router's %s", h.NAT, got, h.WAN)
			}
			ports[i] = from.Port
		}
		t.Logf("%s home: socket %v seen from ports %v", h.NAT, src.LocalAddr(), ports)
		if same := ports[0] == ports[1]; same != (h.NAT == ConeNAT) {
			t.Errorf("%s home: one socket seen from ports %d and %d by two destinations", h.NAT, ports[0], ports[1])
		}
	}
}

// udpFrom sends a datagram from namespace fromNS (address fromIP) to
// toNS (address toIP) and returns the source address it arrived from.
func udpFrom(t *testing.T, l *Lab, fromNS, fromIP, toNS, toIP string) string {
	t.Helper()
	dst, err := l.ListenUDP(toNS, toIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	src, err := l.ListenUDP(fromNS, fromIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.WriteTo([]byte("hello"), dst.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [16]byte
	_, from, err := dst.ReadFromUDP(buf[:])
	if err != nil {
		t.Fatalf("from %s to %s: %v", fromIP, toIP, err)
	}
	return from.IP.String()
}
