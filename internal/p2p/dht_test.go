package p2p

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestParseDHTMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want DHTMode
		ok   bool
	}{
		{"off", DHTOff, true},
		{"amino", DHTAmino, true},
		{"private", DHTPrivate, true},
		{"", DHTOff, false},
		{"Amino", DHTOff, false},
		{"public", DHTOff, false},
	} {
		got, err := ParseDHTMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDHTMode(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

// TestNoDHTByDefault: the zero Config joins no DHT.
func TestNoDHTByDefault(t *testing.T) {
	h := newTestHost(t, Config{})
	if err := h.Provide(testContext(t), []byte("k")); err != ErrNoDHT {
		t.Errorf("Provide without DHT: %v, want ErrNoDHT", err)
	}
	if r := h.Reach(); r.DHT != DHTOff || r.RoutingTable != 0 || len(r.Bootstrap) != 0 {
		t.Errorf("Reach without DHT: %+v", r)
	}
}

// TestPrivateDHTProviders: two hosts that know only a bootstrap node find
// each other through the private DHT by a key one of them provides.
func TestPrivateDHTProviders(t *testing.T) {
	boot := newTestHost(t, Config{DHT: DHTPrivate, Infrastructure: true}, tcpLoopback)
	bootAddr := addrWith(t, boot, "/tcp/")
	a := newTestHost(t, Config{DHT: DHTPrivate, Bootstrap: []string{bootAddr}}, tcpLoopback)
	b := newTestHost(t, Config{DHT: DHTPrivate, Bootstrap: []string{bootAddr}}, tcpLoopback)
	ctx := testContext(t)
	if r := boot.Reach(); r.Reachability != ReachPublic || !r.HolePunching {
		t.Errorf("bootstrap node's Reach: %+v", r)
	}

	key := []byte("discovery id")
	waitFor(t, "a provides the key", func() bool {
		return a.Reach().RoutingTable > 0 && a.Provide(ctx, key) == nil
	})
	var found []PeerInfo
	waitFor(t, "b finds a", func() bool {
		var err error
		found, err = b.FindProviders(ctx, key, 5)
		return err == nil && len(found) > 0
	})
	if len(found) != 1 || !bytes.Equal(found[0].ID[:], a.ID().Bytes()) {
		t.Fatalf("providers: %+v, want only %s", found, a.ID().Short())
	}
	if err := b.ConnectAny(ctx, found[0]); err != nil {
		t.Fatalf("ConnectAny: %v", err)
	}
	if pi := peerInfo(t, b, a.ID()); !pi.Connected || !pi.Direct {
		t.Errorf("b's view of a: %+v, want connected directly", pi)
	}
	if err := b.Upgrade(ctx, a.ID()); err != nil {
		t.Errorf("Upgrade of a direct connection: %v", err)
	}
	if r := b.Reach(); r.DHT != DHTPrivate || len(r.BootstrapConnected) != 1 {
		t.Errorf("b's Reach: %+v", r)
	}
}

// waitFor polls cond until it holds or testTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("%s: not within %v", what, testTimeout)
	}
}

// poll checks cond every 50 ms until it holds, or reports false after
// testTimeout.
func poll(cond func() bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}
