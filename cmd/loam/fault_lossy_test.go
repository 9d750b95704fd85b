package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/netlab"
	"github.com/loamdb/loam/internal/testkit"
)

// Environment variables of TestLossySlowLinks.
const (
	lossySeedEnv   = "LOAM_LOSSY_SEED"   // the writers' seed; random if unset
	lossyWritesEnv = "LOAM_LOSSY_WRITES" // writes per daemon (default lossyWrites)
	lossyLossEnv   = "LOAM_LOSSY_LOSS"   // percent of packets lost (default lossyLoss)
)

const (
	lossyDaemons = 5
	lossyWrites  = 100
	lossyValue   = 4 << 10 // bytes per value: 1.6 MB for each daemon to receive
	lossyLoss    = 10
	lossyRate    = "1mbit"
)

// labClient returns an API client of n's daemon, reaching its loopback
// API from inside n's namespace.
func labClient(t *testing.T, n *labNode) *api.Client {
	t.Helper()
	c, _, err := api.ClientForHome(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP = &http.Client{Transport: &http.Transport{DialContext: n.lab.DialContext(n.ns)}}
	return c
}

// publicAddr returns n's daemon's multiaddr on the emulated internet over
// transport ("/tcp/" or "/quic-v1").
func publicAddr(t *testing.T, n *labNode, transport string) string {
	t.Helper()
	for _, a := range n.status().Addrs {
		if strings.HasPrefix(a, "/ip4/"+netlab.InternetPrefix) && strings.Contains(a, transport) {
			return a
		}
	}
	t.Fatalf("%s: no public %s address in %v", n.ns, transport, n.status().Addrs)
	return ""
}

// TestLossySlowLinks is the fault suite's test of bad links
// (docs/reliability.md): five daemons, each in its own network namespace
// with a public address (netlab), on links that lose 10% of the packets
// each host sends (nftables numgen random) and carry at most 1 Mbit/s
// each way (tc tbf). One creates a space, the others join it by ticket
// and every daemon connects to every other; then a writer on each daemon
// puts 100 values of 4 KiB (to its own keys, and to keys shared by all)
// through the API, one at a time: each daemon has 1.6 MB to receive, 13 s
// at 1 Mbit/s. Once the writers stop, every daemon must reach the same view hash
// and commits, and hold every acknowledged write (package ackcheck). The
// test logs how long the joins took and how long convergence took after
// the last write (docs/reliability.md records it). It needs root, ip, nft
// and tc, and skips without them (fails with LOAM_NETLAB_REQUIRED=1).
func TestLossySlowLinks(t *testing.T) {
	netlab.SkipIfMissing(t)
	netlab.NeedTools(t, "tc")
	if testing.Short() {
		t.Skip("skipped with -short: five daemons syncing over slow, lossy links")
	}
	r := rand.New(rand.NewPCG(faultSeed(t, lossySeedEnv), 3))
	writes := int(testkit.EnvInt(t, lossyWritesEnv, lossyWrites, 1, 100_000))
	loss := int(testkit.EnvInt(t, lossyLossEnv, lossyLoss, 0, 50))
	lab := netlab.New(t, 0)
	nodes := make([]*labNode, lossyDaemons)
	clients := map[string]*api.Client{}
	for i := range nodes {
		n, p := publicDaemon(t, lab)
		lab.Shape(p, loss, lossyRate)
		nodes[i] = n
		clients[fmt.Sprintf("daemon %d", i)] = labClient(t, n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				n.dumpDoctor()
			}
		}
	})
	c0 := clients["daemon 0"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c0.CreateSpace(ctx, "garden"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 1; i < len(nodes); i++ {
		ticket, err := c0.Invite(ctx, "garden", "write", 0)
		if err != nil {
			t.Fatal(err)
		}
		jctx, jcancel := context.WithTimeout(ctx, 3*time.Minute)
		_, err = clients[fmt.Sprintf("daemon %d", i)].Join(jctx, ticket)
		jcancel()
		if err != nil {
			t.Fatalf("daemon %d: join over %d%% loss and %s: %v", i, loss, lossyRate, err)
		}
	}
	t.Logf("4 joins over %d%% loss and %s took %.1fs", loss, lossyRate, time.Since(start).Seconds())
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			cctx, ccancel := context.WithTimeout(ctx, time.Minute)
			_, err := clients[fmt.Sprintf("daemon %d", i)].Connect(cctx, publicAddr(t, nodes[j], "/tcp/"))
			ccancel()
			if err != nil {
				t.Fatalf("connect daemon %d to daemon %d: %v", i, j, err)
			}
		}
	}

	check := ackcheck.New()
	var ws []*apiWriter
	for i := range nodes {
		c := clients[fmt.Sprintf("daemon %d", i)]
		ws = append(ws, &apiWriter{name: fmt.Sprintf("d%d", i), sp: "garden", client: func() *api.Client { return c }, check: check,
			shared: 20, r: rand.New(rand.NewPCG(r.Uint64(), 0)), limit: uint64(writes), size: lossyValue})
	}
	start = time.Now()
	runWriters(nil, 50*time.Millisecond, ws...)
	wrote := time.Since(start)
	for _, w := range ws {
		if w.Acked() < int64(writes)*9/10 {
			t.Errorf("writer %s: %d of %d writes acknowledged (last error %v): a daemon's own API must take writes whatever its links", w.name, w.Acked(), w.order, w.lastErr)
		}
	}
	took := waitConverged(t, 5*time.Minute, "garden", clients)
	t.Logf("%d daemons, %d writes of %d bytes each in %.1fs; converged %.1fs after the last write (%d%% loss, %s)", len(nodes), writes, lossyValue, wrote.Seconds(), took.Seconds(), loss, lossyRate)
	for name, c := range clients {
		peers, err := c.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var in, out uint64
		connected := 0
		for _, p := range peers {
			in, out = in+p.BytesIn, out+p.BytesOut
			if p.Connected {
				connected++
			}
		}
		need := float64((lossyDaemons - 1) * writes * lossyValue) // the other writers' values
		t.Logf("%s: %d peers connected, %.2f MB in (%.1f times the %.2f MB of values it lacked), %.2f MB out", name, connected, float64(in)/1e6, float64(in)/need, need/1e6, float64(out)/1e6)
	}
	checkReplicas(t, check, "garden", clients)
}
