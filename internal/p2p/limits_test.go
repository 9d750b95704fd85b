package p2p

import (
	"testing"

	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

func TestLimits(t *testing.T) {
	l := limitConfig().ToPartialLimitConfig()
	want := rcmgr.ResourceLimits{
		Conns:           peerConns,
		ConnsInbound:    peerConns,
		ConnsOutbound:   peerConns,
		Streams:         peerStreams,
		StreamsInbound:  peerStreamsInbound,
		StreamsOutbound: peerStreamsOutbound,
		Memory:          peerMemory,
	}
	got := l.PeerDefault
	got.FD = 0 // scaled, not set by us
	if got != want {
		t.Errorf("per-peer limits %+v, want %+v", got, want)
	}
	perAddress := rcmgr.LimitVal(perAddressConns) * got.StreamsInbound
	if l.Transient.StreamsInbound < transientShares*perAddress || l.System.StreamsInbound < l.Transient.StreamsInbound {
		t.Errorf("transient inbound streams %d (system %d): one address can hold %d of them, more than 1/%d",
			l.Transient.StreamsInbound, l.System.StreamsInbound, perAddress, transientShares)
	}
	if m := l.System.Memory; m <= 0 || m > maxSystemMemory {
		t.Errorf("system memory limit %d, want in (0, %d]", m, maxSystemMemory)
	}
	if c := l.System.Conns; c < connHigh {
		t.Errorf("system connection limit %d is below the connection manager's high water mark %d", c, connHigh)
	}
	for _, v := range []rcmgr.LimitVal{l.System.Streams, l.Transient.Conns, l.Conn.Conns, l.Stream.Streams} {
		if v <= 0 {
			t.Errorf("a limit is %d: every limit must be explicit and finite", v)
		}
	}
}
