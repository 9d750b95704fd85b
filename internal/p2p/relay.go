package p2p

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/loamdb/loam/internal/keys"
)

// Relaying Loam data. A relayed connection is "limited": go-libp2p opens
// no stream over it unless asked. Loam first tries to replace it by a
// direct one (Upgrade); when hole punching cannot work (a symmetric NAT on
// one side), the node above calls UseRelay and the peer's streams go
// through the relay, end-to-end encrypted (TLS or Noise over the circuit):
// the relay sees only ciphertext, its size and timing. A relay ends each
// relayed connection at its limits; sync resumes when the peers
// reconnect.

// RelayLimit bounds what a relay service carries for one relayed
// connection, in each direction; past it, the relay resets the
// connection. The zero value means DefaultRelayLimit.
type RelayLimit struct {
	Data     int64         // bytes
	Duration time.Duration // from the connection's start
}

// DefaultRelayLimit is what a Loam relay carries per relayed connection:
// enough for a space's sync to make progress between resets (the peers
// reconnect and carry on where they were), while bounding what one pair
// of peers can make a community node carry. go-libp2p's own default (128
// KiB, 2 minutes) is meant for hole punch coordination only.
var DefaultRelayLimit = RelayLimit{Data: 16 << 20, Duration: 10 * time.Minute}

// maxRelayLimit caps RelayLimit: a relay is not a data service.
var maxRelayLimit = RelayLimit{Data: 1 << 30, Duration: 24 * time.Hour}

// Check reports a limit out of range: each must be above 0 and at most
// 1 GiB and 24 h. The zero RelayLimit passes.
func (l RelayLimit) Check() error {
	if l == (RelayLimit{}) {
		return nil
	}
	if l.Data <= 0 || l.Data > maxRelayLimit.Data {
		return fmt.Errorf("relay data limit %d: want 1 byte to %d bytes", l.Data, maxRelayLimit.Data)
	}
	if l.Duration <= 0 || l.Duration > maxRelayLimit.Duration {
		return fmt.Errorf("relay duration limit %v: want more than 0, at most %v", l.Duration, maxRelayLimit.Duration)
	}
	return nil
}

// orDefault returns l, or DefaultRelayLimit for the zero value.
func (l RelayLimit) orDefault() RelayLimit {
	if l == (RelayLimit{}) {
		return DefaultRelayLimit
	}
	return l
}

// relayResources are the limits of a relay service: go-libp2p's defaults
// for reservations and circuits (128 reservations, 16 circuits per
// peer), and l per relayed connection.
func relayResources(l RelayLimit) relay.Resources {
	r := relay.DefaultResources()
	r.Limit = &relay.RelayLimit{Data: l.Data, Duration: l.Duration}
	return r
}

// ErrNotRelayed is returned by UseRelay when p is not connected through a
// relay.
var ErrNotRelayed = errors.New("p2p: the peer is not connected through a relay")

// UseRelay lets Loam streams to and from p go through relays: Notify then
// reports p connected while it is reached only through a relay, and Open
// opens streams over the relayed connection. The choice holds for p as
// long as the Host remembers p (see Peers). When a direct connection to p
// appears, the Host closes p's relayed connections, so that streams move
// to the direct one (the sync stream is reopened by the node). It is a
// no-op if already in force.
func (h *Host) UseRelay(p keys.AuthorID) {
	id := peerIDOf(p)
	if h.peers.get(id, p).relayOK.Swap(true) {
		return
	}
	select {
	case h.recheck <- id:
	case <-h.loopDone:
	}
}

// RelaySync reports whether UseRelay was called for p.
func (h *Host) RelaySync(p keys.AuthorID) bool { return h.relayOK(peerIDOf(p)) }

// relayOK reports whether UseRelay was called for p.
func (h *Host) relayOK(p peer.ID) bool {
	s := h.peers.lookup(p)
	return s != nil && s.relayOK.Load()
}

// closeRelayed closes p's relayed connections while a direct one exists.
// It runs on its own goroutine: closing waits for the connection's
// streams.
func (h *Host) closeRelayed(p peer.ID) {
	if !h.enter() {
		return
	}
	go func() {
		defer h.running.Done()
		for _, c := range h.h.Network().ConnsToPeer(p) {
			if c.Stat().Limited || isRelayed(c.RemoteMultiaddr()) {
				if h.direct(p) {
					c.Close()
				}
			}
		}
	}()
}

// relayOf returns the peer ID of the relay a relayed address goes through
// (…/p2p/<relay>/p2p-circuit…), or "".
func relayOf(m ma.Multiaddr) string {
	var last string
	for _, c := range m {
		switch c.Code() {
		case ma.P_P2P:
			last = c.Value()
		case ma.P_CIRCUIT:
			return last
		}
	}
	return ""
}
