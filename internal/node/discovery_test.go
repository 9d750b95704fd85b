package node

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// bootHost starts a community bootstrap host (private DHT, relay) on
// loopback, closed when the test ends; observe (if not nil) sees every DHT
// request it receives.
func bootHost(t *testing.T, observe func(p2p.DHTRequest)) *p2p.Host {
	t.Helper()
	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(context.Background(), p2p.Config{Key: k, Listen: loopback, DHT: p2p.DHTPrivate, Infrastructure: true, OnDHTRequest: observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// bootstrapNode starts a bootstrap host (bootHost) and returns its TCP
// multiaddr.
func bootstrapNode(t *testing.T) string {
	t.Helper()
	h := bootHost(t, nil)
	if a := loopbackTCP(h.Addrs()); a != "" {
		return a
	}
	t.Fatalf("no loopback address in %v", h.Addrs())
	return ""
}

// TestJoinThroughDHT: given only a bootstrap node and a ticket without
// addresses, a node finds the inviting one through the private DHT (by the
// space's discovery ID) and joins.
func TestJoinThroughDHT(t *testing.T) {
	ctx := ctxT(t)
	boot := bootstrapNode(t)
	a, b := openFinder(t, t.TempDir(), boot), openFinder(t, t.TempDir(), boot)
	id, tk := invited(t, a, "garden")
	put(t, a, id, "tools/drill", "cordless")
	tk.Addrs = nil
	joinWith(t, b, tk)
	waitFor(t, 20*time.Second, "a's write on b", func() bool {
		_, err := b.st.Get(ctx, id, []byte("tools/drill"))
		return err == nil
	})
	ds := b.Discovery()
	if len(ds) != 1 || ds[0].Space != id || ds[0].Provided.IsZero() || len(ds[0].Found) != 1 || ds[0].Found[0] != a.Author() {
		t.Errorf("b's discovery: %+v", ds)
	}
	if r := b.Reach(); r.DHT != p2p.DHTPrivate || r.RoutingTable != 1 {
		t.Errorf("b's reach: %+v", r)
	}
}

// TestJoinWithoutAddrsNeedsDHT: without a DHT, a ticket without addresses
// cannot be used, and the error says what to do.
func TestJoinWithoutAddrsNeedsDHT(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	_, tk := invited(t, a, "garden")
	tk.Addrs = nil
	if _, err := b.Join(ctx, tk); err == nil || !strings.Contains(err.Error(), "--dht") {
		t.Errorf("join without addresses or DHT: %v", err)
	}
	if b.Discovery() != nil {
		t.Errorf("Discovery without DHT: %+v", b.Discovery())
	}
}

// TestProvideDue: a space is announced again every reprovideEvery, and
// after the node's addresses change, but not sooner than reannounceMin
// after the last announce.
func TestProvideDue(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name              string
		provided, addrsAt time.Time
		now               time.Time
		want              bool
	}{
		{"never announced", time.Time{}, time.Time{}, t0, true},
		{"fresh", t0, time.Time{}, t0.Add(time.Hour), false},
		{"old", t0, time.Time{}, t0.Add(reprovideEvery + time.Second), true},
		{"addresses changed before the announce", t0, t0.Add(-time.Second), t0.Add(time.Hour), false},
		{"addresses changed since", t0, t0.Add(time.Second), t0.Add(reannounceMin), true},
		{"addresses changed, too soon", t0, t0.Add(time.Second), t0.Add(reannounceMin - time.Second), false},
	} {
		if got := provideDue(tc.provided, tc.addrsAt, tc.now); got != tc.want {
			t.Errorf("%s: provideDue = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDiscoveryOfAForgottenSpace: a space forgotten (a failed join) while
// its lookup is under way is let go by the lookup round, and not
// announced again. Before, the round wrote its findings into the space's
// entry, which the forgetting had removed: a nil pointer, and the daemon
// crashed.
func TestDiscoveryOfAForgottenSpace(t *testing.T) {
	ctx := ctxT(t)
	var n *Node
	var target []byte // guarded by mu
	var mu sync.Mutex
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := bootHost(t, func(q p2p.DHTRequest) {
		mu.Lock()
		hit := target != nil && q.Type == "GET_PROVIDERS" && bytes.Equal(q.Key, target)
		mu.Unlock()
		if hit {
			once.Do(func() {
				close(arrived)
				select { // hold the lookup while the space is forgotten
				case <-release:
				case <-time.After(20 * time.Second):
				}
			})
		}
	})
	n = openFinder(t, t.TempDir(), loopbackTCP(h.Addrs()))
	id, err := keys.NewSpaceKey()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	target = discoveryKey(id.Space())
	mu.Unlock()
	// A join that will fail: the space is held, discovery looks it up.
	if err := n.st.AddSpace(ctx, "doomed", id.Space()); err != nil {
		t.Fatal(err)
	}
	n.addHeld(id.Space())
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the space was never looked up")
	}
	if err := n.forgetJoined(pendingJoin{Ticket: keys.Ticket{Space: id.Space()}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	// The round goes on (the node would crash here before); the next
	// lookup of any space shows it did, and the forgotten one stays out.
	other := newSpace(t, n, "other")
	waitFor(t, 20*time.Second, "the other space to be looked up", func() bool {
		for _, d := range n.Discovery() {
			if d.Space == other.ID() && !d.Looked.IsZero() {
				return true
			}
		}
		return false
	})
	n.disc.mu.Lock()
	_, stale := n.disc.spaces[id.Space()]
	n.disc.mu.Unlock()
	if stale {
		t.Error("the forgotten space is still in discovery")
	}
}
