package p2p

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// NATMapping is how this Host's router maps its ports, as observed by the
// peers it dials directly: each tells (identify) the address it sees the
// connection come from. A router that keeps a socket's port for every
// destination (endpoint-independent mapping, "cone") allows hole
// punching; one that picks a new port per destination (endpoint-dependent,
// "symmetric") does not, since the port others observe is valid only for
// them.
type NATMapping string

const (
	// NATUnknown: fewer than two peers at different addresses have seen
	// this Host through the same NAT (one bootstrap node is not enough).
	NATUnknown NATMapping = "unknown"
	// NATNone: the peers see this Host at its own address.
	NATNone NATMapping = "none"
	// NATKeepsPorts: two or more peers saw one socket at the same port.
	NATKeepsPorts NATMapping = "endpoint-independent"
	// NATPerDestination: two peers saw one socket at different ports.
	NATPerDestination NATMapping = "endpoint-dependent"
)

// Bounds of the observation table: a few local sockets matter (one per
// transport and address family), and a few observers are enough.
const (
	maxNATSockets   = 8
	maxNATObservers = 8
)

// natObservations records, for each local socket, the port at which each
// observer saw it.
type natObservations struct {
	mu   sync.Mutex
	obs  map[natSocket]map[string]string // socket → observer IP → observed port; guarded by mu
	seen bool                            // some direct outbound connection was identified; guarded by mu
	nat  bool                            // some observer saw another address than ours; guarded by mu
}

// natSocket is a local socket as seen through one public address: the
// transport ("tcp" or "udp"), the local port and the observed IP.
type natSocket struct{ proto, port, publicIP string }

// observe records what identify reported on an outbound direct connection.
func (o *natObservations) observe(e event.EvtPeerIdentificationCompleted) {
	if e.Conn == nil || e.ObservedAddr == nil || e.Conn.Stat().Direction != network.DirOutbound || isRelayed(e.Conn.RemoteMultiaddr()) {
		return
	}
	localIP, proto, localPort, ok := ipPort(e.Conn.LocalMultiaddr())
	if !ok {
		return
	}
	seenIP, seenProto, seenPort, ok := ipPort(e.ObservedAddr)
	if !ok || seenProto != proto {
		return
	}
	observer, _, _, ok := ipPort(e.Conn.RemoteMultiaddr())
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = true
	if seenIP == localIP {
		return // no NAT on this path
	}
	o.nat = true
	if o.obs == nil {
		o.obs = make(map[natSocket]map[string]string)
	}
	k := natSocket{proto, localPort, seenIP}
	m := o.obs[k]
	if m == nil {
		if len(o.obs) >= maxNATSockets {
			return
		}
		m = make(map[string]string)
		o.obs[k] = m
	}
	if _, ok := m[observer]; ok || len(m) < maxNATObservers {
		m[observer] = seenPort
	}
}

// mapping says how the NAT maps ports, with the evidence in words.
func (o *natObservations) mapping() (NATMapping, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var keeps string
	for _, k := range slices.SortedFunc(maps.Keys(o.obs), func(a, b natSocket) int {
		return strings.Compare(a.proto+a.port+a.publicIP, b.proto+b.port+b.publicIP)
	}) {
		m := o.obs[k]
		if len(m) < 2 {
			continue
		}
		var seen []string
		ports := map[string]bool{}
		for _, observer := range slices.Sorted(maps.Keys(m)) {
			seen = append(seen, fmt.Sprintf("port %s by %s", m[observer], observer))
			ports[m[observer]] = true
		}
		what := fmt.Sprintf("local %s port %s was seen at %s %s", k.proto, k.port, k.publicIP, strings.Join(seen, ", "))
		if len(ports) > 1 {
			return NATPerDestination, what
		}
		keeps = what
	}
	switch {
	case keeps != "":
		return NATKeepsPorts, keeps
	case o.seen && !o.nat:
		return NATNone, ""
	}
	return NATUnknown, ""
}

// ipPort splits the start of a multiaddr (/ip4|ip6/…/tcp|udp/…).
func ipPort(m ma.Multiaddr) (ip, proto, port string, ok bool) {
	if len(m) < 2 {
		return "", "", "", false
	}
	switch m[0].Code() {
	case ma.P_IP4, ma.P_IP6:
	default:
		return "", "", "", false
	}
	switch m[1].Code() {
	case ma.P_TCP:
		proto = "tcp"
	case ma.P_UDP:
		proto = "udp"
	default:
		return "", "", "", false
	}
	return m[0].Value(), proto, m[1].Value(), true
}
