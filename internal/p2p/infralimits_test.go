package p2p

import (
	"testing"

	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// TestInfraLimits: on an infrastructure host, what one address can hold
// (perAddressConns peers at their limits) is a small share of the
// transient scope, which every inbound stream passes through, and of the
// whole stack's memory; ordinary hosts keep their limits.
func TestInfraLimits(t *testing.T) {
	l := infraLimitConfig().ToPartialLimitConfig()
	p := l.PeerDefault
	if p.StreamsInbound != infraPeerStreamsInbound || p.StreamsOutbound != infraPeerStreamsOutbound || p.Streams != infraPeerStreams || p.Memory != infraPeerMemory || p.Conns != peerConns {
		t.Errorf("per-peer limits %+v", p)
	}
	perAddress := rcmgr.LimitVal(perAddressConns) * p.StreamsInbound
	if l.Transient.StreamsInbound < infraTransientShares*perAddress {
		t.Errorf("transient inbound streams %d: one address can hold %d of them, more than 1/%d", l.Transient.StreamsInbound, perAddress, infraTransientShares)
	}
	if l.System.StreamsInbound < l.Transient.StreamsInbound || l.Transient.Streams < l.Transient.StreamsInbound {
		t.Errorf("system inbound streams %d, transient streams %d, below transient inbound %d", l.System.StreamsInbound, l.Transient.Streams, l.Transient.StreamsInbound)
	}
	if mem := rcmgr.LimitVal64(perAddressConns) * p.Memory; mem > l.System.Memory/8 {
		t.Errorf("one address can hold %d bytes, more than 1/8 of the system's %d", mem, l.System.Memory)
	}
	if o := limitConfig().ToPartialLimitConfig().PeerDefault; o.StreamsInbound != peerStreamsInbound || o.Memory != peerMemory {
		t.Errorf("ordinary hosts' per-peer limits changed: %+v", o)
	}
}
