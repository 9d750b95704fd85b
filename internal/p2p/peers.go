package p2p

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/loamdb/loam/internal/keys"
)

// PeerInfo describes a peer.
type PeerInfo struct {
	ID keys.AuthorID
	// Addrs are transport multiaddrs, without the /p2p/ suffix, sorted:
	// those of the open connections when connected, else the last known.
	Addrs []string
	// Direct is false if every connection to the peer goes through a relay
	// (/p2p-circuit), and when the peer is not connected.
	Direct bool
	// BytesIn and BytesOut count stream payload bytes read from and
	// written to the peer since this Host started.
	BytesIn, BytesOut uint64
	// LastSeen is when the peer last connected, disconnected or moved
	// stream data; zero if never.
	LastSeen  time.Time
	Connected bool
}

// maxPeerRecords bounds the peer table: past it, the disconnected peers
// seen longest ago are forgotten.
const maxPeerRecords = 1024

// peerStats holds one peer's counters. Streams update them without locks.
type peerStats struct {
	id       keys.AuthorID
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	lastSeen atomic.Int64 // Unix nanoseconds; 0 if never
}

func (s *peerStats) touch() { s.lastSeen.Store(time.Now().UnixNano()) }

// peerTable maps peers to their stats.
type peerTable struct {
	mu    sync.Mutex
	stats map[peer.ID]*peerStats // guarded by mu
}

func newPeerTable() *peerTable {
	return &peerTable{stats: make(map[peer.ID]*peerStats)}
}

// get returns p's stats, creating them if needed.
func (t *peerTable) get(p peer.ID, a keys.AuthorID) *peerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.stats[p]
	if !ok {
		s = &peerStats{id: a}
		t.stats[p] = s
	}
	return s
}

// snapshot returns every peer's stats.
func (t *peerTable) snapshot() map[peer.ID]*peerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.stats)
}

// prune forgets the disconnected peers seen longest ago while the table is
// over maxPeerRecords. A stream still open to a forgotten peer keeps
// counting into stats nobody reads.
func (t *peerTable) prune(connected func(peer.ID) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.stats) <= maxPeerRecords {
		return
	}
	type rec struct {
		p    peer.ID
		seen int64
	}
	var idle []rec
	for p, s := range t.stats {
		if !connected(p) {
			idle = append(idle, rec{p, s.lastSeen.Load()})
		}
	}
	slices.SortFunc(idle, func(a, b rec) int { return cmp.Compare(a.seen, b.seen) })
	for _, r := range idle {
		if len(t.stats) <= maxPeerRecords {
			break
		}
		delete(t.stats, r.p)
	}
}

// Peers returns the connected peers and those seen before, sorted by ID.
func (h *Host) Peers() []PeerInfo {
	nw := h.h.Network()
	all := h.peers.snapshot()
	for _, p := range nw.Peers() { // connected peers not seen by loop yet
		if _, ok := all[p]; !ok {
			if a, err := authorOf(p); err == nil {
				all[p] = h.peers.get(p, a)
			}
		}
	}
	out := make([]PeerInfo, 0, len(all))
	for p, s := range all {
		info := PeerInfo{
			ID:       s.id,
			BytesIn:  s.bytesIn.Load(),
			BytesOut: s.bytesOut.Load(),
		}
		if ns := s.lastSeen.Load(); ns != 0 {
			info.LastSeen = time.Unix(0, ns)
		}
		conns := nw.ConnsToPeer(p)
		info.Connected = len(conns) > 0
		if info.Connected {
			for _, c := range conns {
				if opened := c.Stat().Opened; opened.After(info.LastSeen) {
					info.LastSeen = opened // connected before the event loop saw it
				}
				m := c.RemoteMultiaddr()
				info.Addrs = append(info.Addrs, m.String())
				if !isRelayed(m) {
					info.Direct = true
				}
			}
		} else {
			for _, m := range h.h.Peerstore().Addrs(p) {
				info.Addrs = append(info.Addrs, m.String())
			}
		}
		slices.Sort(info.Addrs)
		info.Addrs = slices.Compact(info.Addrs)
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

func isRelayed(m ma.Multiaddr) bool {
	_, err := m.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// Notify registers fn to be called when the first direct (unlimited)
// connection to a peer opens (connected = true) and when the last one
// closes (false); a peer reached only through a relay counts as not
// connected here, though Peers lists it as connected and not Direct. For each
// peer the calls alternate, starting with connected. fn runs on the Host's
// event goroutine, one call at a time, in order; it must not block. Calls
// stop when Close begins (a call already under way may finish during
// Close); none is made after Close returns.
func (h *Host) Notify(fn func(peer keys.AuthorID, connected bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notify = append(h.notify, fn)
}

// loop turns libp2p connectedness events into Notify calls and peer table
// updates. It runs on its own goroutine from New until Close closes h.sub.
func (h *Host) loop() {
	defer close(h.loopDone)
	up := make(map[peer.ID]bool) // peers reported connected to Notify callbacks
	for e := range h.sub.Out() {
		ev := e.(event.EvtPeerConnectednessChanged)
		a, err := authorOf(ev.Peer)
		if err != nil {
			continue // the gater refuses such peers; nothing to report
		}
		// Only an unlimited connection counts: a relayed one carries no
		// Loam streams (relays limit them), it waits to be upgraded.
		connected := ev.Connectedness == network.Connected
		h.peers.get(ev.Peer, a).touch()
		if connected && h.gater.isBlocked(ev.Peer) {
			// Connected in the window between the gater's last check and
			// Block closing connections: close it now.
			_ = h.h.Network().ClosePeer(ev.Peer)
		}
		if up[ev.Peer] == connected {
			continue
		}
		if connected {
			up[ev.Peer] = true
		} else {
			delete(up, ev.Peer)
			h.peers.prune(func(p peer.ID) bool { return up[p] })
		}

		h.mu.Lock()
		closed, fns := h.closed, h.notify
		h.mu.Unlock()
		if closed {
			continue
		}
		for _, fn := range fns {
			fn(a, connected)
		}
	}
}
