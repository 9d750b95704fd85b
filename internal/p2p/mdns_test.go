package p2p

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// multicastWorks reports why multicast cannot carry mDNS here, or nil if a
// datagram sent to a link-local multicast group comes back to this host.
func multicastWorks() error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("listing network interfaces: %w", err)
	}
	var names []string
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 {
			names = append(names, ifi.Name)
		}
	}
	if len(names) == 0 {
		return errors.New("no network interface is both up and multicast-capable")
	}

	// mDNS's own group, on a port of our choosing, so the probe reaches
	// no mDNS responder.
	group := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251)}
	l, err := net.ListenMulticastUDP("udp4", nil, group)
	if err != nil {
		return fmt.Errorf("joining %s on %v: %w", group.IP, names, err)
	}
	defer l.Close()
	group.Port = l.LocalAddr().(*net.UDPAddr).Port
	s, err := net.DialUDP("udp4", nil, group)
	if err != nil {
		return fmt.Errorf("sending to %s: %w", group, err)
	}
	defer s.Close()
	probe := make([]byte, 16)
	rand.Read(probe)
	if _, err := s.Write(probe); err != nil {
		return fmt.Errorf("sending to %s (interfaces %v): %w", group, names, err)
	}
	l.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	for {
		n, _, err := l.ReadFromUDP(buf)
		if err != nil {
			return fmt.Errorf("a datagram sent to %s did not loop back (interfaces %v): %w", group, names, err)
		}
		if string(buf[:n]) == string(probe) {
			return nil
		}
	}
}

func TestMDNS(t *testing.T) {
	if err := multicastWorks(); err != nil {
		t.Skipf("mDNS needs working multicast, which this machine lacks: %v", err)
	}

	// A tag of our own, so hosts of other test runs are not found.
	tagBytes := make([]byte, 6)
	rand.Read(tagBytes)
	tag := "loam-test-" + hex.EncodeToString(tagBytes)

	type found struct {
		by   string
		info PeerInfo
	}
	ch := make(chan found, 64)
	onFound := func(by string) func(PeerInfo) {
		return func(p PeerInfo) {
			select {
			case ch <- found{by, p}:
			default: // must not block; the test has what it needs
			}
		}
	}
	// Loopback addresses only: what the hosts advertise, and dial, stays
	// on this machine.
	a := newTestHost(t, Config{MDNS: true, MDNSTag: tag, OnPeerFound: onFound("a")}, tcpLoopback)
	b := newTestHost(t, Config{MDNS: true, MDNSTag: tag, OnPeerFound: onFound("b")}, tcpLoopback)

	want := map[string]*Host{"a": b, "b": a} // who should find whom
	got := map[string]PeerInfo{}
	deadline := time.After(testTimeout)
	for len(got) < len(want) {
		select {
		case f := <-ch:
			if f.info.ID != want[f.by].ID() {
				t.Fatalf("%s found %s, want %s", f.by, f.info.ID.Short(), want[f.by].ID().Short())
			}
			got[f.by] = f.info
		case <-deadline:
			t.Fatalf("mDNS discovery incomplete after %v: found %v", testTimeout, got)
		}
	}

	info := got["a"]
	if len(info.Addrs) == 0 || !strings.HasPrefix(info.Addrs[0], "/ip4/127.0.0.1/tcp/") {
		t.Errorf("a found b at %v, want b's loopback TCP address", info.Addrs)
	}
	// The discovered addresses are enough to connect.
	if err := a.ConnectPeer(testContext(t), info); err != nil {
		t.Fatalf("ConnectPeer to the discovered peer: %v", err)
	}
}
