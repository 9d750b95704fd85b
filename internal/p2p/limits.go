package p2p

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
)

// Resource limits. The resource manager starts from go-libp2p's default
// limits scaled to this machine (1/8 of its memory, half its file
// descriptors), caps the whole stack's memory, and sets explicit per-peer
// caps: a Loam peer needs one or two connections and a few streams per
// space, so these leave ample room while bounding what one misbehaving peer
// can take.
const (
	maxSystemMemory = 1 << 30 // whole libp2p stack

	peerConns           = 8 // per direction and in total: matches the swarm's concurrent dials
	peerStreamsInbound  = 256
	peerStreamsOutbound = 256
	peerStreams         = 512
	peerMemory          = 128 << 20 // room for 8 streams with full 16 MiB yamux windows
)

// Connection manager water marks: above connHigh connections it closes the
// least useful down to connLow, sparing connections younger than
// connGrace.
const (
	connLow   = 64
	connHigh  = 128
	connGrace = time.Minute
)

// limitConfig returns the resource manager limits described above.
func limitConfig() rcmgr.ConcreteLimitConfig {
	scaling := rcmgr.DefaultLimits // a copy; its maps are nil, so the global is not touched
	libp2p.SetDefaultServiceLimits(&scaling)
	scaled := scaling.AutoScale()

	sysMem := scaled.ToPartialLimitConfig().System.Memory
	if sysMem > maxSystemMemory {
		sysMem = maxSystemMemory
	}
	return rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{Memory: sysMem},
		PeerDefault: rcmgr.ResourceLimits{
			Conns:           peerConns,
			ConnsInbound:    peerConns,
			ConnsOutbound:   peerConns,
			Streams:         peerStreams,
			StreamsInbound:  peerStreamsInbound,
			StreamsOutbound: peerStreamsOutbound,
			Memory:          peerMemory,
		},
	}.Build(scaled)
}

// newResourceManager returns the resource manager; the libp2p host closes
// it when it closes.
func newResourceManager() (network.ResourceManager, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limitConfig()))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

// newConnManager returns the connection manager; the libp2p host closes it
// when it closes.
func newConnManager() (*connmgr.BasicConnMgr, error) {
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	return cm, nil
}
