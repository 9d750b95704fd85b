package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loamdb/loam/internal/keys"
)

// TestMain fails the package's tests if any goroutine is left running
// after they end: every Host the tests create is closed, and Close must
// stop everything the Host started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Loopback listen addresses: tests never send traffic anywhere else (the
// mDNS test aside, which multicasts on the local link).
const (
	tcpLoopback  = "/ip4/127.0.0.1/tcp/0"
	quicLoopback = "/ip4/127.0.0.1/udp/0/quic-v1"
)

// transports are the ways two test hosts can reach each other, each with
// the listen address to use and the marker its multiaddrs contain.
var transports = []struct {
	name, listen, marker string
}{
	{"TCP", tcpLoopback, "/tcp/"},
	{"QUIC", quicLoopback, "/quic-v1"},
}

// testTimeout bounds every wait in the tests.
const testTimeout = 20 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newTestHost starts a Host with a fresh device key, listening on listen
// (both loopback transports if empty), and closes it when the test ends.
func newTestHost(t testing.TB, c Config, listen ...string) *Host {
	t.Helper()
	if c.Key.IsZero() {
		k, err := keys.NewDeviceKey()
		if err != nil {
			t.Fatal(err)
		}
		c.Key = k
	}
	c.Listen = listen
	if len(c.Listen) == 0 {
		c.Listen = []string{tcpLoopback, quicLoopback}
	}
	h, err := New(context.Background(), c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// addrWith returns h's first loopback multiaddr containing marker.
func addrWith(t testing.TB, h *Host, marker string) string {
	t.Helper()
	for _, a := range h.Addrs() {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/") && strings.Contains(a, marker) {
			return a
		}
	}
	t.Fatalf("no loopback address with %q in %v", marker, h.Addrs())
	return ""
}

// connect connects a to b over the transport whose addresses contain
// marker.
func connect(t testing.TB, a, b *Host, marker string) {
	t.Helper()
	got, err := a.Connect(testContext(t), addrWith(t, b, marker))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if got != b.ID() {
		t.Fatalf("Connect returned %s, want %s", got, b.ID())
	}
}

// peerInfo returns h's entry for p in Peers.
func peerInfo(t testing.TB, h *Host, p keys.AuthorID) PeerInfo {
	t.Helper()
	for _, info := range h.Peers() {
		if info.ID == p {
			return info
		}
	}
	t.Fatalf("%s not in Peers()", p.Short())
	return PeerInfo{}
}

// event is one Notify call.
type notice struct {
	peer      keys.AuthorID
	connected bool
}

// notifications registers a Notify callback on h that sends to the
// returned channel (without blocking: the buffer is large enough for any
// test).
func notifications(h *Host) <-chan notice {
	ch := make(chan notice, 64)
	h.Notify(func(p keys.AuthorID, connected bool) {
		select {
		case ch <- notice{p, connected}:
		default:
			panic("notification buffer full")
		}
	})
	return ch
}

// waitEvent waits for the next notification and checks it.
func waitEvent(t testing.TB, ch <-chan notice, want notice) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("notification %s connected=%v, want %s connected=%v",
				got.peer.Short(), got.connected, want.peer.Short(), want.connected)
		}
	case <-time.After(testTimeout):
		t.Fatalf("no notification within %v, want %s connected=%v", testTimeout, want.peer.Short(), want.connected)
	}
}
