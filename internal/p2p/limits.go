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
// caps: a Loam peer needs one or two connections, one sync stream and a
// blob request stream per chunk in flight (blob.DefaultPerSource, a few
// more in a download's endgame), so these leave ample room while bounding
// what one misbehaving peer can take. As on bootstrap nodes (below), the
// transient scope holds the inbound streams of transientShares addresses
// at their limit, so that one address cannot starve a daemon with a public
// address (a seeder) of new streams: go-libp2p's default per-peer 256
// streams let 8 connections from one address fill the 504 of its default
// transient scope.
const (
	maxSystemMemory = 1 << 30 // whole libp2p stack

	peerConns           = 8 // per direction and in total: matches the swarm's concurrent dials
	peerStreamsInbound  = 64
	peerStreamsOutbound = 64
	peerStreams         = 128
	peerMemory          = 128 << 20 // room for 8 streams with full 16 MiB yamux windows
	transientShares     = 4
)

// Limits of infrastructure hosts (bootstrap nodes), measured by
// TestBootstrapUnderFlood. go-libp2p lets one IPv4 address hold
// perAddressConns connections at a time (rcmgr's connection limiter; more
// for IPv6 prefixes), each of them may be another peer ID, so whatever one
// peer may hold, one address may hold perAddressConns times over. With the
// per-peer limits above, one address flooding a bootstrap node with
// streams that never negotiate filled the transient scope (504 inbound
// streams here; every inbound stream waits there until its protocol is
// agreed, up to 10 s) and honest peers could not bootstrap for 20 s, and
// it could take 8 × 128 MiB, the whole stack's memory. A bootstrap node's
// peers need little: a few DHT requests at a time, a relay reservation,
// identify and AutoNAT; user data never goes through it. So its per-peer
// limits are small, and its transient scope holds the streams of
// infraTransientShares flooding addresses before honest peers are refused.
const (
	perAddressConns = 8 // rcmgr's default per IPv4 address (conn_limiter.go), not set here

	infraPeerStreamsInbound  = 32
	infraPeerStreamsOutbound = 32
	infraPeerStreams         = 64
	infraPeerMemory          = 16 << 20
	infraTransientShares     = 4
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
	return buildLimits(peerStreamsInbound, peerStreamsOutbound, peerStreams, peerMemory, transientShares)
}

// infraLimitConfig returns the limits of an infrastructure host: those of
// limitConfig with the per-peer and transient limits described above.
func infraLimitConfig() rcmgr.ConcreteLimitConfig {
	return buildLimits(infraPeerStreamsInbound, infraPeerStreamsOutbound, infraPeerStreams, infraPeerMemory, infraTransientShares)
}

// buildLimits returns go-libp2p's scaled limits with the system memory cap,
// these per-peer stream and memory limits, and a transient scope that holds
// the inbound streams of shares addresses at their limit.
func buildLimits(in, out, streams rcmgr.LimitVal, memory rcmgr.LimitVal64, shares rcmgr.LimitVal) rcmgr.ConcreteLimitConfig {
	scaled, sysMem := scaledLimits()
	transient := scaled.ToPartialLimitConfig().Transient
	transient.StreamsInbound = max(transient.StreamsInbound, shares*perAddressConns*in)
	transient.Streams = max(transient.Streams, transient.StreamsInbound+transient.StreamsOutbound)
	return rcmgr.PartialLimitConfig{
		System:    rcmgr.ResourceLimits{Memory: sysMem},
		Transient: transient,
		PeerDefault: rcmgr.ResourceLimits{
			Conns:           peerConns,
			ConnsInbound:    peerConns,
			ConnsOutbound:   peerConns,
			Streams:         streams,
			StreamsInbound:  in,
			StreamsOutbound: out,
			Memory:          memory,
		},
	}.Build(scaled)
}

// scaledLimits returns go-libp2p's default limits scaled to this machine,
// and the system memory limit, capped at maxSystemMemory.
func scaledLimits() (rcmgr.ConcreteLimitConfig, rcmgr.LimitVal64) {
	scaling := rcmgr.DefaultLimits // a copy; its maps are nil, so the global is not touched
	libp2p.SetDefaultServiceLimits(&scaling)
	scaled := scaling.AutoScale()
	return scaled, min(scaled.ToPartialLimitConfig().System.Memory, maxSystemMemory)
}

// newResourceManager returns the resource manager, with the limits of an
// infrastructure host if infra; the libp2p host closes it when it closes.
func newResourceManager(infra bool) (network.ResourceManager, error) {
	limits := limitConfig()
	if infra {
		limits = infraLimitConfig()
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
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
