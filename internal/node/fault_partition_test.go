package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/testkit"
)

// Environment variables of TestPartitions.
const (
	partitionSeedEnv  = "LOAM_PARTITION_SEED"  // the schedule's seed; random if unset
	partitionStepsEnv = "LOAM_PARTITION_STEPS" // steps (default partitionSteps, 60 with -short or -race)
	partitionNodesEnv = "LOAM_PARTITION_NODES" // nodes (default partitionNodes, 8 with -short or -race)
)

const (
	partitionNodes = 20
	partitionSteps = 300
	partitionKeys  = 24 // keys every writer writes to: they overlap
	partitionLinks = 3  // random links per node, besides the ring
	// partitionSettle bounds each wait for a component to converge, and
	// the final one.
	partitionSettle = 60 * time.Second
)

// TestPartitions is the fault suite's partition test (docs/reliability.md):
// 20 in-process nodes with real libp2p hosts on loopback hold one space,
// linked in a random graph (a ring and random chords). For a few hundred
// steps a nemesis cuts the network into random groups, isolates single
// nodes, restarts nodes (a clean close, then the same home opened again:
// a new host on a new port) or heals everything, while writers on every
// node put and delete
// overlapping keys; every write acknowledged to its caller is recorded
// with the version its commit gave it. A link is cut the way a misbehaving
// peer is kept out: both ends block each other in their connection gaters
// (p2p.Host.Block), which closes the connection and refuses new ones;
// healing lifts the blocks and redials the graph's links. From time to
// time the test waits for every connected component to converge. At the
// end it heals everything and waits until every node has the same view
// hash and heads, then checks every acknowledged write against all 20
// replicas (package ackcheck), that no node forked itself or counted a
// peer as misbehaving, and every node's log verifies.
//
// The schedule (cuts, writers, keys, settles) comes from a seed, printed
// at the start and on failure: LOAM_PARTITION_SEED=N replays it (timing
// aside). LOAM_PARTITION_STEPS and LOAM_PARTITION_NODES make longer or
// larger runs.
func TestPartitions(t *testing.T) {
	seed := uint64(testkit.EnvInt(t, partitionSeedEnv, int64(rand.Uint32()), 0, 1<<62))
	steps, count := partitionSteps, partitionNodes
	if testing.Short() || raceDetector {
		// -race makes libp2p's handshakes and the sync many times
		// slower: the race pass checks the same code on a smaller run.
		steps, count = 60, 8
	}
	steps = int(testkit.EnvInt(t, partitionStepsEnv, int64(steps), 1, 1e6))
	count = int(testkit.EnvInt(t, partitionNodesEnv, int64(count), 3, 200))
	t.Logf("seed %d, %d nodes, %d steps (replay: %s=%d)", seed, count, steps, partitionSeedEnv, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d: replay with %s=%d", seed, partitionSeedEnv, seed)
		}
	})
	r := rand.New(rand.NewPCG(seed, 0x10ad))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()

	nodes := make([]*Node, count)
	homes := make([]string, count)
	for i := range nodes {
		homes[i] = t.TempDir()
		nodes[i] = openNode(t, homes[i])
	}
	sp, err := nodes[0].CreateSpace(ctx, "faults")
	if err != nil {
		t.Fatal(err)
	}
	id := sp.ID()
	spaces := []*space.Space{sp}
	for i := 1; i < count; i++ {
		tk := inviteFor(t, nodes[0], "faults", commit.RoleWrite, 0)
		tk.Addrs = nodes[0].Addrs()
		s, err := nodes[i].Join(ctx, tk)
		if err != nil {
			t.Fatalf("node %d: join: %v", i, err)
		}
		spaces = append(spaces, s)
	}
	p := &partitioner{t: t, nodes: nodes, cut: map[[2]int]bool{}}
	p.links = randomGraph(r, count)
	for l := range p.links {
		p.connect(ctx, l)
	}
	t.Logf("%d nodes joined and linked (%d links) in %.1fs", count, len(p.links), time.Since(start).Seconds())

	check := ackcheck.New()
	groups := make([]int, count) // the group of each node; all 0: healed
	p.probe(ctx, id, spaces, check)
	var cuts, settles, restarts int
	var restarting time.Duration
	stepStart := time.Now()
	lap, settling := stepStart, time.Duration(0)
	for step := range steps {
		switch x := r.IntN(100); {
		case x < 15: // cut into 2 to 4 random groups
			k := 2 + r.IntN(3)
			for i := range groups {
				groups[i] = r.IntN(k)
			}
			cuts++
		case x < 22: // isolate one node
			clear(groups)
			groups[r.IntN(count)] = 1
			cuts++
		case x < 28: // heal everything
			clear(groups)
		case x < 31: // restart a node: close it, open its home again
			i := r.IntN(count)
			restartStart := time.Now()
			if err := nodes[i].Close(); err != nil {
				t.Fatalf("step %d: close node %d: %v", step, i, err)
			}
			nodes[i] = openNode(t, homes[i])
			if spaces[i], err = nodes[i].openSpace(ctx, id); err != nil {
				t.Fatalf("step %d: node %d after its restart: %v", step, i, err)
			}
			p.restarted(ctx, i, groups)
			restarts++
			restarting += time.Since(restartStart)
		}
		p.apply(ctx, groups)

		writes := planWrites(r, count, check)
		var wg sync.WaitGroup
		for node, ws := range writes {
			wg.Go(func() {
				for _, w := range ws {
					writeOne(ctx, spaces[node], w, check)
				}
			})
		}
		wg.Wait()

		if r.IntN(100) < 10 {
			settles++
			settleStart := time.Now()
			for _, comp := range p.components(groups) {
				members := make([]*Node, len(comp))
				for i, n := range comp {
					members[i] = nodes[n]
				}
				if !testkit.Poll(partitionSettle, 5*time.Millisecond, func() bool { return converged(members, id) }) {
					p.dump(id)
					t.Fatalf("step %d: nodes %v, connected to each other, did not converge within %v", step, comp, partitionSettle)
				}
			}
			settling += time.Since(settleStart)
		}
		if (step+1)%100 == 0 {
			t.Logf("step %d: %.1fs since the last report, %.1fs of it waiting for components to converge", step+1, time.Since(lap).Seconds(), settling.Seconds())
			lap, settling = time.Now(), 0
		}
	}
	t.Logf("%d steps in %.1fs: %d cuts, %d restarts (%.1fs), %d settles, %d acknowledged writes", steps, time.Since(stepStart).Seconds(), cuts, restarts, restarting.Seconds(), settles, check.Acknowledged())

	clear(groups)
	p.apply(ctx, groups)
	healed := time.Now()
	if !testkit.Poll(partitionSettle, 5*time.Millisecond, func() bool { return converged(nodes, id) }) {
		p.dump(id)
		t.Fatalf("the healed network did not converge within %v", partitionSettle)
	}
	t.Logf("converged %.2fs after the heal; the test took %.1fs", time.Since(healed).Seconds(), time.Since(start).Seconds())

	replicas := make([]ackcheck.Replica, count)
	for i, n := range nodes {
		replicas[i] = nodeReplica{name: fmt.Sprintf("node %d", i), n: n, id: id}
	}
	if err := check.Check(ctx, replicas...); err != nil {
		t.Error(err)
	}
	for i, n := range nodes {
		if forks, err := n.st.Forks(ctx, id); err != nil || len(forks) > 0 {
			t.Errorf("node %d: forks %v (%v): no honest device may fork", i, forks, err)
		}
		if m := n.Counters().Misbehaving; len(m) > 0 {
			t.Errorf("node %d counted honest peers as misbehaving: %v", i, m)
		}
		if _, err := space.VerifyLog(ctx, n.st, id); err != nil {
			t.Errorf("node %d: log verify: %v", i, err)
		}
	}
}

// plannedWrite is one write of the schedule.
type plannedWrite struct {
	key, value string
	del        bool
	writer     string
}

// planWrites draws this step's writes: one to four nodes each write one to
// three times, sequentially, to keys every node writes to.
func planWrites(r *rand.Rand, count int, check *ackcheck.Checker) map[int][]plannedWrite {
	out := map[int][]plannedWrite{}
	for range 1 + r.IntN(4) {
		node := r.IntN(count)
		for range 1 + r.IntN(3) {
			w := plannedWrite{key: fmt.Sprintf("k%02d", r.IntN(partitionKeys)), del: r.IntN(10) == 0, writer: fmt.Sprintf("node %d", node)}
			if !w.del {
				w.value = check.Unique(w.writer)
			}
			out[node] = append(out[node], w)
		}
	}
	return out
}

// writeOne makes w on sp and records it: acknowledged with its version,
// or in doubt if the write failed.
func writeOne(ctx context.Context, sp *space.Space, w plannedWrite, check *ackcheck.Checker) {
	op := commit.Put([]byte(w.key), []byte(w.value))
	if w.del {
		op = commit.Del([]byte(w.key))
	}
	rec := ackcheck.Write{Space: "faults", Key: w.key, Value: w.value, Deleted: w.del, Writer: w.writer}
	c, err := sp.Commit(ctx, []commit.Op{op})
	if err != nil {
		check.InDoubt(rec)
		return
	}
	if rec.Version, err = opVersion(c, []byte(w.key), []byte(w.value), w.del); err != nil {
		panic(err) // the commit the write path returned lacks the write
	}
	check.Acked(rec)
}

// randomGraph returns the links of a connected random graph on count
// nodes: a ring, and partitionLinks random chords from each node.
func randomGraph(r *rand.Rand, count int) map[[2]int]bool {
	links := map[[2]int]bool{}
	add := func(a, b int) {
		if a != b {
			links[[2]int{min(a, b), max(a, b)}] = true
		}
	}
	for i := range count {
		add(i, (i+1)%count)
		for range partitionLinks {
			add(i, r.IntN(count))
		}
	}
	return links
}

// partitioner cuts and heals links between nodes.
type partitioner struct {
	t     *testing.T
	nodes []*Node
	links map[[2]int]bool // the graph: pairs the test connects
	cut   map[[2]int]bool // pairs blocked now
}

// apply cuts every pair of nodes in different groups and heals every cut
// pair in the same group, redialling those that are links of the graph.
func (p *partitioner) apply(ctx context.Context, groups []int) {
	var redial [][2]int
	for i := range p.nodes {
		for j := i + 1; j < len(p.nodes); j++ {
			pair := [2]int{i, j}
			switch apart := groups[i] != groups[j]; {
			case apart && !p.cut[pair]:
				p.nodes[i].host.Block(p.nodes[j].Author(), time.Hour)
				p.nodes[j].host.Block(p.nodes[i].Author(), time.Hour)
				p.cut[pair] = true
			case !apart && p.cut[pair]:
				p.nodes[i].host.Block(p.nodes[j].Author(), 0)
				p.nodes[j].host.Block(p.nodes[i].Author(), 0)
				delete(p.cut, pair)
				if p.links[pair] {
					redial = append(redial, pair)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for _, l := range redial {
		wg.Go(func() { p.connect(ctx, l) })
	}
	wg.Wait()
}

// restarted brings node i, just reopened (a new host, on a new port, with
// no blocks), back into the network as groups has it: it blocks the nodes
// cut from it (they still block it), and dials its links to the others.
func (p *partitioner) restarted(ctx context.Context, i int, groups []int) {
	var wg sync.WaitGroup
	for j := range p.nodes {
		pair := [2]int{min(i, j), max(i, j)}
		switch {
		case i == j:
		case p.cut[pair]:
			p.nodes[i].host.Block(p.nodes[j].Author(), time.Hour)
		case p.links[pair] && groups[i] == groups[j]:
			wg.Go(func() { p.connect(ctx, pair) })
		}
	}
	wg.Wait()
}

// connect dials link l from its first node to its second, trying three
// times (a loaded machine can time out a handshake).
func (p *partitioner) connect(ctx context.Context, l [2]int) {
	var err error
	for range 3 {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, err = p.nodes[l[0]].Connect(cctx, p.nodes[l[1]].Addrs()[0])
		cancel()
		if err == nil {
			return
		}
	}
	p.t.Errorf("connect node %d to node %d: %v", l[0], l[1], err)
}

// components returns the connected components of the graph's links whose
// ends are in the same group: the sets of nodes that must converge.
func (p *partitioner) components(groups []int) [][]int {
	parent := make([]int, len(p.nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	for l := range p.links {
		if groups[l[0]] == groups[l[1]] {
			parent[find(l[0])] = find(l[1])
		}
	}
	byRoot := map[int][]int{}
	for i := range p.nodes {
		byRoot[find(i)] = append(byRoot[find(i)], i)
	}
	var out [][]int
	for _, c := range byRoot {
		if len(c) > 1 {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

// probe checks that a cut cuts: with node 0 isolated, a write on node 0
// and one on node 1 each stay on their side while the rest converge; once
// healed, both reach everyone.
func (p *partitioner) probe(ctx context.Context, id keys.SpaceID, spaces []*space.Space, check *ackcheck.Checker) {
	t := p.t
	groups := make([]int, len(p.nodes))
	groups[0] = 1
	p.apply(ctx, groups)
	inside := plannedWrite{key: "probe/isolated", writer: "node 0"}
	inside.value = check.Unique(inside.writer)
	outside := plannedWrite{key: "probe/rest", writer: "node 1"}
	outside.value = check.Unique(outside.writer)
	writeOne(ctx, spaces[0], inside, check)
	writeOne(ctx, spaces[1], outside, check)
	has := func(n *Node, w plannedWrite) bool {
		e, err := n.st.Get(ctx, id, []byte(w.key))
		return err == nil && string(e.Value) == w.value
	}
	rest := p.nodes[1:]
	if !testkit.Poll(partitionSettle, 5*time.Millisecond, func() bool { return converged(rest, id) && has(rest[len(rest)-1], outside) }) {
		p.dump(id)
		t.Fatalf("the nodes outside the cut did not converge within %v", partitionSettle)
	}
	if has(p.nodes[0], outside) || has(p.nodes[1], inside) {
		p.dump(id)
		t.Fatal("a write crossed the cut: cutting a link does not partition the nodes")
	}
	p.apply(ctx, make([]int, len(p.nodes)))
	if !testkit.Poll(partitionSettle, 5*time.Millisecond, func() bool { return converged(p.nodes, id) && has(p.nodes[0], outside) }) {
		p.dump(id)
		t.Fatalf("the probe's writes did not reach everyone within %v of the heal", partitionSettle)
	}
}

// dump logs every node's state.
func (p *partitioner) dump(id keys.SpaceID) {
	var b strings.Builder
	for i, n := range p.nodes {
		fmt.Fprintf(&b, "\n  node %d (%s): %s", i, n.Author().Short(), describe(n, id))
	}
	p.t.Logf("nodes:%s", b.String())
}
