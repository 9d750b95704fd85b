package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-msgio/pbio"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"

	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/netlab"
)

// The flood test runs three processes (this test binary again, told its
// role by floodRoleEnv) in a netlab: the bootstrap node on the emulated
// internet, the attacker in one home and the honest peers in another,
// so that each side has its own public address as the bootstrap node sees
// it. On loopback it would prove nothing: go-libp2p exempts 127.0.0.0/8
// from its per-address connection limits. The processes speak in lines
// "FLOOD <what> <JSON>" on stdout and stop when their stdin closes.
const (
	floodRoleEnv  = "LOAM_FLOOD_ROLE"  // boot, attacker or honest
	floodBootEnv  = "LOAM_FLOOD_BOOT"  // the bootstrap node's multiaddrs, space-separated
	floodPeersEnv = "LOAM_FLOOD_PEERS" // attacker identities; floodPeers if unset
	floodForEnv   = "LOAM_FLOOD_FOR"   // how long the honest peers measure, at least floodRounds rounds
	floodLine     = "FLOOD "
)

// floodPeers is how many peer identities the attacker uses by default.
const floodPeers = 300

// floodRounds is how many times the honest peers measure their
// operations, without the flood and then under it.
const floodRounds = 3

// floodFor is how long the honest peers keep measuring under the flood
// (at least floodRounds rounds): long enough for streams that never
// negotiate to pile up to their peak (they are held 10 s).
const floodFor = 20 * time.Second

// honestRoundEvery is the pace of the honest rounds under the flood.
const honestRoundEvery = 5 * time.Second

// honestDeadline bounds each honest operation.
const honestDeadline = 20 * time.Second

// TestBootstrapUnderFlood: a bootstrap node (Config.Infrastructure, as
// `loam bootstrap` runs it) flooded from one address by hundreds of peer
// identities opening many streams (DHT requests, relay reservations,
// identify, unknown protocols, streams that never negotiate) stays within
// its resource manager's limits and keeps serving honest peers from
// another address: they bootstrap, provide, find the provider and get a
// relay reservation, each within honestDeadline. It reports the peak
// usage against the limits and the honest latencies with and without the
// flood (docs/benchmarks.md). Needs root, ip and nft (netlab); skipped
// otherwise and with -short.
func TestBootstrapUnderFlood(t *testing.T) {
	switch os.Getenv(floodRoleEnv) {
	case "boot":
		floodBootRole(t)
		return
	case "attacker":
		floodAttackerRole(t)
		return
	case "honest":
		floodHonestRole(t)
		return
	}
	if testing.Short() {
		t.Skip("a 30-second flood in network namespaces; run without -short")
	}
	lab := netlab.New(t, 2)
	attackerHome, honestHome := lab.Homes[0], lab.Homes[1]

	boot := startFloodRole(t, lab, lab.Inet, "boot", nil)
	var bootAddrs []string
	boot.read(t, "addrs", &bootAddrs)
	env := []string{floodBootEnv + "=" + strings.Join(bootAddrs, " ")}

	runHonest := func(phase string, extra ...string) honestReport {
		h := startFloodRole(t, lab, honestHome.Host, "honest", append(extra, env...))
		var r honestReport
		h.read(t, "honest", &r)
		h.stop(t)
		for _, e := range r.Errors {
			t.Errorf("%s: honest peers: %s", phase, e)
		}
		return r
	}
	quiet := runHonest("without flood")

	attacker := startFloodRole(t, lab, attackerHome.Host, "attacker", env)
	var started attackerReport
	attacker.read(t, "flooding", &started)
	flooded := runHonest("under flood", floodForEnv+"="+floodFor.String())
	var ar attackerReport
	attacker.stopAndRead(t, "attacker", &ar)
	var br bootReport
	boot.stopAndRead(t, "boot", &br)

	for _, v := range br.Violations {
		t.Errorf("bootstrap node over its limits: %s", v)
	}
	if ar.Identities < 100 || ar.Requests() < 1000 {
		t.Errorf("the flood was too small to prove anything: %+v", ar)
	}
	if br.PeerStreamsInbound[0] < br.PeerStreamsInbound[1] {
		t.Errorf("no attacker identity reached its inbound stream limit (peak %d of %d): the flood was not at full strength", br.PeerStreamsInbound[0], br.PeerStreamsInbound[1])
	}
	if br.PeakConnsFrom[attackerHome.WAN] == 0 {
		t.Errorf("no connection from the attacker's address %s reached the bootstrap node: %+v", attackerHome.WAN, br.PeakConnsFrom)
	}
	t.Logf("attacker from %s: %d identities, %d connected at least once; per kind, as the attacker saw them, [no error, failed]: %v",
		attackerHome.WAN, ar.Identities, ar.Connected, ar.Kinds)
	t.Logf("bootstrap node peaks (usage/limit): %s", strings.Join(br.Peaks, "; "))
	t.Logf("bootstrap node: peak connections by address %v, %d peer IDs connected over the run, peak heap %d MiB, peak goroutines %d, provider records added %d",
		br.PeakConnsFrom, br.PeersSeen, br.PeakHeap>>20, br.PeakGoroutines, br.AddProviders)
	for _, op := range honestOps {
		t.Logf("honest %-9s without flood %s, under flood %s", op, quiet.summary(op), flooded.summary(op))
	}
}

// honestOps are the operations the honest peers time, in order.
var honestOps = []string{"bootstrap", "provide", "find", "reserve"}

// honestReport is what the honest process found: per operation, the
// duration of each round in milliseconds.
type honestReport struct {
	Millis map[string][]float64
	Errors []string
}

func (r honestReport) summary(op string) string {
	ms := slices.Clone(r.Millis[op])
	if len(ms) == 0 {
		return "-"
	}
	sort.Float64s(ms)
	return fmt.Sprintf("median %.0f ms, max %.0f ms (%d rounds)", ms[len(ms)/2], ms[len(ms)-1], len(ms))
}

// attackerReport counts the attacker's work.
type attackerReport struct {
	Identities int               // peer IDs used
	Connected  int               // of which connected at least once
	Kinds      map[string][2]int // per request kind: succeeded, failed
}

// Requests is how many requests the attacker made, connections aside.
func (r attackerReport) Requests() int {
	n := 0
	for k, c := range r.Kinds {
		if k != "connect" {
			n += c[0] + c[1]
		}
	}
	return n
}

// bootReport is what the bootstrap node measured on itself.
type bootReport struct {
	Peaks          []string       // "scope.resource usage/limit"
	Violations     []string       // peaks above their limit
	PeakConnsFrom  map[string]int // peak connections per remote IP
	PeersSeen      int            // distinct peer IDs connected at some point
	PeakHeap       uint64
	PeakGoroutines int
	AddProviders   int // ADD_PROVIDER requests received
	// PeerStreamsInbound is the peak of inbound streams of one peer, and
	// its limit.
	PeerStreamsInbound [2]int64
}

// floodProc is a running role process.
type floodProc struct {
	name  string
	stdin io.WriteCloser
	lines chan string // FLOOD lines, closed when stdout ends
	done  chan error  // the process's exit
	out   *strings.Builder
	mu    *sync.Mutex // guards out
}

// startFloodRole runs this test binary as role in namespace ns.
func startFloodRole(t *testing.T, lab *netlab.Lab, ns, role string, env []string) *floodProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := lab.Command(ctx, ns, os.Args[0], "-test.run=^TestBootstrapUnderFlood$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), floodRoleEnv+"="+role), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &floodProc{name: role, stdin: stdin, lines: make(chan string, 16), done: make(chan error, 1), out: &strings.Builder{}, mu: &sync.Mutex{}}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", role, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, floodLine); ok {
				p.lines <- rest
				continue
			}
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			cancel()
			<-p.done
		}
		cancel()
	})
	return p
}

// read waits for the line "what JSON" and decodes it into v.
func (p *floodProc) read(t *testing.T, what string, v any) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s process ended before saying %q:\n%s", p.name, what, p.output())
			}
			k, js, _ := strings.Cut(line, " ")
			if k != what {
				continue
			}
			if err := json.Unmarshal([]byte(js), v); err != nil {
				t.Fatalf("%s process: %s: %v", p.name, what, err)
			}
			return
		case <-timeout:
			t.Fatalf("%s process did not say %q within 3 minutes:\n%s", p.name, what, p.output())
		}
	}
}

// stop closes the process's stdin and waits for it to exit successfully.
func (p *floodProc) stop(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s process: %v:\n%s", p.name, err, p.output())
		}
		p.done <- err // for the cleanup
	case <-time.After(time.Minute):
		t.Fatalf("%s process did not exit within a minute of its stdin closing", p.name)
	}
}

// stopAndRead closes the process's stdin, reads its final line what and
// waits for it to exit.
func (p *floodProc) stopAndRead(t *testing.T, what string, v any) {
	t.Helper()
	p.stdin.Close()
	p.read(t, what, v)
	p.stop(t)
}

func (p *floodProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// say writes a FLOOD line for the parent.
func say(what string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s%s %s\n", floodLine, what, b)
}

// untilStdinCloses returns a context cancelled when stdin reaches its end.
func untilStdinCloses() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx, cancel
}

// floodBootRole is the bootstrap node: it samples its resource manager's
// usage until stdin closes, then reports the peaks.
func floodBootRole(t *testing.T) {
	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	var addProviders atomic.Int64
	h, err := New(context.Background(), Config{
		Key:            k,
		Listen:         []string{"/ip4/" + netlab.InternetPrefix + "1/tcp/4001", "/ip4/" + netlab.InternetPrefix + "1/udp/4001/quic-v1"},
		DHT:            DHTPrivate,
		Infrastructure: true,
		OnDHTRequest: func(q DHTRequest) {
			if q.Type == "ADD_PROVIDER" {
				addProviders.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var addrs []string
	for _, a := range h.Addrs() {
		if strings.HasPrefix(a, "/ip4/"+netlab.InternetPrefix) {
			addrs = append(addrs, a)
		}
	}
	ctx, cancel := untilStdinCloses()
	defer cancel()

	limits := infraLimitConfig().ToPartialLimitConfig()
	rm := h.h.Network().ResourceManager().(rcmgr.ResourceManagerState)
	peaks := map[string]int64{}
	limitOf := map[string]int64{}
	seen := map[peer.ID]bool{}
	connsFrom := map[string]int{}
	var heap uint64
	var goroutines int
	track := func(name string, use int64, l rcmgr.LimitVal) {
		peaks[name] = max(peaks[name], use)
		limitOf[name] = int64(l)
	}
	track64 := func(name string, use int64, l rcmgr.LimitVal64) {
		peaks[name] = max(peaks[name], use)
		limitOf[name] = int64(l)
	}
	scope := func(name string, s network.ScopeStat, l rcmgr.ResourceLimits) {
		track(name+".ConnsInbound", int64(s.NumConnsInbound), l.ConnsInbound)
		track(name+".Conns", int64(s.NumConnsInbound+s.NumConnsOutbound), l.Conns)
		track(name+".StreamsInbound", int64(s.NumStreamsInbound), l.StreamsInbound)
		track(name+".Streams", int64(s.NumStreamsInbound+s.NumStreamsOutbound), l.Streams)
		track(name+".FD", int64(s.NumFD), l.FD)
		track64(name+".Memory", s.Memory, l.Memory)
	}
	sample := func() {
		st := rm.Stat()
		scope("System", st.System, limits.System)
		scope("Transient", st.Transient, limits.Transient)
		for _, s := range st.Peers {
			scope("Peer(each)", s, limits.PeerDefault)
		}
		for p, s := range st.Protocols {
			l, ok := limits.Protocol[p]
			if !ok {
				l = limits.ProtocolDefault
			}
			scope("Protocol("+string(p)+")", s, l)
		}
		for svc, s := range st.Services {
			l, ok := limits.Service[svc]
			if !ok {
				l = limits.ServiceDefault
			}
			scope("Service("+svc+")", s, l)
		}
		from := map[string]int{}
		for _, c := range h.h.Network().Conns() {
			seen[c.RemotePeer()] = true
			if ip, err := remoteIP(c.RemoteMultiaddr()); err == nil {
				from[ip]++
			}
		}
		for ip, n := range from {
			connsFrom[ip] = max(connsFrom[ip], n)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = max(heap, ms.HeapInuse)
		goroutines = max(goroutines, runtime.NumGoroutine())
	}
	say("addrs", addrs)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		sample()
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	r := bootReport{PeakConnsFrom: connsFrom, PeersSeen: len(seen), PeakHeap: heap, PeakGoroutines: goroutines, AddProviders: int(addProviders.Load()),
		PeerStreamsInbound: [2]int64{peaks["Peer(each).StreamsInbound"], limitOf["Peer(each).StreamsInbound"]}}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range peaks {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if peaks[n] == 0 {
			continue
		}
		lim := limitOf[n]
		r.Peaks = append(r.Peaks, fmt.Sprintf("%s %d/%s", n, peaks[n], limitString(lim)))
		if lim >= 0 && lim != int64(rcmgr.Unlimited) && lim != int64(rcmgr.Unlimited64) && peaks[n] > lim {
			r.Violations = append(r.Violations, fmt.Sprintf("%s: %d > %d", n, peaks[n], lim))
		}
	}
	// go-libp2p's per-address limit (rcmgr's connection limiter, 8 at a
	// time per IPv4 address) is not a scope: check it here.
	for ip, n := range connsFrom {
		if n > perAddressConns {
			r.Violations = append(r.Violations, fmt.Sprintf("%d connections at once from %s", n, ip))
		}
	}
	say("boot", r)
	h.Close()
	waitAutoNATDialBacks(t)
}

// waitAutoNATDialBacks waits until go-libp2p's AutoNAT v1 service has no
// dial-back left running. After a failed dial-back it waits out its dial
// timeout (15 s) on a context of its own, even after the host closes; the
// package's leak check would report those goroutines.
func waitAutoNATDialBacks(t *testing.T) {
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 1<<22)
	for {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), "autonat.(*autoNATService).doDial") {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("AutoNAT dial-backs still running 30 s after the bootstrap node closed")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func limitString(l int64) string {
	switch {
	case l == int64(rcmgr.Unlimited) || l == int64(rcmgr.Unlimited64):
		return "unlimited"
	case l == int64(rcmgr.BlockAllLimit) || l == int64(rcmgr.BlockAllLimit64):
		return "0"
	}
	return strconv.FormatInt(l, 10)
}

// remoteIP returns the IP address of m's first component.
func remoteIP(m ma.Multiaddr) (string, error) {
	if len(m) == 0 || (m[0].Code() != ma.P_IP4 && m[0].Code() != ma.P_IP6) {
		return "", fmt.Errorf("%s: no IP address", m)
	}
	a, err := netip.ParseAddr(m[0].Value())
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// bootInfo parses floodBootEnv.
func bootInfo(t *testing.T) ([]string, peer.AddrInfo) {
	addrs := strings.Fields(os.Getenv(floodBootEnv))
	var ms []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(ms...)
	if err != nil || len(infos) != 1 {
		t.Fatalf("%s=%q: want the addresses of one peer (%v)", floodBootEnv, addrs, err)
	}
	return addrs, infos[0]
}

// floodHonestRole times, floodRounds times with fresh hosts, what honest
// peers need of a bootstrap node, and reports.
func floodHonestRole(t *testing.T) {
	bootAddrs, boot := bootInfo(t)
	var d time.Duration
	if s := os.Getenv(floodForEnv); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("%s=%q: %v", floodForEnv, s, err)
		}
	}
	// Each round connects two new hosts. go-libp2p admits new connections
	// from one address in a burst of 16, then one every 5 s (rcmgr's
	// connection rate limiter), so rounds that go on for d start 5 s
	// apart: the honest address stays within its own allowance, and only
	// the attacker's can run out.
	r := honestReport{Millis: map[string][]float64{}}
	end := time.Now().Add(d)
	for round := 1; ; round++ {
		start := time.Now()
		if err := honestRound(bootAddrs, boot, r.Millis); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("round %d: %v", round, err))
		}
		if round >= floodRounds && !time.Now().Before(end) {
			break
		}
		if d > 0 {
			time.Sleep(time.Until(start.Add(honestRoundEvery)))
		}
	}
	say("honest", r)
	ctx, cancel := untilStdinCloses()
	defer cancel()
	<-ctx.Done()
}

// honestRound starts two Loam hosts with the bootstrap node, and times:
// bootstrap (both connected to it, with it in their DHT routing table),
// provide (one announces a key), find (the other finds it as a provider)
// and reserve (a relay reservation).
func honestRound(bootAddrs []string, boot peer.AddrInfo, millis map[string][]float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*honestDeadline)
	defer cancel()
	start := time.Now()
	var hosts []*Host
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	for range 2 {
		k, err := keys.NewDeviceKey()
		if err != nil {
			return err
		}
		h, err := New(ctx, Config{Key: k, Listen: []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}, DHT: DHTPrivate, Bootstrap: bootAddrs})
		if err != nil {
			return err
		}
		hosts = append(hosts, h)
	}
	a, b := hosts[0], hosts[1]
	timed := func(op string, f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, honestDeadline)
		defer cancel()
		t0 := time.Now()
		if op == "bootstrap" {
			t0 = start
		}
		if err := f(ctx); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		millis[op] = append(millis[op], float64(time.Since(t0).Microseconds())/1000)
		return nil
	}
	poll := func(ctx context.Context, what string, cond func() bool) error {
		for !cond() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: not within %v", what, honestDeadline)
			case <-time.After(10 * time.Millisecond):
			}
		}
		return nil
	}
	var key [32]byte
	rand.Read(key[:])
	return errors.Join(
		timed("bootstrap", func(ctx context.Context) error {
			return poll(ctx, "both hosts connected to the bootstrap node, which is in their routing table", func() bool {
				return a.Reach().RoutingTable > 0 && b.Reach().RoutingTable > 0
			})
		}),
		timed("provide", func(ctx context.Context) error { return a.Provide(ctx, key[:]) }),
		timed("find", func(ctx context.Context) error {
			return poll(ctx, "b finds a as a provider", func() bool {
				found, err := b.FindProviders(ctx, key[:], 1)
				return err == nil && len(found) == 1 && found[0].ID == a.ID()
			})
		}),
		timed("reserve", func(ctx context.Context) error {
			_, err := client.Reserve(ctx, a.h, boot)
			return err
		}),
	)
}

// attackKinds are what the attacker counts: connections (most refused by
// go-libp2p's per-address limits), then the requests it makes, in turn.
var attackKinds = [...]string{"connect", "get_providers", "add_provider", "find_node", "reserve", "identify", "junk", "stall"}

// floodAttackerRole floods the bootstrap node from one address with many
// identities until stdin closes.
func floodAttackerRole(t *testing.T) {
	_, boot := bootInfo(t)
	n := floodPeers
	if s := os.Getenv(floodPeersEnv); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("%s=%q: %v", floodPeersEnv, s, err)
		}
	}
	ctx, cancel := untilStdinCloses()
	defer cancel()

	var counts [len(attackKinds)][2]atomic.Int64 // succeeded, failed
	var connected atomic.Int64
	var wg sync.WaitGroup
	var hosts []host.Host
	for i := range n {
		h, err := attackerHost()
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
		wg.Go(func() { attackWith(ctx, h, boot, i, &counts, &connected) })
	}
	// Say the flood is on once every identity has knocked at least once
	// (and been let in or refused).
	for ctx.Err() == nil && sum(&counts) < int64(n) {
		time.Sleep(50 * time.Millisecond)
	}
	report := func() attackerReport {
		r := attackerReport{Identities: n, Connected: int(connected.Load()), Kinds: map[string][2]int{}}
		for i, k := range attackKinds {
			r.Kinds[k] = [2]int{int(counts[i][0].Load()), int(counts[i][1].Load())}
		}
		return r
	}
	say("flooding", report())
	<-ctx.Done()
	wg.Wait()
	for _, h := range hosts {
		h.Close()
	}
	say("attacker", report())
}

func sum(counts *[len(attackKinds)][2]atomic.Int64) int64 {
	var n int64
	for i := range counts {
		n += counts[i][0].Load() + counts[i][1].Load()
	}
	return n
}

// attackerHost is one attacker identity: a plain libp2p host with no
// resource limits of its own and no listener.
func attackerHost() (host.Host, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	return libp2p.New(
		libp2p.Identity(priv),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
	)
}

// attackBurst is how many requests an attacker identity keeps in flight
// while it is connected.
const attackBurst = 256

// attackWith makes h connect to boot and keep attackBurst requests of
// every kind in flight, reconnecting whenever it is refused or cut off.
func attackWith(ctx context.Context, h host.Host, boot peer.AddrInfo, i int, counts *[len(attackKinds)][2]atomic.Int64, connected *atomic.Int64) {
	// Half the identities use TCP, half QUIC.
	info := peer.AddrInfo{ID: boot.ID}
	for _, a := range boot.Addrs {
		if strings.Contains(a.String(), "/quic-v1") == (i%2 == 1) {
			info.Addrs = append(info.Addrs, a)
		}
	}
	kad := protocol.ID(PrivateDHTPrefix + "/kad/1.0.0")
	var once sync.Once
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := h.Connect(cctx, info)
		cancel()
		if err != nil {
			counts[0][1].Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // knock again soon
			}
			continue
		}
		counts[0][0].Add(1)
		once.Do(func() { connected.Add(1) })
		var wg sync.WaitGroup
		for w := range attackBurst {
			wg.Go(func() {
				for k := 1 + (i+w)%(len(attackKinds)-1); ctx.Err() == nil && h.Network().Connectedness(boot.ID) == network.Connected; k = 1 + k%(len(attackKinds)-1) {
					if err := attackOnce(ctx, h, boot, kad, attackKinds[k]); err == nil {
						counts[k][0].Add(1)
					} else {
						counts[k][1].Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
}

// attackOnce makes one request of the given kind.
func attackOnce(ctx context.Context, h host.Host, boot peer.AddrInfo, kad protocol.ID, kind string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	randomKey := func() []byte {
		var b [32]byte
		rand.Read(b[:])
		m, _ := mh.Sum(b[:], mh.SHA2_256, -1)
		return m
	}
	dhtRequest := func(m *dhtpb.Message, reply bool) error {
		s, err := h.NewStream(ctx, boot.ID, kad)
		if err != nil {
			return err
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if err := pbio.NewDelimitedWriter(s).WriteMsg(m); err != nil {
			s.Reset()
			return err
		}
		if !reply {
			return nil
		}
		var resp dhtpb.Message
		if err := pbio.NewDelimitedReader(s, 1<<20).ReadMsg(&resp); err != nil {
			s.Reset()
			return err
		}
		return nil
	}
	switch kind {
	case "get_providers":
		return dhtRequest(dhtpb.NewMessage(dhtpb.Message_GET_PROVIDERS, randomKey(), 0), true)
	case "find_node":
		return dhtRequest(dhtpb.NewMessage(dhtpb.Message_FIND_NODE, randomKey(), 0), true)
	case "add_provider":
		m := dhtpb.NewMessage(dhtpb.Message_ADD_PROVIDER, randomKey(), 0)
		fake, _ := ma.NewMultiaddr("/ip4/" + netlab.InternetPrefix + "2/tcp/4001")
		m.ProviderPeers = dhtpb.RawPeerInfosToPBPeers([]peer.AddrInfo{{ID: h.ID(), Addrs: []ma.Multiaddr{fake}}})
		return dhtRequest(m, false)
	case "reserve":
		_, err := client.Reserve(ctx, h, boot)
		return err
	case "identify":
		s, err := h.NewStream(ctx, boot.ID, identify.ID)
		if err != nil {
			return err
		}
		s.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, s)
		s.Close()
		return err
	case "junk":
		s, err := h.NewStream(ctx, boot.ID, "/junk/1.0.0")
		if err == nil {
			s.Reset()
			return errors.New("junk protocol accepted")
		}
		return nil // refused, as it should be: the request was made
	case "stall":
		// A stream that never says which protocol it wants: the
		// bootstrap node holds it in its transient scope until the
		// negotiation times out.
		conns := h.Network().ConnsToPeer(boot.ID)
		if len(conns) == 0 {
			return errors.New("not connected")
		}
		s, err := conns[0].NewStream(ctx)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(11 * time.Second): // past go-libp2p's 10 s negotiation timeout
		}
		s.Reset()
		return nil
	}
	return fmt.Errorf("unknown kind %q", kind)
}
