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
	// Relay is the peer ID of the relay the connection goes through when
	// the peer is connected, but only through relays; "" otherwise.
	Relay string
	// RelaySync is true once UseRelay let Loam streams go through relays
	// to this peer.
	RelaySync bool
	// HolePunch is how Upgrade fared with this peer.
	HolePunch HolePunchStats
}

// HolePunchStats counts the failed attempts to replace a relayed
// connection to a peer by a direct one.
type HolePunchStats struct {
	Failures int       // since the last success
	LastErr  string    // of the last failure; "" if none
	Last     time.Time // of the last attempt; zero if none
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
	relayOK  atomic.Bool  // UseRelay was called

	punchMu sync.Mutex
	punch   HolePunchStats // guarded by punchMu
}

// punched records the outcome of an Upgrade.
func (s *peerStats) punched(err error) {
	s.punchMu.Lock()
	defer s.punchMu.Unlock()
	s.punch.Last = time.Now()
	if err == nil {
		s.punch.Failures, s.punch.LastErr = 0, ""
		return
	}
	s.punch.Failures++
	s.punch.LastErr = err.Error()
}

func (s *peerStats) punchStats() HolePunchStats {
	s.punchMu.Lock()
	defer s.punchMu.Unlock()
	return s.punch
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

// lookup returns p's stats, or nil.
func (t *peerTable) lookup(p peer.ID) *peerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats[p]
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
			ID:        s.id,
			BytesIn:   s.bytesIn.Load(),
			BytesOut:  s.bytesOut.Load(),
			RelaySync: s.relayOK.Load(),
			HolePunch: s.punchStats(),
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
				} else if info.Relay == "" {
					info.Relay = relayOf(m)
				}
			}
			if info.Direct {
				info.Relay = ""
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

// Notify registers fn to be called when a peer becomes usable for Loam
// streams (connected = true) and when it stops being so (false). A peer is
// usable while it has a direct (unlimited) connection, or, once UseRelay
// was called for it, a relayed one; a peer reached only through a relay
// otherwise counts as not connected here, though Peers lists it as
// connected and not Direct (NotifyRelayed reports it). For each peer the
// calls alternate, starting with connected. fn runs on the Host's event
// goroutine, one call at a time, in order; it must not block. Calls stop
// when Close begins (a call already under way may finish during Close);
// none is made after Close returns.
func (h *Host) Notify(fn func(peer keys.AuthorID, connected bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notify = append(h.notify, fn)
}

// NotifyRelayed registers fn to be called when a peer becomes reachable
// only through relays (its first relayed connection opens while it has no
// direct one), so that the caller can try to Upgrade it or UseRelay. fn
// runs as Notify callbacks do, on the same goroutine; it must not block.
func (h *Host) NotifyRelayed(fn func(peer keys.AuthorID)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifyRelayed = append(h.notifyRelayed, fn)
}

// loop turns libp2p connectedness events, and UseRelay's rechecks, into
// Notify calls and peer table updates. It runs on its own goroutine from
// New until Close closes h.sub.
func (h *Host) loop() {
	defer close(h.loopDone)
	up := make(map[peer.ID]bool)       // peers reported connected to Notify callbacks
	viaRelay := make(map[peer.ID]bool) // of those, the ones reported while only relayed
	for {
		var (
			p       peer.ID
			conn    network.Connectedness
			changed bool // an event, not a recheck
		)
		select {
		case e, ok := <-h.sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerConnectednessChanged)
			p, conn, changed = ev.Peer, ev.Connectedness, true
		case p = <-h.recheck:
			conn = h.h.Network().Connectedness(p)
		}
		a, err := authorOf(p)
		if err != nil {
			continue // the gater refuses such peers; nothing to report
		}
		st := h.peers.get(p, a)
		st.touch()
		// An unlimited connection counts, and a relayed one once UseRelay
		// allowed it: before that it waits to be upgraded.
		direct := conn == network.Connected
		connected := direct || (conn == network.Limited && st.relayOK.Load())
		if conn != network.NotConnected && h.gater.isBlocked(p) {
			// Connected in the window between the gater's last check and
			// Block closing connections: close it now.
			_ = h.h.Network().ClosePeer(p)
		}
		if direct && viaRelay[p] {
			// Upgraded while streams went through the relay: move them.
			h.closeRelayed(p)
		}
		wasUp, wasRelayed := up[p], viaRelay[p]
		switch {
		case connected:
			up[p] = true
			viaRelay[p] = !direct
		default:
			delete(up, p)
			delete(viaRelay, p)
			h.peers.prune(func(p peer.ID) bool { return up[p] })
		}

		h.mu.Lock()
		closed, fns, rfns := h.closed, h.notify, h.notifyRelayed
		h.mu.Unlock()
		if closed {
			continue
		}
		if changed && conn == network.Limited {
			for _, fn := range rfns {
				fn(a)
			}
		}
		h.logConnectedness(p, wasUp, wasRelayed, connected, direct)
		if wasUp == connected {
			continue
		}
		for _, fn := range fns {
			fn(a, connected)
		}
	}
}

// PeerAddrs returns the addresses the Host knows for p, with the /p2p/
// suffix, sorted: those p announced (identify) and those it was reached
// at, relayed ones included. A node keeps them to dial p again after a
// restart.
func (h *Host) PeerAddrs(p keys.AuthorID) []string {
	id := peerIDOf(p)
	suffix := "/p2p/" + id.String()
	var out []string
	for _, m := range h.h.Peerstore().Addrs(id) {
		out = append(out, m.String()+suffix)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// logConnectedness logs a peer's change of state as loop reports it to
// Notify callbacks: connected (directly or through a relay), upgraded from
// a relay to a direct connection, or disconnected. It runs on loop's
// goroutine.
func (h *Host) logConnectedness(p peer.ID, wasUp, wasRelayed, connected, direct bool) {
	path := "direct"
	if !direct {
		path = "relayed"
	}
	switch {
	case connected && !wasUp:
		h.log.Info("peer connected", "peer", p.String(), "path", path, "addr", h.remoteAddr(p))
	case connected && wasRelayed && direct:
		h.log.Info("peer connection upgraded", "peer", p.String(), "path", path, "addr", h.remoteAddr(p))
	case !connected && wasUp:
		h.log.Info("peer disconnected", "peer", p.String())
	}
}

// remoteAddr is the address of p's first connection, direct ones first,
// or "" if it has none.
func (h *Host) remoteAddr(p peer.ID) string {
	addr := ""
	for _, c := range h.h.Network().ConnsToPeer(p) {
		m := c.RemoteMultiaddr()
		if !isRelayed(m) {
			return m.String()
		}
		if addr == "" {
			addr = m.String()
		}
	}
	return addr
}
