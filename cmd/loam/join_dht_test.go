package main

import (
	"testing"
	"time"

	"github.com/loamdb/loam/internal/netlab"
)

// TestJoinNotBehindDHT is issue 10 G: two daemons on one host with a DHT
// whose bootstrap node cannot be reached because the network drops the
// packets (connections hang instead of failing): a join of a ticket that
// carries the inviter's addresses dials them at once and completes, and
// does not wait behind the DHT's dials (the 10 s timeout is far above
// what it takes, tens of milliseconds, and far below the minute the join
// waited in the report). It needs root, ip and nft.
//
// As reported (a blackholed bootstrap node) it already passed before the
// fix: what held joins back is go-libp2p's queue of at most 160 TCP dials
// at a time, which hanging discovery dials fill; TestTicketDialsGoFirst
// (internal/p2p) fills it and failed before the fix.
func TestJoinNotBehindDHT(t *testing.T) {
	lab := netlab.New(t, 1)
	boot := newLabNode(t, lab, lab.Inet)
	bootAddrs := boot.startBootstrap(append([]string{"--dht", "private"}, publicListen(netlab.InternetPrefix+"1")...)...)
	lab.Blackhole(1, netlab.InternetPrefix+"1")

	a := newLabNode(t, lab, lab.Homes[0].Host)
	b := newLabNode(t, lab, lab.Homes[0].Host)
	startDaemons(withBootstrap([]string{"--api", "127.0.0.1:0", "--mdns=false", "--dht", "private"}, bootAddrs...), a, b)
	ticket := a.gardenTicket()

	start := time.Now()
	_, err := b.run(30*time.Second, "join", ticket, "--timeout", "10s")
	took := time.Since(start)
	t.Logf("join took %s", took.Round(time.Millisecond))
	if err != nil {
		a.dumpDoctor()
		b.dumpDoctor()
		t.Fatalf("join: %v", err)
	}
	b.mustHave(10*time.Second, "tools/drill", "cordless")
}
