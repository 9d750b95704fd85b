package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater is the Host's connmgr.ConnectionGater. It refuses, in both
// directions, peers whose identity is not an Ed25519 key and peers blocked
// until some time in the future.
//
// libp2p calls its methods from its dialing and accepting goroutines; they
// only take the gater's own lock and never call out.
type gater struct {
	now func() time.Time // time.Now; replaced in tests

	mu      sync.Mutex
	blocked map[peer.ID]time.Time // guarded by mu: peer → end of its block
}

func newGater() *gater {
	return &gater{now: time.Now, blocked: make(map[peer.ID]time.Time)}
}

// block refuses p's connections until d from now; d <= 0 lifts a block.
func (g *gater) block(p peer.ID, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d <= 0 {
		delete(g.blocked, p)
		return
	}
	now := g.now()
	g.blocked[p] = now.Add(d)
	// Forget expired blocks here, so the map cannot grow without bound.
	for q, until := range g.blocked {
		if !now.Before(until) {
			delete(g.blocked, q)
		}
	}
}

// isBlocked reports whether p is blocked now.
func (g *gater) isBlocked(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.blocked[p]
	if !ok {
		return false
	}
	if !g.now().Before(until) {
		delete(g.blocked, p)
		return false
	}
	return true
}

// allowed reports whether a connection with p may exist.
func (g *gater) allowed(p peer.ID) bool {
	if _, err := authorOf(p); err != nil {
		return false
	}
	return !g.isBlocked(p)
}

// InterceptPeerDial is called before dialing p.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.allowed(p) }

// InterceptAddrDial is called before dialing each address of p.
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allowed(p) }

// InterceptAccept is called for an inbound connection before its handshake,
// when the peer is not known yet.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured is called once the handshake has authenticated p, in
// both directions.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p)
}

// InterceptUpgraded is the last check before a connection is added to the
// swarm; checking again narrows the race with a concurrent block.
func (g *gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return g.allowed(c.RemotePeer()), 0
}
