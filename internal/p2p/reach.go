package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"

	dht "github.com/libp2p/go-libp2p-kad-dht"

	"github.com/loamdb/loam/internal/keys"
)

// reach holds what lets a Host reach peers beyond its LAN: the DHT, the
// relays it uses or serves, hole punching and the reachability AutoNAT
// found. It is built before the libp2p host (its options configure it),
// completed while libp2p.New runs (the DHT and the hole punching service
// are created there), and started once the host exists.
type reach struct {
	mode      DHTMode
	infra     bool
	relaySvc  bool            // run a relay service (infra implies it)
	limit     RelayLimit      // of the relay service
	private   bool            // Config.private
	bootstrap []peer.AddrInfo // DHT entry points and static relays

	// Set while libp2p.New runs, read-only afterwards.
	dht *dht.IpfsDHT       // nil if mode is DHTOff
	hps *holepunch.Service // nil on infrastructure nodes

	reachability atomic.Int32 // network.Reachability, from AutoNAT events
	nat          natObservations
	sub          event.Subscription
	loopDone     chan struct{}

	stop     context.CancelFunc // ends keepBootstrap
	keepDone chan struct{}      // closed when keepBootstrap returns
}

// bootstrapEvery is how often a Host checks that it is connected to its
// bootstrap nodes.
const bootstrapEvery = 30 * time.Second

// newReach checks the reach part of c.
func newReach(c Config) (*reach, error) {
	r := &reach{mode: c.DHT, infra: c.Infrastructure, relaySvc: c.Infrastructure || c.RelayService, private: c.private}
	if c.DHT < DHTOff || c.DHT > DHTPrivate {
		return nil, fmt.Errorf("unknown DHT mode %d", c.DHT)
	}
	if err := c.RelayLimit.Check(); err != nil {
		return nil, err
	}
	r.limit = c.RelayLimit.orDefault()
	var addrs []ma.Multiaddr
	for _, s := range c.Bootstrap {
		m, err := ma.NewMultiaddr(s)
		if err == nil {
			_, err = peer.AddrInfoFromP2pAddr(m)
		}
		if err != nil {
			return nil, fmt.Errorf("bootstrap peer %q: %w (give a multiaddr ending in /p2p/<peer ID>)", s, err)
		}
		addrs = append(addrs, m)
	}
	// One entry per peer with all its addresses, so that dials choose
	// among them (QUIC first) rather than take the first one given: a
	// hole punch needs both sides to have learnt their public address on
	// the same transport.
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap peers: %w", err)
	}
	slices.SortFunc(infos, func(a, b peer.AddrInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	r.bootstrap = infos
	return r, nil
}

// options returns the libp2p options for r.
func (r *reach) options() []libp2p.Option {
	opts := []libp2p.Option{libp2p.EnableAutoNATv2()}
	if r.relaySvc {
		opts = append(opts, libp2p.EnableRelayService(relay.WithResources(relayResources(r.limit))))
	}
	if r.infra {
		opts = append(opts,
			libp2p.EnableNATService(),
			libp2p.ForceReachabilityPublic(),
		)
	} else {
		if r.private {
			opts = append(opts, libp2p.ForceReachabilityPrivate())
		}
		capture := func(s *holepunch.Service) error { r.hps = s; return nil }
		opts = append(opts, libp2p.EnableHolePunching(capture))
		switch {
		case len(r.bootstrap) > 0:
			opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(r.bootstrap, autorelay.WithBootDelay(0)))
		case r.mode == DHTAmino:
			opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(r.relayCandidates, autorelay.WithBootDelay(0)))
		}
	}
	if r.mode != DHTOff {
		opts = append(opts, libp2p.Routing(func(h host.Host) (routing.PeerRouting, error) {
			d, err := dht.New(h, r.dhtOptions()...)
			if err != nil {
				return nil, fmt.Errorf("dht: %w", err)
			}
			r.dht = d
			return d, nil
		}))
	}
	return opts
}

// relayCandidates offers DHT peers to autorelay when no bootstrap nodes
// are configured (the public DHT): autorelay keeps those that offer a
// relay service.
func (r *reach) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	defer close(out)
	if r.dht == nil {
		return out
	}
	for _, p := range r.dht.RoutingTable().ListPeers() {
		if len(out) == num {
			break
		}
		out <- peer.AddrInfo{ID: p, Addrs: r.dht.Host().Peerstore().Addrs(p)}
	}
	return out
}

// start runs once the libp2p host exists: it follows AutoNAT's verdict.
func (r *reach) start(h host.Host) error {
	if r.infra {
		r.reachability.Store(int32(network.ReachabilityPublic))
	}
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtLocalReachabilityChanged), new(event.EvtPeerIdentificationCompleted)}, eventbus.BufSize(64))
	if err != nil {
		return fmt.Errorf("subscribe to reachability events: %w", err)
	}
	r.sub = sub
	r.loopDone = make(chan struct{})
	go func() {
		defer close(r.loopDone)
		for e := range sub.Out() {
			switch e := e.(type) {
			case event.EvtLocalReachabilityChanged:
				r.reachability.Store(int32(e.Reachability))
			case event.EvtPeerIdentificationCompleted:
				r.nat.observe(e)
			}
		}
	}()
	var ctx context.Context
	ctx, r.stop = context.WithCancel(context.Background())
	r.keepDone = make(chan struct{})
	go r.keepBootstrap(ctx, h)
	return nil
}

// keepBootstrap connects to the bootstrap nodes at once and again whenever
// a connection is lost (checked every bootstrapEvery), DHT or not: they
// are the AutoNAT servers that tell a Host it is behind a NAT, and its
// relays.
func (r *reach) keepBootstrap(ctx context.Context, h host.Host) {
	defer close(r.keepDone)
	t := time.NewTicker(bootstrapEvery)
	defer t.Stop()
	for {
		for _, b := range r.bootstrap {
			if h.Network().Connectedness(b.ID) != network.Connected {
				cctx, cancel := context.WithTimeout(ctx, bootstrapEvery)
				h.Connect(cctx, b) // failures are retried on the next tick
				cancel()
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// close stops the DHT and the reachability loop. The libp2p host closes
// the rest.
func (r *reach) close() error {
	var err error
	if r.stop != nil {
		r.stop()
		<-r.keepDone
	}
	if r.dht != nil {
		err = r.dht.Close()
	}
	if r.sub != nil {
		r.sub.Close()
		<-r.loopDone
	}
	return err
}

// Reachability is what AutoNAT found about the Host.
type Reachability string

const (
	ReachUnknown Reachability = "unknown" // not found out yet, or the DHT and bootstrap peers are off
	ReachPublic  Reachability = "public"  // others can dial this Host directly
	ReachPrivate Reachability = "private" // behind a NAT or firewall: reached through relays and hole punching
)

// ReachInfo describes how the Host reaches and is reached by peers.
type ReachInfo struct {
	Reachability Reachability
	// Relays are the peer IDs of the relays holding a reservation for
	// this Host, sorted: others can reach it through them.
	Relays []string
	// DHT is the DHT joined; RoutingTable the number of DHT servers in
	// its routing table.
	DHT          DHTMode
	RoutingTable int
	// Bootstrap are the peer IDs of the configured bootstrap nodes, and
	// BootstrapConnected those connected now.
	Bootstrap, BootstrapConnected []string
	// HolePunching is true once the Host knows a public address of its
	// own and can take part in hole punches.
	HolePunching bool
	// NATMapping is how this Host's router maps ports, as the peers it
	// dialled saw it; NATEvidence says what they saw.
	NATMapping  NATMapping
	NATEvidence string
}

// Reach reports how the Host reaches peers.
func (h *Host) Reach() ReachInfo {
	r := h.reach
	info := ReachInfo{DHT: r.mode}
	switch network.Reachability(r.reachability.Load()) {
	case network.ReachabilityPublic:
		info.Reachability = ReachPublic
	case network.ReachabilityPrivate:
		info.Reachability = ReachPrivate
	default:
		info.Reachability = ReachUnknown
	}
	for _, a := range h.h.Addrs() {
		if !isRelayed(a) {
			continue
		}
		if v, err := a.ValueForProtocol(ma.P_P2P); err == nil {
			info.Relays = append(info.Relays, v)
		}
	}
	slices.Sort(info.Relays)
	info.Relays = slices.Compact(info.Relays)
	if r.dht != nil {
		info.RoutingTable = r.dht.RoutingTable().Size()
	}
	for _, b := range r.bootstrap {
		info.Bootstrap = append(info.Bootstrap, b.ID.String())
		if h.h.Network().Connectedness(b.ID) == network.Connected {
			info.BootstrapConnected = append(info.BootstrapConnected, b.ID.String())
		}
	}
	info.HolePunching = r.infra || slices.Contains(h.h.Mux().Protocols(), holepunch.Protocol)
	info.NATMapping, info.NATEvidence = r.nat.mapping()
	return info
}

// ErrNoHolePunch is returned by Upgrade while the Host cannot take part in
// a hole punch: it knows no public address of its own yet.
var ErrNoHolePunch = errors.New("p2p: hole punching is not ready: no public address of this host is known yet")

// upgradeTimeout bounds one Upgrade: a DCUtR exchange and its punches take
// a few round trips, at most three attempts of a few seconds.
const upgradeTimeout = 30 * time.Second

// Upgrade tries to replace a relayed connection to p by a direct one: it
// dials p's public addresses, then coordinates a hole punch over the
// relayed connection (DCUtR). It returns nil at once if a direct connection
// exists. The peer starts a hole punch itself when it receives a relayed
// connection, once; Upgrade is how Loam retries, since that single attempt
// fails when it comes before both sides know their public address
// (NETLAB.md point 4). It blocks for up to a few seconds per attempt.
func (h *Host) Upgrade(ctx context.Context, p keys.AuthorID) error {
	id := peerIDOf(p)
	if h.direct(id) {
		return nil
	}
	if h.reach.hps == nil || !slices.Contains(h.h.Mux().Protocols(), holepunch.Protocol) {
		h.peers.get(id, p).punched(ErrNoHolePunch)
		return ErrNoHolePunch
	}
	if !h.enter() {
		return errors.New("p2p: upgrade: the host is closing")
	}
	defer h.running.Done()
	done := make(chan error, 1)
	go func() { done <- h.reach.hps.DirectConnect(id) }() // ends by itself, within upgradeTimeout
	t := time.NewTimer(upgradeTimeout)
	defer t.Stop()
	var err error
	select {
	case err = <-done:
		if err != nil {
			err = fmt.Errorf("p2p: upgrade %s: %w", p.Short(), err)
		}
	case <-ctx.Done():
		return fmt.Errorf("p2p: upgrade %s: %w", p.Short(), ctx.Err())
	case <-t.C:
		err = fmt.Errorf("p2p: upgrade %s: no direct connection within %v", p.Short(), upgradeTimeout)
	}
	h.peers.get(id, p).punched(err)
	return err
}

// direct reports whether a connection to p goes without relay.
func (h *Host) direct(p peer.ID) bool {
	for _, c := range h.h.Network().ConnsToPeer(p) {
		if !isRelayed(c.RemoteMultiaddr()) {
			return true
		}
	}
	return false
}

// Relayed reports whether p is connected only through relays.
func (h *Host) Relayed(p keys.AuthorID) bool {
	id := peerIDOf(p)
	return len(h.h.Network().ConnsToPeer(id)) > 0 && !h.direct(id)
}

// ConnectAny connects to p at p.Addrs, and failing that through each
// bootstrap node as a relay (p may hold a reservation there). A relayed
// connection carries no Loam streams: Upgrade it.
func (h *Host) ConnectAny(ctx context.Context, p PeerInfo) error {
	err := h.ConnectPeer(ctx, p)
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, b := range h.reach.bootstrap {
		if b.ID == peerIDOf(p.ID) {
			continue
		}
		circuit := PeerInfo{ID: p.ID}
		for _, a := range b.Addrs {
			circuit.Addrs = append(circuit.Addrs, a.String()+"/p2p/"+b.ID.String()+"/p2p-circuit")
		}
		e := h.ConnectPeer(network.WithAllowLimitedConn(ctx, "loam: reach a space peer"), circuit)
		if e == nil {
			return nil
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
