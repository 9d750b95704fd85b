package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/netlab"
	"github.com/loamdb/loam/internal/testkit"
)

// Environment variables that vary TestReachAcrossNATs:
//   - LOAM_REACH_RUNS: how many runs (default 10; 1 with -short);
//   - LOAM_REACH_LOSS: percent of packets the internet drops at random to
//     and from each home (default 0);
//   - LOAM_REACH_COLD=1: join as soon as the daemons serve, without
//     waiting for them to know they are behind a NAT and hold a relay
//     reservation; time to direct then includes AutoNAT's ~17 s;
//   - LOAM_REACH_TICKET=1: no DHT (--dht off; the bootstrap node serves
//     only as relay) and the ticket keeps its addresses, among them the
//     inviting daemon's relayed address: the join connects through the
//     relay and the daemon upgrades the connection.
const (
	reachRunsEnv   = "LOAM_REACH_RUNS"
	reachLossEnv   = "LOAM_REACH_LOSS"
	reachColdEnv   = "LOAM_REACH_COLD"
	reachTicketEnv = "LOAM_REACH_TICKET"
)

// directWithin is how soon after the join starts the two homes must be
// connected directly for a run to count as direct.
const directWithin = 30 * time.Second

// reachRun is what one run of TestReachAcrossNATs measured.
type reachRun struct {
	ready    time.Duration // daemons started → both private with a relay
	toDirect time.Duration // join started → 'loam peers --json' says direct; 0 if never
	synced   bool
}

// TestReachAcrossNATs is issue 6's proof: two daemons in two home LANs,
// each behind its own NAT router (netlab), given only a bootstrap node's
// address on the emulated internet and a ticket without addresses, find
// each other through the private DHT, connect through the bootstrap node's
// relay, hole punch a direct connection and sync a space, both ways. It
// makes LOAM_REACH_RUNS runs (default 10) and needs 9 of 10 direct within
// 30 s of the join and every run synced. It needs root, ip and nft, and
// skips without them.
func TestReachAcrossNATs(t *testing.T) {
	netlab.SkipIfMissing(t)
	runs := 10
	if testing.Short() {
		runs = 1
	}
	if v := os.Getenv(reachRunsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", reachRunsEnv, v)
		}
		runs = n
	}
	loss := 0
	if v := os.Getenv(reachLossEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 50 {
			t.Fatalf("%s=%q: want a percentage from 0 to 50", reachLossEnv, v)
		}
		loss = n
	}
	cold := os.Getenv(reachColdEnv) == "1"
	byTicket := os.Getenv(reachTicketEnv) == "1"
	t.Logf("%d runs, %d%% loss, cold=%v, by ticket=%v", runs, loss, cold, byTicket)
	var results []reachRun
	for i := 1; i <= runs; i++ {
		t.Run(fmt.Sprintf("run%02d", i), func(t *testing.T) {
			r := reachOnce(t, loss, cold, byTicket)
			results = append(results, r)
			t.Logf("run %d: ready after %.1fs, direct %.2fs after the join, synced %v", i, r.ready.Seconds(), r.toDirect.Seconds(), r.synced)
		})
	}
	direct, synced := 0, 0
	var times []float64
	for _, r := range results {
		if r.toDirect > 0 && r.toDirect <= directWithin {
			direct++
			times = append(times, r.toDirect.Seconds())
		}
		if r.synced {
			synced++
		}
	}
	slices.Sort(times)
	t.Logf("%d runs: %d direct within %v, %d synced; time to direct (s): %v", len(results), direct, directWithin, synced, times)
	if need := (9*runs + 9) / 10; direct < need {
		t.Errorf("%d of %d runs went direct within %v; want at least %d", direct, runs, directWithin, need)
	}
	if synced != runs {
		t.Errorf("%d of %d runs synced; want all", synced, runs)
	}
}

func reachOnce(t *testing.T, loss int, cold, byTicket bool) reachRun {
	var r reachRun
	lab := netlab.New(t, 2)
	if loss > 0 {
		lab.Loss(1, loss)
		lab.Loss(2, loss)
	}

	boot := newLabNode(t, lab, lab.Inet)
	bootAddrs := boot.startBootstrap(append([]string{"--dht", "private"}, publicListen(netlab.InternetPrefix+"1")...)...)
	start := time.Now()
	dht := "private"
	if byTicket {
		dht = "off"
	}
	a := newLabNode(t, lab, lab.Homes[0].Host)
	b := newLabNode(t, lab, lab.Homes[1].Host)
	startDaemons(withBootstrap([]string{"--api", "127.0.0.1:0", "--mdns=false", "--dht", dht}, bootAddrs...), a, b)
	for _, n := range []*labNode{a, b} {
		if cold {
			break
		}
		n.waitFor(60*time.Second, "private, with a relay and hole punching ready", func() bool {
			var d api.Doctor
			return n.jsonCLI(&d, "doctor", "--json") == nil && d.Reachability == "private" && len(d.Relays) > 0 && d.HolePunching &&
				(!byTicket || strings.Contains(strings.Join(n.status().Addrs, " "), "/p2p-circuit/"))
		})
	}
	r.ready = time.Since(start)

	ticket := a.gardenTicket()
	if !byTicket {
		ticket = stripAddrs(t, ticket)
	}

	joinStart := time.Now()
	joined := make(chan error, 1)
	go func() {
		_, err := b.run(90*time.Second, "join", ticket)
		joined <- err
	}()
	peerA := a.peerID()
	deadline := time.Now().Add(90 * time.Second)
	for r.toDirect == 0 && time.Now().Before(deadline) {
		var peers []api.Peer
		if b.jsonCLI(&peers, "peers", "--json") == nil {
			for _, p := range peers {
				if p.Peer == peerA && p.Connected && p.Direct {
					r.toDirect = time.Since(joinStart)
				}
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	if err := <-joined; err != nil {
		t.Errorf("join: %v", err)
		a.dumpDoctor()
		b.dumpDoctor()
		return r
	}
	if r.toDirect == 0 {
		t.Errorf("not direct within 90 s")
		b.dumpDoctor()
	}
	b.cli(30*time.Second, "put", "garden", "tools/saw", "hand saw")
	r.synced = true
	for _, c := range []struct {
		n    *labNode
		k, v string
	}{{b, "tools/drill", "cordless"}, {a, "tools/saw", "hand saw"}} {
		if !c.n.hasValue(30*time.Second, c.k, c.v) {
			t.Errorf("%s did not sync %s within 30 s", c.n.ns, c.k)
			r.synced = false
		}
	}
	return r
}

// labNode is a Loam home whose processes run in a lab namespace.
type labNode struct {
	t    *testing.T
	lab  *netlab.Lab
	ns   string
	dir  string
	proc *exec.Cmd     // the long-running loam process, if started
	done chan struct{} // closed when proc has exited
}

// newLabNode returns a node of lab in namespace ns, with a home of its own
// (not initialized).
func newLabNode(t *testing.T, lab *netlab.Lab, ns string) *labNode {
	return &labNode{t: t, lab: lab, ns: ns, dir: t.TempDir()}
}

// run runs loam with args in the node's namespace and home.
func (n *labNode) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := n.lab.Command(ctx, n.ns, loamBin, args...)
	cmd.Env = env(n.dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("loam %s in %s: %v: %s", strings.Join(args, " "), n.ns, err, stderr.String())
	}
	return string(out), nil
}

// cli runs loam and fails the test if it fails.
func (n *labNode) cli(timeout time.Duration, args ...string) string {
	n.t.Helper()
	out, err := n.run(timeout, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

func (n *labNode) jsonCLI(v any, args ...string) error {
	out, err := n.run(20*time.Second, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

func (n *labNode) dumpDoctor() {
	out, err := n.run(20*time.Second, "doctor")
	n.t.Logf("loam doctor in %s (%v):\n%s", n.ns, err, out)
	if log, err := os.ReadFile(filepath.Join(n.dir, "process.log")); err == nil {
		n.t.Logf("its output:\n%s", log)
	}
	if n.proc != nil {
		select {
		case <-n.done:
			// Loam stops cleanly only on SIGINT or SIGTERM: if it says
			// "stopping" here, something outside the test signalled it.
			n.t.Logf("the process has exited: %v", n.proc.ProcessState)
		default:
		}
	}
}

// poll checks cond every 100 ms until it holds or d passes.
func (n *labNode) poll(d time.Duration, cond func() bool) bool {
	return testkit.Poll(d, 100*time.Millisecond, cond)
}

// hasValue polls until key of space garden reads v in n's home, for up to
// d, and says whether it did.
func (n *labNode) hasValue(d time.Duration, key, v string) bool {
	return n.poll(d, func() bool {
		out, err := n.run(10*time.Second, "get", "garden", key)
		return err == nil && strings.TrimSpace(out) == v
	})
}

// publicListen returns the --listen flags for QUIC and TCP on port 4001 of
// ip, an address on the lab's emulated internet.
func publicListen(ip string) []string {
	return []string{"--listen", "/ip4/" + ip + "/udp/4001/quic-v1", "--listen", "/ip4/" + ip + "/tcp/4001"}
}

// withBootstrap returns args with a --bootstrap flag for each address.
func withBootstrap(args []string, addrs ...string) []string {
	for _, a := range addrs {
		args = append(args, "--bootstrap", a)
	}
	return args
}

// startDaemons initialises each node's home and starts its daemon with
// args.
func startDaemons(args []string, nodes ...*labNode) {
	for _, n := range nodes {
		n.cli(30*time.Second, "init")
		n.startDaemon(args...)
	}
}

// publicDaemon starts a daemon, with neither mDNS nor a DHT, on a new host
// of lab with a public address, and returns it with that host.
func publicDaemon(t *testing.T, lab *netlab.Lab) (*labNode, netlab.Public) {
	t.Helper()
	p := lab.AddPublic()
	n := newLabNode(t, lab, p.NS)
	startDaemons(append([]string{"--api", "127.0.0.1:0", "--mdns=false", "--dht", "off"}, publicListen(p.IP)...), n)
	return n, p
}

// gardenTicket creates the space garden in n's home, puts tools/drill in
// it and returns a ticket that invites a writer.
func (n *labNode) gardenTicket() string {
	n.t.Helper()
	n.cli(30*time.Second, "space", "create", "garden")
	n.cli(30*time.Second, "put", "garden", "tools/drill", "cordless")
	return strings.TrimSpace(n.cli(30*time.Second, "invite", "garden"))
}

// join runs 'loam join ticket' in n's home for up to d; when it fails, it
// dumps the doctor of n and of others and fails the test, saying what.
func (n *labNode) join(d time.Duration, ticket, what string, others ...*labNode) {
	n.t.Helper()
	if _, err := n.run(d, "join", ticket); err != nil {
		for _, o := range others {
			o.dumpDoctor()
		}
		n.dumpDoctor()
		n.t.Fatalf("%s: %v", what, err)
	}
}

// mustHave fails the test, after a doctor dump, unless key of space garden
// reads v in n's home within d.
func (n *labNode) mustHave(d time.Duration, key, v string) {
	n.t.Helper()
	if !n.hasValue(d, key, v) {
		n.dumpDoctor()
		n.t.Fatalf("%s did not sync %s within %v", n.ns, key, d)
	}
}

func (n *labNode) waitFor(d time.Duration, what string, cond func() bool) {
	n.t.Helper()
	if !n.poll(d, cond) {
		n.dumpDoctor()
		n.t.Fatalf("%s: not %s within %v", n.ns, what, d)
	}
}

func (n *labNode) peerID() string {
	n.t.Helper()
	return n.status().Peer
}

func (n *labNode) status() api.Status {
	n.t.Helper()
	var st api.Status
	if err := n.jsonCLI(&st, "status", "--json"); err != nil {
		n.t.Fatal(err)
	}
	return st
}

// start starts a long-running loam command in the namespace, its output
// in process.log in its home, and stops it with SIGTERM when the test
// ends.
func (n *labNode) start(args ...string) *exec.Cmd {
	n.t.Helper()
	log, err := os.Create(filepath.Join(n.dir, "process.log"))
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := n.lab.Command(context.Background(), n.ns, loamBin, args...)
	cmd.Env = env(n.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(done) }()
	n.proc, n.done = cmd, done
	n.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			return
		case <-time.After(20 * time.Second):
		}
		// SIGQUIT makes the Go runtime print every goroutine's stack to
		// process.log: what the process waits for.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		out, _ := os.ReadFile(filepath.Join(n.dir, "process.log"))
		n.t.Errorf("loam %s in %s did not stop within 20 s of SIGTERM; its output and goroutines:\n%s", args[0], n.ns, out)
	})
	return cmd
}

// startDaemon starts 'loam daemon' and waits for its daemon.json.
func (n *labNode) startDaemon(args ...string) {
	n.t.Helper()
	cmd := n.start(append([]string{"daemon"}, args...)...)
	n.waitFor(30*time.Second, "serving", func() bool {
		info, err := api.ReadDaemonInfo(n.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			n.t.Fatal(err)
		}
		return err == nil && info.PID == cmd.Process.Pid
	})
}

// startBootstrap starts 'loam bootstrap', waits for its daemon.json and
// returns the addresses it printed there.
func (n *labNode) startBootstrap(args ...string) []string {
	n.t.Helper()
	cmd := n.start(append([]string{"bootstrap"}, args...)...)
	var addrs []string
	n.waitFor(30*time.Second, "serving", func() bool {
		b, err := os.ReadFile(filepath.Join(n.dir, api.DaemonFile))
		var info api.DaemonInfo
		if err != nil || json.Unmarshal(b, &info) != nil || info.PID != cmd.Process.Pid {
			return false
		}
		for _, a := range info.Addrs {
			if strings.HasPrefix(a, "/ip4/"+netlab.InternetPrefix) {
				addrs = append(addrs, a)
			}
		}
		return true
	})
	if len(addrs) == 0 {
		n.t.Fatalf("the bootstrap node has no internet address")
	}
	return addrs
}
