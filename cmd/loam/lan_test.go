package main

import (
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/netlab"
)

// TestLANByMDNS is issue 6's LAN proof: two daemons on one home LAN
// (netlab), with no DHT and no bootstrap node, find each other by mDNS
// alone: one joins from a ticket stripped of every address, 'loam peers
// --json' on each lists the other, connected directly, and a write on
// each side arrives on the other. It needs root, ip and nft, and skips
// without them.
func TestLANByMDNS(t *testing.T) {
	lab := netlab.New(t, 1)
	second, _ := lab.AddHost(1)
	a := newLabNode(t, lab, lab.Homes[0].Host)
	b := newLabNode(t, lab, second)
	startDaemons([]string{"--api", "127.0.0.1:0", "--dht", "off", "--mdns"}, a, b)

	ticket := stripAddrs(t, a.gardenTicket())
	start := time.Now()
	b.join(60*time.Second, ticket, "join by mDNS", a)
	t.Logf("joined %.1fs after the join started", time.Since(start).Seconds())

	for _, c := range []struct{ n, other *labNode }{{a, b}, {b, a}} {
		other := c.other.peerID()
		c.n.waitFor(30*time.Second, "connected directly to the other host", func() bool {
			var peers []api.Peer
			if c.n.jsonCLI(&peers, "peers", "--json") != nil {
				return false
			}
			for _, p := range peers {
				if p.Peer == other && p.Connected && p.Direct {
					return true
				}
			}
			return false
		})
	}
	b.cli(30*time.Second, "put", "garden", "tools/saw", "hand saw")
	b.mustHave(30*time.Second, "tools/drill", "cordless")
	a.mustHave(30*time.Second, "tools/saw", "hand saw")
	t.Logf("synced both ways %.1fs after the join started", time.Since(start).Seconds())
}
