package p2p

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/testkit"
)

// relayTrio starts a relay and two hosts behind it (declared private, so
// they reserve a slot on it at once), and connects a to b through the
// relay. Loopback addresses are not public, so neither host can hole
// punch: the connection stays relayed until the test dials directly.
// before, if not nil, runs before the connection. relay.Logger, if set,
// is a's; the relay logs nothing.
func relayTrio(t *testing.T, relay Config, before func(a, b *Host)) (r, a, b *Host, circuit string) {
	t.Helper()
	aLog := relay.Logger
	relay.Logger = nil
	r = newTestHost(t, relay, tcpLoopback)
	rAddr := addrWith(t, r, "/tcp/")
	a = newTestHost(t, Config{Bootstrap: []string{rAddr}, private: true, Logger: aLog}, tcpLoopback)
	b = newTestHost(t, Config{Bootstrap: []string{rAddr}, private: true}, tcpLoopback)
	if before != nil {
		before(a, b)
	}
	circuit = rAddr + "/p2p-circuit/p2p/" + PeerIDString(b.ID())
	// b's reservation is not visible in its addresses: a relay leaves
	// non-public addresses out of reservations.
	waitFor(t, "a connects to b through the relay (once b holds a reservation)", func() bool {
		_, err := a.Connect(testContext(t), circuit)
		return err == nil
	})
	if !a.Relayed(b.ID()) {
		t.Fatalf("a's connection to b is not relayed: %+v", peerInfo(t, a, b.ID()))
	}
	return r, a, b, circuit
}

// notified records a Host's Notify and NotifyRelayed calls.
type notified struct {
	mu      sync.Mutex
	up      map[keys.AuthorID]bool
	relayed map[keys.AuthorID]int
}

func watch(h *Host) *notified {
	n := &notified{up: map[keys.AuthorID]bool{}, relayed: map[keys.AuthorID]int{}}
	h.Notify(func(p keys.AuthorID, c bool) { n.mu.Lock(); n.up[p] = c; n.mu.Unlock() })
	h.NotifyRelayed(func(p keys.AuthorID) { n.mu.Lock(); n.relayed[p]++; n.mu.Unlock() })
	return n
}

func (n *notified) isUp(p keys.AuthorID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up[p]
}

func (n *notified) relayedCount(p keys.AuthorID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.relayed[p]
}

// TestUseRelay: a relayed connection carries no stream until UseRelay;
// then Notify reports the peer, streams go through the relay (the relay's
// limit is set above go-libp2p's 128 KiB), and when a direct connection
// appears the relayed one is closed. a's log says so: connected, relayed,
// then upgraded to direct, one line each.
func TestUseRelay(t *testing.T) {
	var na, nb *notified
	alog := &testkit.SyncBuffer{}
	r, a, b, _ := relayTrio(t, Config{Infrastructure: true, RelayLimit: RelayLimit{Data: 1 << 20, Duration: time.Hour}, Logger: slog.New(slog.NewTextHandler(alog, nil))},
		func(a, b *Host) { na, nb = watch(a), watch(b) })
	ctx := testContext(t)
	const proto = "/loam/test-echo/1"
	b.Handle(proto, func(s Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	short, cancel := context.WithTimeout(ctx, time.Second) // it would dial b's direct addresses, which a does not know
	_, err := a.Open(short, b.ID(), proto)
	cancel()
	if err == nil {
		t.Fatal("Open over a relayed connection before UseRelay succeeded")
	}
	if na.isUp(b.ID()) {
		t.Fatal("Notify reported a relayed peer before UseRelay")
	}
	waitFor(t, "b's NotifyRelayed reports a", func() bool { return nb.relayedCount(a.ID()) > 0 })

	a.UseRelay(b.ID())
	waitFor(t, "a's Notify reports b", func() bool { return na.isUp(b.ID()) })
	if pi := peerInfo(t, a, b.ID()); !pi.RelaySync || pi.Relay != PeerIDString(r.ID()) || pi.Direct {
		t.Errorf("a's view of b: %+v, want relayed through %s with RelaySync", pi, PeerIDString(r.ID()))
	}
	s, err := a.Open(ctx, b.ID(), proto)
	if err != nil {
		t.Fatalf("Open after UseRelay: %v", err)
	}
	defer s.Close()
	msg := bytes.Repeat([]byte("loam "), 40<<10) // 200 KiB: more than go-libp2p's default relay limit
	go func() { s.Write(msg); s.CloseWrite() }()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the relay: %d of %d bytes, %v", len(got), len(msg), err)
	}

	// A direct connection replaces the relayed one.
	var direct []string
	for _, m := range b.Addrs() {
		if strings.HasPrefix(m, "/ip4/127.0.0.1/tcp/") {
			direct = append(direct, strings.TrimSuffix(m, "/p2p/"+PeerIDString(b.ID())))
		}
	}
	if err := a.ConnectPeer(ctx, PeerInfo{ID: b.ID(), Addrs: direct}); err != nil {
		t.Fatalf("direct connect: %v", err)
	}
	var pi PeerInfo
	if !poll(func() bool {
		pi = peerInfo(t, a, b.ID())
		return pi.Direct && len(pi.Addrs) == 1 && !strings.Contains(pi.Addrs[0], "p2p-circuit")
	}) {
		t.Fatalf("a's view of b: %+v; want only the direct connection left", pi)
	}
	if !na.isUp(b.ID()) {
		t.Error("Notify reported b gone while it moved to a direct connection")
	}
	bp := PeerIDString(b.ID())
	waitFor(t, "a to log the upgrade", func() bool { return strings.Contains(alog.String(), `msg="peer connection upgraded" peer=`+bp) })
	for _, want := range []string{
		`msg="peer connected" peer=` + bp + ` path=relayed addr=` + addrWith(t, r, "/tcp/") + "/p2p-circuit",
		`msg="peer connection upgraded" peer=` + bp + ` path=direct addr=/ip4/127.0.0.1/tcp/`,
	} {
		if n := strings.Count(alog.String(), want); n != 1 {
			t.Errorf("a's log has %d lines with %s, want 1:\n%s", n, want, alog)
		}
	}
	if strings.Contains(alog.String(), `msg="peer disconnected" peer=`+bp) {
		t.Errorf("a's log has b disconnected while it moved to a direct connection:\n%s", alog)
	}
}

// TestRelayLimit: the relay resets a relayed connection past its data
// limit, and a relay limit out of range is refused.
func TestRelayLimit(t *testing.T) {
	_, a, b, _ := relayTrio(t, Config{Infrastructure: true, RelayLimit: RelayLimit{Data: 64 << 10, Duration: testTimeout}}, nil)
	ctx := testContext(t)
	const proto = "/loam/test-sink/1"
	b.Handle(proto, func(s Stream) {
		defer s.Close()
		io.Copy(io.Discard, s)
	})
	a.UseRelay(b.ID())
	s, err := a.Open(ctx, b.ID(), proto)
	if err != nil {
		t.Fatalf("Open after UseRelay: %v", err)
	}
	defer s.Close()
	chunk := make([]byte, 16<<10)
	var werr error
	for sent := 0; sent < 4<<20 && werr == nil; sent += len(chunk) {
		_, werr = s.Write(chunk)
	}
	if werr == nil {
		t.Fatal("wrote 4 MiB through a relay limited to 64 KiB")
	}
	waitFor(t, "the relay closes the connection", func() bool { return !peerInfo(t, a, b.ID()).Connected })

	for _, l := range []RelayLimit{{Data: -1, Duration: 1}, {Data: 1, Duration: 0}, {Data: 2 << 30, Duration: 1}, {Data: 1, Duration: 25 * time.Hour}} {
		if err := l.Check(); err == nil {
			t.Errorf("%+v passed Check", l)
		}
	}
}

// TestSeederRelay: a Host with Config.RelayService (a seeder) that is
// not a bootstrap node becomes a relay for the peers connected to it: a
// private host reserves a slot on it, and another reaches that host
// through it with ConnectAny, knowing only its ID.
func TestSeederRelay(t *testing.T) {
	seeder := newTestHost(t, Config{RelayService: true}, tcpLoopback)
	a := newTestHost(t, Config{private: true}, tcpLoopback)
	b := newTestHost(t, Config{private: true}, tcpLoopback)
	ctx := testContext(t)
	for _, h := range []*Host{a, b} {
		if _, err := h.Connect(ctx, addrWith(t, seeder, "/tcp/")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "b reaches a through the seeder", func() bool {
		return b.ConnectAny(ctx, PeerInfo{ID: a.ID()}) == nil
	})
	pi := peerInfo(t, b, a.ID())
	if !pi.Connected || pi.Direct || pi.Relay != PeerIDString(seeder.ID()) {
		t.Errorf("b's view of a: %+v; want relayed through the seeder %s", pi, PeerIDString(seeder.ID()))
	}
}

// TestNotifyAddrs: a new listen address is reported.
func TestNotifyAddrs(t *testing.T) {
	h := newTestHost(t, Config{}, tcpLoopback)
	changed := make(chan struct{}, 1)
	h.NotifyAddrs(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	m, err := ma.NewMultiaddr(quicLoopback)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.h.Network().Listen(m); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-testContext(t).Done():
		t.Fatal("no NotifyAddrs call after a new listen address")
	}
}
