package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/netlab"
)

// TestSyncThroughRelay is issue 6's proof for homes that cannot hole
// punch: home 1 is behind a cone NAT, home 2 behind a symmetric NAT (its
// router maps ports per destination). Two bootstrap nodes at two
// internet addresses serve a private DHT and relays (two, so that each
// daemon is seen by two observers and can tell how its router maps
// ports). The daemons find each other through the DHT from a ticket
// without addresses, connect through a relay, fail to hole punch, and
// then sync through the relay, both ways; each 'loam doctor --json' says
// the peer is relayed, that spaces sync through the relay, how many hole
// punches failed, and why: the symmetric side that its router maps ports
// per destination, the cone side that its own router keeps ports. The
// relays carry at most relayData per relayed connection; the cone side
// then writes more than that, which reaches the other side only if sync
// resumes after the relay resets the connection. It needs root, ip and
// nft, and skips without them.
func TestSyncThroughRelay(t *testing.T) {
	const (
		relayData = "256KiB"
		bigValues = 6 // of 60 KiB: 360 KiB in all
	)
	lab := netlab.NewNATs(t, netlab.ConeNAT, netlab.SymmetricNAT)
	second := lab.AddInternetAddress(250)

	boot1 := newLabNode(t, lab, lab.Inet)
	boot1Addrs := boot1.startBootstrap(append([]string{"--dht", "private", "--relay-data", relayData}, publicListen(netlab.InternetPrefix+"1")...)...)
	boot2 := newLabNode(t, lab, lab.Inet)
	boot2Addrs := boot2.startBootstrap(withBootstrap(append([]string{"--dht", "private", "--relay-data", relayData}, publicListen(second)...), boot1Addrs...)...)
	relays := []string{boot1.peerIDOf(boot1Addrs[0]), boot2.peerIDOf(boot2Addrs[0])}

	cone := newLabNode(t, lab, lab.Homes[0].Host)
	sym := newLabNode(t, lab, lab.Homes[1].Host)
	startDaemons(withBootstrap([]string{"--api", "127.0.0.1:0", "--mdns=false", "--dht", "private"}, append(boot1Addrs, boot2Addrs...)...), cone, sym)
	for _, n := range []*labNode{cone, sym} {
		n.waitFor(60*time.Second, "private, with a relay", func() bool {
			var d api.Doctor
			return n.jsonCLI(&d, "doctor", "--json") == nil && d.Reachability == "private" && len(d.Relays) > 0
		})
	}

	ticket := stripAddrs(t, cone.gardenTicket())
	start := time.Now()
	sym.join(120*time.Second, ticket, "join through the relay", cone)
	t.Logf("joined through the relay %.1fs after the join started", time.Since(start).Seconds())
	sym.cli(30*time.Second, "put", "garden", "tools/saw", "hand saw")
	sym.mustHave(60*time.Second, "tools/drill", "cordless")
	cone.mustHave(60*time.Second, "tools/saw", "hand saw")
	t.Logf("synced both ways %.1fs after the join started", time.Since(start).Seconds())

	// More than a relayed connection may carry: the relay resets it on
	// the way, and the rest arrives over the next one.
	var values []string
	for i := range bigValues {
		v := make([]byte, 30<<10)
		rand.Read(v)
		values = append(values, hex.EncodeToString(v)) // 60 KiB, stored in the commit
		cone.cli(30*time.Second, "put", "garden", fmt.Sprintf("big/%d", i), values[i])
	}
	start = time.Now()
	for i, v := range values {
		ok := sym.poll(120*time.Second, func() bool {
			out, err := sym.run(10*time.Second, "get", "garden", fmt.Sprintf("big/%d", i))
			return err == nil && strings.TrimSpace(out) == v
		})
		if !ok {
			sym.dumpDoctor()
			t.Fatalf("big/%d did not arrive within 120 s", i)
		}
	}
	t.Logf("%d KiB through relays limited to %s per connection in %.1fs", bigValues*60, relayData, time.Since(start).Seconds())
	// Only relays connect the two homes and each relayed connection
	// carries at most relayData each way (TestRelayLimit in internal/p2p
	// checks that a relay enforces it): more than that sent means more
	// than one connection, so sync went on after a reset.
	var peers []api.Peer
	symID := sym.peerID()
	if err := cone.jsonCLI(&peers, "peers", "--json"); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.Peer == symID {
			t.Logf("the cone home sent %d KiB to the symmetric one, relayed: %v", p.BytesOut>>10, !p.Direct)
			if p.Direct || p.BytesOut <= 256<<10 {
				t.Errorf("cone home's view of the symmetric one: %+v; want relayed and more than %s sent", p, relayData)
			}
		}
	}

	for _, c := range []struct {
		n, peer *labNode
		nat     string
		why     string
	}{
		{sym, cone, "endpoint-dependent", "This device's router maps ports per destination"},
		{cone, sym, "endpoint-independent", "the other side's router must map ports per destination"},
	} {
		peer := c.peer.peerID()
		var d api.Doctor
		ok := c.n.poll(30*time.Second, func() bool {
			d = api.Doctor{}
			if c.n.jsonCLI(&d, "doctor", "--json") != nil || d.NATMapping != c.nat {
				return false
			}
			for _, conn := range d.Connections {
				if conn.Peer == peer {
					return !conn.Direct && conn.RelaySync && slices.Contains(relays, conn.Relay) && conn.HolePunchFailures > 0
				}
			}
			return false
		})
		text, _ := c.n.run(20*time.Second, "doctor")
		t.Logf("loam doctor in the %s home:\n%s", c.nat, text)
		if !ok {
			t.Errorf("%s: doctor --json: nat_mapping %q, connections %+v; want %q and %s relayed through a bootstrap node with relay_sync and failed hole punches",
				c.n.ns, d.NATMapping, d.Connections, c.nat, peer)
			continue
		}
		if advice := strings.Join(d.Advice, "\n"); !strings.Contains(advice, c.why) || !strings.Contains(advice, "spaces sync through it") {
			t.Errorf("%s: advice %q; want it to say %q and that spaces sync through the relay", c.n.ns, advice, c.why)
		}
	}
}

// peerIDOf returns the peer ID at the end of a multiaddr.
func (n *labNode) peerIDOf(addr string) string {
	n.t.Helper()
	i := strings.LastIndex(addr, "/p2p/")
	if i < 0 {
		n.t.Fatalf("%s has no /p2p/", addr)
	}
	return addr[i+len("/p2p/"):]
}
