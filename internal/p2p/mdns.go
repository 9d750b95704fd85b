package p2p

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// mdnsNotifee receives go-libp2p's mDNS discoveries for a Host. It is a
// separate type so that HandlePeerFound is not part of Host's API.
type mdnsNotifee struct{ h *Host }

// startMDNS advertises the Host on the local network under tag and reports
// the peers advertising the same tag to Config.OnPeerFound. The service is
// stopped by Close.
func (h *Host) startMDNS(tag string) error {
	s := mdns.NewMdnsService(h.h, tag, mdnsNotifee{h})
	if err := s.Start(); err != nil {
		s.Close()
		return fmt.Errorf("mdns (turn it off where multicast does not work): %w", err)
	}
	h.mdns = s
	return nil
}

// HandlePeerFound is called by the mDNS service, on a goroutine it starts
// for each discovery. It remembers the peer's addresses, so Open and
// ConnectPeer can dial it, and calls OnPeerFound.
func (n mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	h := n.h
	if !h.enter() {
		return // closing
	}
	defer h.running.Done()

	a, err := authorOf(info.ID)
	if err != nil || a == h.self {
		return // not a Loam node, or ourselves
	}
	h.h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.TempAddrTTL)
	if h.onPeerFound == nil {
		return
	}
	p := PeerInfo{ID: a}
	for _, m := range info.Addrs {
		p.Addrs = append(p.Addrs, m.String())
	}
	slices.Sort(p.Addrs)
	p.Addrs = slices.Compact(p.Addrs)
	p.Connected = h.h.Network().Connectedness(info.ID) == network.Connected
	h.onPeerFound(p)
}
