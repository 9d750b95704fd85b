package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/version"
)

// DefaultListen are the addresses a Host listens on when Config.Listen is
// empty: every interface, a port chosen by the system, TCP and QUIC, IPv4
// and IPv6.
var DefaultListen = []string{
	"/ip4/0.0.0.0/tcp/0",
	"/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip6/::/tcp/0",
	"/ip6/::/udp/0/quic-v1",
}

// DefaultMDNSTag is the mDNS service name used when Config.MDNSTag is empty.
const DefaultMDNSTag = "loam"

// Config configures a Host. The zero value of every field but Key is
// usable, and keeps the Host off the internet: no DHT, no bootstrap peers.
type Config struct {
	// Key is the device key; it is the libp2p identity, so the Host's peer
	// ID is derived from Key.Author(). Required.
	Key keys.DeviceKey

	// Listen lists the multiaddrs to listen on; DefaultListen if empty.
	Listen []string

	// MDNS turns on discovery of peers on the local network. New fails if
	// no interface can multicast.
	MDNS bool
	// MDNSTag is the mDNS service name; DefaultMDNSTag if empty. Only
	// hosts with the same tag find each other.
	MDNSTag string
	// OnPeerFound is called for each peer mDNS discovers, and again when
	// the peer announces itself anew; the Host remembers the addresses but
	// does not connect by itself. It is called on a goroutine of the mDNS
	// service, possibly concurrently with itself, never after Close
	// returns, and must not block.
	OnPeerFound func(PeerInfo)

	// NATPortMap asks the home router to forward the listening ports
	// (UPnP / NAT-PMP). Off by default: it sends traffic to the gateway.
	NATPortMap bool

	// DHT chooses the Kademlia DHT the Host joins (dht.go); DHTOff, the
	// zero value, joins none and sends nothing beyond the peers it is
	// told to dial.
	DHT DHTMode
	// Bootstrap lists multiaddrs (with /p2p/) of bootstrap nodes: the
	// DHT's entry points and the Host's static relays. Empty with
	// DHTAmino: the public libp2p bootstrap peers, and relays found in
	// the DHT.
	Bootstrap []string
	// Infrastructure makes the Host a community bootstrap node: a DHT
	// server, a Circuit Relay v2 service, and an AutoNAT service; it
	// declares itself publicly reachable instead of asking AutoNAT, and
	// uses no relay itself.
	Infrastructure bool
	// OnDHTRequest, if set, is called with every request the Host's DHT
	// server receives (only DHT servers receive any: infrastructure
	// hosts). It runs on the goroutine that serves the request, before
	// the answer, so it must be quick and must not block.
	OnDHTRequest func(DHTRequest)
	// RelayService runs a Circuit Relay v2 service and an AutoNAT
	// service (Infrastructure implies them): peers behind NATs that
	// connect to this Host reserve slots on it and are reached through
	// it. Like Infrastructure, it declares the Host publicly reachable
	// instead of asking AutoNAT (which would need other public nodes
	// first), so give it only to a Host with a public address.
	RelayService bool
	// RelayLimit bounds what the relay service carries per relayed
	// connection; the zero value means DefaultRelayLimit.
	RelayLimit RelayLimit

	// AgentVersion is what identify tells peers this Host runs; empty
	// means version.Agent(), "loam/" and the Loam module's version.
	AgentVersion string

	// Logger receives one Info line per peer that becomes usable for
	// Loam streams or stops being so (see Notify), saying whether the
	// connection is direct or relayed; nil discards them. Nothing secret
	// is logged: peer IDs and addresses only.
	Logger *slog.Logger

	// security lists the security protocols to offer, in order of
	// preference; nil means TLS then Noise. Only tests and benchmarks set
	// it.
	security []string
	// private declares the Host behind a NAT instead of asking AutoNAT,
	// so that it reserves relay slots at once. Only tests set it: on
	// loopback AutoNAT never decides.
	private bool
}

// Host is a Loam node's presence on the network. Create it with New and
// release it with Close. Its methods are safe for concurrent use.
type Host struct {
	h     host.Host
	self  keys.AuthorID
	gater *gater
	peers *peerTable
	reach *reach // DHT, relays, hole punching
	log   *slog.Logger

	onPeerFound func(PeerInfo)
	mdns        interface{ Close() error } // nil unless Config.MDNS

	sub      event.Subscription // connectedness events, read by loop
	recheck  chan peer.ID       // peers whose UseRelay changed, read by loop
	loopDone chan struct{}      // closed when loop returns

	closeOnce sync.Once

	mu     sync.Mutex                  // guards the fields below
	closed bool                        // Close has begun
	notify []func(keys.AuthorID, bool) // Notify callbacks, in registration order
	// NotifyRelayed callbacks, in registration order
	notifyRelayed []func(keys.AuthorID)
	running       sync.WaitGroup // handlers and mDNS callbacks in progress; Add only under mu while !closed
	// punching counts Upgrade's DirectConnect calls under way; Add only
	// while holding a running token. Close waits for them once the hole
	// punching service is closed.
	punching sync.WaitGroup
}

// New starts a Host: it listens on c.Listen (it fails only if it can listen
// on none of them) and, if c.MDNS, starts mDNS. It does not wait on the
// network; ctx is only checked before starting. The Host lives until Close.
func New(ctx context.Context, c Config) (*Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("p2p: new: %w", err)
	}
	if c.Key.IsZero() {
		return nil, errors.New("p2p: new: Config.Key is not set")
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(c.Key.Ed25519())
	if err != nil {
		return nil, fmt.Errorf("p2p: new: identity: %w", err)
	}
	listen := c.Listen
	if len(listen) == 0 {
		listen = DefaultListen
	}

	rm, err := newResourceManager(c.Infrastructure)
	if err != nil {
		return nil, fmt.Errorf("p2p: new: %w", err)
	}
	cm, err := newConnManager()
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("p2p: new: %w", err)
	}
	g := newGater()
	agent := c.AgentVersion
	if agent == "" {
		agent = version.Agent()
	}

	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Muxer(yamux.ID, yamuxTransport()),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.DisableMetrics(), // no global Prometheus registry; metrics come later
		libp2p.UserAgent(agent),
	}
	r, err := newReach(c)
	if err != nil {
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("p2p: new: %w", err)
	}
	opts = append(opts, r.options()...)
	security := c.security
	if security == nil {
		security = []string{tls.ID, noise.ID} // TLS first: faster here (DESIGN.md §12)
	}
	for _, s := range security {
		switch s {
		case tls.ID:
			opts = append(opts, libp2p.Security(tls.ID, tls.New))
		case noise.ID:
			opts = append(opts, libp2p.Security(noise.ID, noise.New))
		default:
			rm.Close()
			cm.Close()
			return nil, fmt.Errorf("p2p: new: unknown security protocol %q", s)
		}
	}
	if c.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}

	lh, err := libp2p.New(opts...)
	if err != nil {
		// libp2p closes these itself only on some of its error paths;
		// closing them twice is harmless.
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("p2p: new: %w", err)
	}

	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{
		h:           lh,
		self:        c.Key.Author(),
		gater:       g,
		peers:       newPeerTable(),
		reach:       r,
		log:         c.Logger,
		onPeerFound: c.OnPeerFound,
		recheck:     make(chan peer.ID, 16),
		loopDone:    make(chan struct{}),
	}
	if err := r.start(lh); err != nil {
		r.close()
		lh.Close()
		return nil, fmt.Errorf("p2p: new: %w", err)
	}
	h.sub, err = lh.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(256))
	if err != nil {
		r.close()
		lh.Close()
		return nil, fmt.Errorf("p2p: new: subscribe to connection events: %w", err)
	}
	go h.loop()

	if c.MDNS {
		tag := c.MDNSTag
		if tag == "" {
			tag = DefaultMDNSTag
		}
		if err := h.startMDNS(tag); err != nil {
			h.Close()
			return nil, fmt.Errorf("p2p: new: %w", err)
		}
	}
	return h, nil
}

// Close stops mDNS, closes every connection (resetting open streams), waits
// for running handlers and callbacks to return and stops every goroutine
// the Host started. It is idempotent; later calls return nil at once.
// It must not be called from a handler or callback.
func (h *Host) Close() error {
	var err error
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()

		if h.mdns != nil {
			if e := h.mdns.Close(); e != nil {
				err = fmt.Errorf("p2p: close: mdns: %w", e)
			}
		}
		if e := h.reach.close(); e != nil && err == nil {
			err = fmt.Errorf("p2p: close: %w", e)
		}
		if e := h.h.Close(); e != nil && err == nil {
			err = fmt.Errorf("p2p: close: %w", e)
		}
		h.sub.Close() // ends loop
		<-h.loopDone
		h.running.Wait()
		waitPunches(&h.punching)
	})
	return err
}

// punchWait bounds how long Close waits for DirectConnect calls to return
// once the hole punching service is closed: they return at once then,
// except one that began in the moment the service learnt a public address
// of the host and closed before it was ready (go-libp2p's DirectConnect
// then waits for good). Close must not hang on that.
const punchWait = upgradeTimeout

func waitPunches(wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(punchWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// enter registers a handler or callback about to run, and reports false
// once Close has begun. A true result must be paired with h.running.Done.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.running.Add(1)
	return true
}

// ID returns the Host's identity: the author ID of its device key.
func (h *Host) ID() keys.AuthorID { return h.self }

// Addrs returns the Host's full multiaddrs, each ending in /p2p/<peer ID>,
// sorted. Wildcard listen addresses are expanded to every interface,
// loopback included.
func (h *Host) Addrs() []string {
	suffix := "/p2p/" + h.h.ID().String()
	var out []string
	add := func(addrs []ma.Multiaddr) {
		for _, a := range addrs {
			if len(a) > 0 && a[0].Code() == ma.P_CIRCUIT {
				continue // the relay transport's listener, not an address
			}
			out = append(out, a.String()+suffix)
		}
	}
	add(h.h.Addrs())
	if ifaces, err := h.h.Network().InterfaceListenAddresses(); err == nil {
		add(ifaces)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Connect connects to the peer at addr, a multiaddr ending in /p2p/<peer
// ID>, and returns the peer's author ID. addr may go through a relay
// (.../p2p-circuit/p2p/<peer ID>): the connection is then limited, and
// carries no Loam stream until Upgrade replaces it. A dial that times out
// is made again while ctx lasts (redial.go).
func (h *Host) Connect(ctx context.Context, addr string) (keys.AuthorID, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return keys.AuthorID{}, fmt.Errorf("p2p: connect %s: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return keys.AuthorID{}, fmt.Errorf("p2p: connect %s: %w", addr, err)
	}
	a, err := authorOf(info.ID)
	if err != nil {
		return keys.AuthorID{}, fmt.Errorf("p2p: connect %s: %w", addr, err)
	}
	defer h.reach.gate.prioritize()()
	if err := h.dialExplicit(ctx, *info); err != nil {
		return keys.AuthorID{}, fmt.Errorf("p2p: connect %s: %w", addr, err)
	}
	return a, nil
}

// ConnectAddrs connects to every peer named in addrs (multiaddrs ending
// in /p2p/<peer ID>), dialling all the addresses of one peer together, so
// that the swarm tries them in parallel, best first, instead of waiting for
// each unreachable one in turn (a QUIC dial to an address that drops
// packets takes seconds to fail). It returns the peers reached, and the
// errors of the others and of unusable addresses. Relayed addresses are
// accepted, as by Connect. Its dials, and Connect's, go ahead of
// discovery dials (ConnectAny): those under way are cancelled.
func (h *Host) ConnectAddrs(ctx context.Context, addrs []string) ([]keys.AuthorID, error) {
	var errs []error
	var ms []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err == nil {
			_, err = peer.AddrInfoFromP2pAddr(m)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("p2p: connect %s: %w", s, err))
			continue
		}
		ms = append(ms, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(ms...)
	if err != nil {
		return nil, fmt.Errorf("p2p: connect: %w", err)
	}
	// Ahead of discovery dials (dialgate.go). Every peer at once: one that
	// is offline (a ticket's inviter, say) must not use up ctx before the
	// others are tried.
	defer h.reach.gate.prioritize()()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		reached []keys.AuthorID
	)
	for _, info := range infos {
		wg.Go(func() {
			a, err := authorOf(info.ID)
			if err == nil {
				err = h.dialExplicit(ctx, info)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("p2p: connect %s: %w", info.ID, err))
				return
			}
			reached = append(reached, a)
		})
	}
	wg.Wait()
	slices.SortFunc(reached, func(a, b keys.AuthorID) int { return bytes.Compare(a[:], b[:]) })
	return reached, errors.Join(errs...)
}

// forgetFailedDials clears libp2p's dial backoff for p before an explicit
// connect: after a failed dial, libp2p fails every dial to that address
// for 5 s and more ("dial backoff"), which protects against discovery
// dialling a dead address in a loop, but a connect asked for by a person
// or a ticket must dial: the peer may be back (TestConnectAfterFailedDial).
func (h *Host) forgetFailedDials(p peer.ID) {
	if s, ok := h.h.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		s.Backoff().Clear(p)
	}
}

// ConnectPeer connects to p at p.Addrs (multiaddrs, with or without a
// /p2p/ suffix, which must then name p.ID). With no addresses it dials the
// addresses the Host already knows for p. A relayed connection does not
// count: ConnectPeer then dials for a direct one.
func (h *Host) ConnectPeer(ctx context.Context, p PeerInfo) error {
	info := peer.AddrInfo{ID: peerIDOf(p.ID)}
	for _, s := range p.Addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("p2p: connect %s: address %q: %w", p.ID.Short(), s, err)
		}
		tpt, id := peer.SplitAddr(m)
		if id != "" && id != info.ID {
			return fmt.Errorf("p2p: connect %s: address %q names another peer", p.ID.Short(), s)
		}
		if tpt != nil {
			info.Addrs = append(info.Addrs, tpt)
		}
	}
	if limitedOK, _ := network.GetAllowLimitedConn(ctx); !limitedOK && h.h.Network().Connectedness(info.ID) == network.Limited {
		// Without this, libp2p would return the relayed connection: a
		// direct one is what is asked for (mDNS found the peer on the
		// LAN, say).
		ctx = network.WithForceDirectDial(ctx, "loam: replace a relayed connection")
	}
	if err := h.h.Connect(ctx, info); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", p.ID.Short(), err)
	}
	return nil
}

// Disconnect closes every connection to p. p may connect again later.
func (h *Host) Disconnect(p keys.AuthorID) error {
	if err := h.h.Network().ClosePeer(peerIDOf(p)); err != nil {
		return fmt.Errorf("p2p: disconnect %s: %w", p.Short(), err)
	}
	return nil
}

// Block refuses every connection with p, inbound and outbound, for d, and
// closes the current ones. Blocking again replaces the previous deadline;
// d <= 0 lifts the block. Used to back off misbehaving peers.
func (h *Host) Block(p keys.AuthorID, d time.Duration) {
	id := peerIDOf(p)
	h.gater.block(id, d)
	if d > 0 {
		_ = h.h.Network().ClosePeer(id) // errors only report connections that were already closing
	}
}
