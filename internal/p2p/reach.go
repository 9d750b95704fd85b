package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	public    bool            // declare reachability public: infra or relaySvc
	bootstrap []peer.AddrInfo // DHT entry points and static relays

	onDHTRequest func(DHTRequest) // Config.OnDHTRequest

	hmu     sync.Mutex
	h       host.Host // set by start; guarded by hmu
	onAddrs []func()  // NotifyAddrs callbacks; guarded by hmu

	// Set while libp2p.New runs, read-only afterwards.
	dht *dht.IpfsDHT       // nil if mode is DHTOff
	hps *holepunch.Service // nil on infrastructure nodes

	reachability atomic.Int32 // network.Reachability, from AutoNAT events
	nat          natObservations
	sub          event.Subscription
	loopDone     chan struct{}

	stop     context.CancelFunc // ends keepBootstrap
	keepDone chan struct{}      // closed when keepBootstrap returns

	// punch, if set, replaces the hole punching service's DirectConnect
	// (tests only).
	punch func(peer.ID) error

	gate *dialGate // discovery dials give way to tickets' (dialgate.go)
}

// bootstrapEvery is how often a Host checks that it is connected to its
// bootstrap nodes.
const bootstrapEvery = 30 * time.Second

// newReach checks the reach part of c.
func newReach(c Config) (*reach, error) {
	r := &reach{mode: c.DHT, infra: c.Infrastructure, relaySvc: c.Infrastructure || c.RelayService, private: c.private, public: c.Infrastructure || c.RelayService, onDHTRequest: c.OnDHTRequest, gate: newDialGate()}
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
		// A relay also answers AutoNAT: the peers it relays for need to
		// learn that they are behind a NAT, with or without bootstrap
		// nodes.
		opts = append(opts,
			libp2p.EnableRelayService(relay.WithResources(relayResources(r.limit))),
			libp2p.EnableNATService())
	}
	if r.public {
		opts = append(opts, libp2p.ForceReachabilityPublic())
	}
	if !r.infra {
		if r.private {
			opts = append(opts, libp2p.ForceReachabilityPrivate())
		}
		capture := func(s *holepunch.Service) error { r.hps = s; return nil }
		opts = append(opts, libp2p.EnableHolePunching(capture))
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(r.relayCandidates,
			autorelay.WithBootDelay(0),
			autorelay.WithMinCandidates(max(1, len(r.bootstrap))),
			autorelay.WithNumRelays(len(r.bootstrap)+extraRelays),
			autorelay.WithMinInterval(relaySourceEvery)))
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

// Relay candidates beyond the bootstrap nodes.
const (
	// extraRelays is how many relays a Host reserves a slot on besides
	// its bootstrap nodes: seeders running the relay service, or relays
	// found in the DHT.
	extraRelays = 2
	// relaySourceEvery is how often autorelay may ask relayCandidates
	// for more candidates (go-libp2p's default: 30 s): a seeder's relay
	// is found soon after the seeder connects. relayCandidates costs no
	// network traffic; autorelay backs off from candidates that failed.
	relaySourceEvery = 10 * time.Second
)

// relayCandidates offers autorelay its relay candidates: connected peers
// that run a relay service (seeders with Config.RelayService: a daemon
// connects to those holding its spaces, and a joiner to those its ticket
// names), the bootstrap nodes, and without bootstrap nodes, with the
// public DHT, DHT peers. Autorelay keeps those that offer a relay
// service, and reserves a slot on them once AutoNAT finds this Host
// private.
func (r *reach) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	defer close(out)
	h := r.hostRef()
	if h == nil {
		return out
	}
	offer := func(p peer.ID, addrs []ma.Multiaddr) bool {
		if len(out) == num {
			return false
		}
		out <- peer.AddrInfo{ID: p, Addrs: addrs}
		return true
	}
	boot := map[peer.ID]bool{}
	for _, b := range r.bootstrap {
		boot[b.ID] = true
	}
	for _, p := range h.Network().Peers() {
		if boot[p] || !r.direct(h, p) {
			continue
		}
		if ok, _ := h.Peerstore().SupportsProtocols(p, relayHop); len(ok) > 0 && !offer(p, h.Peerstore().Addrs(p)) {
			return out
		}
	}
	for _, b := range r.bootstrap {
		if !offer(b.ID, b.Addrs) {
			return out
		}
	}
	if r.dht != nil && len(r.bootstrap) == 0 && r.mode == DHTAmino {
		for _, p := range r.dht.RoutingTable().ListPeers() {
			if !offer(p, h.Peerstore().Addrs(p)) {
				break
			}
		}
	}
	return out
}

// direct reports whether h has a direct connection to p.
func (r *reach) direct(h host.Host, p peer.ID) bool {
	for _, c := range h.Network().ConnsToPeer(p) {
		if !isRelayed(c.RemoteMultiaddr()) {
			return true
		}
	}
	return false
}

// maxRelaysTried bounds the relays ConnectAny goes through.
const maxRelaysTried = 8

// relayHop is the protocol of a Circuit Relay v2 service.
const relayHop = "/libp2p/circuit/relay/0.2.0/hop"

// hostRef returns the libp2p host once start has run, else nil.
func (r *reach) hostRef() host.Host {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	return r.h
}

// start runs once the libp2p host exists: it follows AutoNAT's verdict.
func (r *reach) start(h host.Host) error {
	r.hmu.Lock()
	r.h = h
	r.hmu.Unlock()
	if r.public {
		r.reachability.Store(int32(network.ReachabilityPublic))
	}
	sub, err := h.EventBus().Subscribe([]any{
		new(event.EvtLocalReachabilityChanged),
		new(event.EvtPeerIdentificationCompleted),
		new(event.EvtLocalAddressesUpdated),
	}, eventbus.BufSize(64))
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
			case event.EvtLocalAddressesUpdated:
				if e.Diffs {
					r.hmu.Lock()
					fns := r.onAddrs
					r.hmu.Unlock()
					for _, fn := range fns {
						fn()
					}
				}
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
				if gctx, done, err := r.gate.discovery(cctx); err == nil {
					h.Connect(gctx, b) // failures are retried on the next tick
					done()
				}
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

// NotifyAddrs registers fn to be called when the Host's own addresses
// change (a new listen or observed address, a relay reservation made or
// lost): what others were told, in the DHT say, may be stale. fn runs on
// the Host's reachability goroutine, one call at a time; it must not
// block. Calls stop when Close returns.
func (h *Host) NotifyAddrs(fn func()) {
	h.reach.hmu.Lock()
	defer h.reach.hmu.Unlock()
	h.reach.onAddrs = append(h.reach.onAddrs, fn)
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
	punch := h.reach.punch
	if punch == nil {
		if h.reach.hps == nil || !slices.Contains(h.h.Mux().Protocols(), holepunch.Protocol) {
			h.peers.get(id, p).punched(ErrNoHolePunch)
			return ErrNoHolePunch
		}
		punch = h.reach.hps.DirectConnect
	}
	if !h.enter() {
		return errors.New("p2p: upgrade: the host is closing")
	}
	defer h.running.Done()
	done := make(chan error, 1)
	// DirectConnect takes no context: it ends by itself within a few
	// attempts, or when the hole punching service closes (Close closes
	// it with the libp2p host, then waits for this goroutine).
	h.punching.Add(1) // under a running token: before Close waits
	go func() {
		defer h.punching.Done()
		done <- punch(id)
	}()
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
// relay it knows: the bootstrap nodes, and connected peers that run a
// relay service (p may hold a reservation there). A relayed connection
// carries no Loam streams until Upgrade or UseRelay.
//
// It is a discovery dial: it gives way to the dials of ConnectAddrs and
// Connect (dialgate.go), and fails with a context error when one cancels
// it.
func (h *Host) ConnectAny(ctx context.Context, p PeerInfo) error {
	ctx, done, err := h.reach.gate.discovery(ctx)
	if err != nil {
		return fmt.Errorf("p2p: connect %s: %w", p.ID.Short(), err)
	}
	defer done()
	err = h.ConnectPeer(ctx, p)
	if err == nil {
		return nil
	}
	errs := []error{err}
	relays := slices.Clone(h.reach.bootstrap)
	for info := range h.reach.relayCandidates(ctx, maxRelaysTried) {
		hop, _ := h.h.Peerstore().SupportsProtocols(info.ID, relayHop)
		if len(hop) > 0 && !slices.ContainsFunc(relays, func(b peer.AddrInfo) bool { return b.ID == info.ID }) {
			relays = append(relays, info)
		}
	}
	for _, b := range relays {
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
