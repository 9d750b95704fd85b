package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/netlab"
)

// TestRelayServiceDaemon: a daemon with a public address run with
// --relay-service (as a seeder would be) is the relay of the daemons
// connected to it, with no bootstrap node and no DHT. Node S on the
// emulated internet creates a space; daemon A, behind a NAT, joins it
// from S's ticket, reserves a slot on S and so has a relayed address
// through S, which its own ticket carries; daemon B, behind another NAT,
// joins from A's ticket through S: B connects to A through S (then hole
// punches), and writes on A and B arrive on the other (S, which holds the
// space, may carry them too). It needs root, ip and nft, and skips
// without them.
func TestRelayServiceDaemon(t *testing.T) {
	lab := netlab.New(t, 2)
	s := newLabNode(t, lab, lab.Inet)
	a := newLabNode(t, lab, lab.Homes[0].Host)
	b := newLabNode(t, lab, lab.Homes[1].Host)
	common := []string{"--api", "127.0.0.1:0", "--mdns=false", "--dht", "off"}
	s.cli(30*time.Second, "init")
	s.startDaemon(append(append(common, "--relay-service"), publicListen(netlab.InternetPrefix+"1")...)...)
	startDaemons(common, a, b)
	relay := s.peerID()

	s.cli(30*time.Second, "space", "create", "garden")
	s.cli(30*time.Second, "put", "garden", "tools/drill", "cordless")
	a.cli(60*time.Second, "join", strings.TrimSpace(s.cli(30*time.Second, "invite", "garden", "--role", "admin")))
	a.waitFor(60*time.Second, "holding a relay reservation on S", func() bool {
		var d api.Doctor
		return a.jsonCLI(&d, "doctor", "--json") == nil && slices.Contains(d.Relays, relay) &&
			strings.Contains(strings.Join(a.status().Addrs, " "), "/p2p/"+relay+"/p2p-circuit/")
	})
	ticket := strings.TrimSpace(a.cli(30*time.Second, "invite", "garden"))
	start := time.Now()
	b.join(90*time.Second, ticket, "join through S", a)
	t.Logf("joined %.1fs after the join started", time.Since(start).Seconds())

	peerA := a.peerID()
	b.waitFor(60*time.Second, "connected to A, directly or through S", func() bool {
		var peers []api.Peer
		if b.jsonCLI(&peers, "peers", "--json") != nil {
			return false
		}
		for _, p := range peers {
			if p.Peer == peerA && p.Connected {
				return p.Direct || strings.Contains(strings.Join(p.Addrs, " "), "/p2p/"+relay+"/p2p-circuit")
			}
		}
		return false
	})
	a.cli(30*time.Second, "put", "garden", "tools/saw", "hand saw")
	b.cli(30*time.Second, "put", "garden", "tools/rake", "metal")
	b.mustHave(60*time.Second, "tools/saw", "hand saw")
	a.mustHave(60*time.Second, "tools/rake", "metal")
	text, _ := b.run(20*time.Second, "doctor")
	t.Logf("loam doctor in B's home:\n%s", text)
}
