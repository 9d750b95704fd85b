package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
)

// Doctor answers GET /v1/doctor: how the node reaches peers, and for each
// space who holds it and what is missing, with advice in plain sentences.
type Doctor struct {
	// Reachability is "public" (others can dial this node), "private"
	// (behind a NAT: reached through relays and hole punching) or
	// "unknown" (not found out yet, or no DHT and no bootstrap node).
	Reachability string `json:"reachability"`
	DHT          string `json:"dht"`           // "amino", "private" or "off"
	RoutingTable int    `json:"routing_table"` // DHT servers in the routing table
	// Bootstrap lists the configured bootstrap nodes' peer IDs;
	// BootstrapConnected those connected now.
	Bootstrap          []string `json:"bootstrap"`
	BootstrapConnected []string `json:"bootstrap_connected"`
	Relays             []string `json:"relays"`        // peer IDs of the relays this node has a reservation on
	HolePunching       bool     `json:"hole_punching"` // false until the node knows a public address of its own
	// NATMapping is how this device's router maps ports, as the peers
	// it dialled saw it: "endpoint-independent" (keeps ports: hole
	// punching works), "endpoint-dependent" (a new port per
	// destination, a symmetric NAT: hole punching cannot work), "none"
	// (no NAT) or "unknown" (fewer than two peers at different addresses
	// saw it); NATEvidence says what they saw.
	NATMapping  string `json:"nat_mapping"`
	NATEvidence string `json:"nat_evidence,omitempty"`
	// Connections lists the connected peers and how.
	Connections []DoctorConn  `json:"connections"`
	Spaces      []DoctorSpace `json:"spaces"`
	// Advice is what to do, one sentence each; empty when all is well.
	Advice []string `json:"advice"`
}

// DoctorConn is one connected peer in Doctor.
type DoctorConn struct {
	Peer   string `json:"peer"`
	Direct bool   `json:"direct"`          // false: through a relay only
	Relay  string `json:"relay,omitempty"` // the relay's peer ID when not direct
	// RelaySync is true when spaces sync through the relay, because
	// hole punching failed.
	RelaySync bool `json:"relay_sync"`
	// HolePunchFailures counts the failed attempts to make the
	// connection direct since the last success; HolePunchError is the
	// last one's error.
	HolePunchFailures int    `json:"hole_punch_failures"`
	HolePunchError    string `json:"hole_punch_error,omitempty"`
}

// DoctorSpace is one held space in Doctor.
type DoctorSpace struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	Announced string `json:"announced,omitempty"` // last announce in the DHT, RFC 3339
	LookedUp  string `json:"looked_up,omitempty"` // last lookup in the DHT, RFC 3339
	// Found are the other nodes the DHT names as holding the space.
	Found []string `json:"found"`
	// Peers are the peers syncing the space now, with what differs.
	Peers []DoctorGap `json:"peers"`
	Error string      `json:"error,omitempty"` // of the last announce or lookup
}

// DoctorGap is one peer syncing a space.
type DoctorGap struct {
	Peer    string `json:"peer"`
	Known   bool   `json:"known"`   // false until the peer has announced its heads
	Missing uint64 `json:"missing"` // commits it holds that this node lacks
	Extra   uint64 `json:"extra"`   // commits this node holds that it lacks
}

func (s *Server) doctor(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ri := s.n.Reach()
	d := Doctor{
		Reachability: string(ri.Reachability), DHT: ri.DHT.String(), RoutingTable: ri.RoutingTable,
		Bootstrap: nonNil(ri.Bootstrap), BootstrapConnected: nonNil(ri.BootstrapConnected),
		Relays: nonNil(ri.Relays), HolePunching: ri.HolePunching,
		NATMapping: string(ri.NATMapping), NATEvidence: ri.NATEvidence,
		Connections: []DoctorConn{}, Spaces: []DoctorSpace{}, Advice: []string{},
	}
	if d.Reachability == "" {
		d.Reachability = string(p2p.ReachUnknown)
	}
	if d.NATMapping == "" {
		d.NATMapping = string(p2p.NATUnknown)
	}
	for _, p := range s.n.Peers() {
		if p.Connected {
			d.Connections = append(d.Connections, DoctorConn{
				Peer: p.PeerID, Direct: p.Direct, Relay: p.Relay, RelaySync: p.RelaySync,
				HolePunchFailures: p.HolePunch.Failures, HolePunchError: p.HolePunch.LastErr,
			})
		}
	}
	found := map[keys.SpaceID]node.SpaceDiscovery{}
	for _, sd := range s.n.Discovery() {
		found[sd.Space] = sd
	}
	infos, err := s.n.Spaces(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, in := range infos {
		ds := DoctorSpace{Name: in.Name, ID: in.ID.String(), Found: []string{}, Peers: []DoctorGap{}}
		if sd, ok := found[in.ID]; ok {
			if !sd.Provided.IsZero() {
				ds.Announced = FormatTime(sd.Provided)
			}
			if !sd.Looked.IsZero() {
				ds.LookedUp = FormatTime(sd.Looked)
			}
			for _, a := range sd.Found {
				ds.Found = append(ds.Found, p2p.PeerIDString(a))
			}
			if sd.Err != nil {
				ds.Error = sd.Err.Error()
			}
		}
		gaps, err := s.n.SpaceGaps(ctx, in.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, g := range gaps {
			ds.Peers = append(ds.Peers, DoctorGap{Peer: p2p.PeerIDString(g.Peer), Known: g.Known, Missing: g.Missing, Extra: g.Extra})
		}
		d.Spaces = append(d.Spaces, ds)
	}
	d.Advice = advise(d)
	writeJSON(w, http.StatusOK, d)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// advise says what to do about what d shows, one sentence each.
func advise(d Doctor) []string {
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if d.DHT == "off" {
		say("The DHT is off, so this node finds peers only on the local network (mDNS) and through tickets' addresses; start the daemon with --dht amino (the default) or --dht private --bootstrap MULTIADDR to find them on the internet.")
	} else {
		if len(d.Bootstrap) > 0 && len(d.BootstrapConnected) == 0 {
			say("No bootstrap node is connected (%s): check that they run and that this device can reach the internet; the daemon keeps retrying.", strings.Join(d.Bootstrap, ", "))
		}
		if d.RoutingTable == 0 {
			say("The DHT routing table is empty, so spaces can be neither announced nor looked up: check the --bootstrap addresses and the network; the daemon keeps retrying.")
		}
	}
	switch d.Reachability {
	case "private":
		if len(d.Relays) == 0 && d.DHT != "off" {
			say("This node is behind a NAT and holds no relay reservation yet, so peers elsewhere cannot reach it: give it a bootstrap node that runs 'loam bootstrap' with --bootstrap, or wait a minute for one to be found.")
		}
		if !d.HolePunching {
			say("This node does not know its public address yet, so it cannot hole punch; it learns it from the first bootstrap node it connects to.")
		}
	case "unknown":
		if d.DHT != "off" {
			say("Reachability is not known yet: AutoNAT asks the bootstrap nodes within a minute of starting; run 'loam doctor' again shortly.")
		}
	}
	for _, c := range d.Connections {
		if !c.Direct {
			out = append(out, adviseRelayed(d, c))
		}
	}
	for _, sp := range d.Spaces {
		if sp.Error != "" {
			say("Announcing or looking up %s in the DHT failed (%s); the daemon retries.", sp.Name, sp.Error)
		}
		if len(sp.Peers) == 0 {
			switch {
			case d.DHT != "off" && sp.LookedUp != "" && len(sp.Found) == 0:
				say("No other node holding %s was found in the DHT: its other devices may be offline; the daemon keeps looking.", sp.Name)
			case len(sp.Found) > 0:
				say("%s is held by %s, found in the DHT, but none syncs with this node yet: the daemon is connecting (through a relay, then directly).", sp.Name, strings.Join(sp.Found, ", "))
			default:
				say("No peer syncs %s: join it from another device's ticket with 'loam join', or start a daemon where it is held.", sp.Name)
			}
		}
		for _, g := range sp.Peers {
			switch {
			case !g.Known:
				say("%s: waiting for %s to announce what it holds.", sp.Name, g.Peer)
			case g.Missing > 0:
				say("%s: %d commit(s) held by %s are still missing here; they are on their way.", sp.Name, g.Missing, g.Peer)
			case g.Extra > 0:
				say("%s: %s still lacks %d commit(s) held here; they are on their way.", sp.Name, g.Peer, g.Extra)
			}
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}

// adviseRelayed explains a connection that goes only through a relay:
// through which relay, whether spaces sync over it, how hole punching
// fared, why it fails and what would make the connection direct.
func adviseRelayed(d Doctor, c DoctorConn) string {
	relay := "a relay"
	if c.Relay != "" {
		relay = "relay " + c.Relay
	}
	punch := "no hole punch was tried yet"
	if c.HolePunchFailures > 0 {
		punch = fmt.Sprintf("hole punching failed %d time(s) (last: %s)", c.HolePunchFailures, c.HolePunchError)
	}
	if !c.RelaySync {
		return fmt.Sprintf("%s is reached only through %s and %s; the daemon keeps trying to hole punch a direct connection, and syncs through the relay after %d failures or %v, whichever comes first.", c.Peer, relay, punch, node.RelayAfter, node.RelayGrace)
	}
	var why string
	switch d.NATMapping {
	case string(p2p.NATPerDestination):
		why = fmt.Sprintf("This device's router maps ports per destination (a symmetric NAT: %s), so the port a peer sees is valid only for that peer and hole punching cannot work.", d.NATEvidence)
	case string(p2p.NATKeepsPorts), string(p2p.NATNone):
		why = "This device's router keeps ports, so the other side's router must map ports per destination (a symmetric NAT), where hole punching cannot work: its 'loam doctor' says so."
	default:
		why = "Most likely one side's router maps ports per destination (a symmetric NAT), where hole punching cannot work; with two bootstrap nodes 'loam doctor' finds out which side."
	}
	return fmt.Sprintf("%s is reached only through %s, and spaces sync through it, end-to-end encrypted (the relay sees only sizes and timing, and resets the connection at its limits; sync then resumes): %s. %s To sync directly, run a seeder ('loam seed') or a daemon on a machine with a public address, or forward a port on the router to one of the two devices (--listen with a fixed port); the daemon keeps trying and switches to a direct connection when one works.", c.Peer, relay, punch, why)
}
