package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// openWith opens a node with o, closed when the test ends.
func openWith(t *testing.T, o Options) *Node {
	t.Helper()
	n, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// openNode opens a node in home that listens on loopback.
func openNode(t *testing.T, home string) *Node {
	t.Helper()
	return openWith(t, Options{Home: home, Listen: loopback, NoSync: true})
}

// loopbackTCP returns the last /ip4/127.0.0.1/tcp/ address of addrs, or "".
func loopbackTCP(addrs []string) string {
	var lo string
	for _, a := range addrs {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			lo = a
		}
	}
	return lo
}

// privateSpace creates the private space name on n.
func privateSpace(t *testing.T, n *Node, name string) *space.Space {
	t.Helper()
	sp, err := n.NewSpace(ctxT(t), name, SpaceOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// invited creates the space name on n and returns its ID and a ticket that
// invites a writer for an hour.
func invited(t *testing.T, n *Node, name string) (keys.SpaceID, keys.Ticket) {
	t.Helper()
	sp := newSpace(t, n, name)
	tk := inviteFor(t, n, name, commit.RoleWrite, time.Hour)
	return sp.ID(), tk
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor waits for cond, re-checking every few milliseconds, until d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !testkit.Poll(d, 5*time.Millisecond, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

func viewHash(n *Node, id keys.SpaceID) string {
	v, err := n.st.View(context.Background(), id)
	if err != nil {
		return "err:" + err.Error()
	}
	hs, _ := n.st.Heads(context.Background(), id)
	return fmt.Sprint(v.Hash, hs)
}

func converged(nodes []*Node, id keys.SpaceID) bool {
	ref := viewHash(nodes[0], id)
	for _, n := range nodes[1:] {
		if viewHash(n, id) != ref {
			return false
		}
	}
	return true
}

// holdKeys reports whether every node holds every key ks in space id.
func holdKeys(nodes []*Node, id keys.SpaceID, ks ...string) bool {
	for _, n := range nodes {
		for _, k := range ks {
			if _, err := n.st.Get(context.Background(), id, []byte(k)); err != nil {
				return false
			}
		}
	}
	return true
}

func put(t *testing.T, n *Node, id keys.SpaceID, k, v string) {
	t.Helper()
	sp, err := n.openSpace(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Commit(context.Background(), []commit.Op{commit.Put([]byte(k), []byte(v))}); err != nil {
		t.Fatalf("%s: put %s: %v", n.dev.Author().Short(), k, err)
	}
}

// TestJoinByTicket: a second node joins with a ticket, both write, both see.
func TestJoinByTicket(t *testing.T) {
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	id, tk := invited(t, a, "garden")
	put(t, a, id, "tools/drill", "cordless")
	parsed, err := keys.ParseTicket(tk.String())
	if err != nil {
		t.Fatal(err)
	}
	joinWith(t, b, parsed)
	put(t, b, id, "tools/saw", "hand saw")
	waitFor(t, 10*time.Second, "both writes on both nodes", func() bool {
		return holdKeys([]*Node{a, b}, id, "tools/drill", "tools/saw") && converged([]*Node{a, b}, id)
	})
	peers := b.Peers()
	if len(peers) != 1 || !peers[0].Direct || len(peers[0].Spaces) != 1 || peers[0].BytesIn == 0 {
		t.Fatalf("b's peers: %+v", peers)
	}
}

// line builds n nodes joined in a line: node i joins through node i-1 only.
func line(t *testing.T, count int) ([]*Node, keys.SpaceID, []string) {
	ctx := ctxT(t)
	var nodes []*Node
	var homes []string
	for range count {
		h := t.TempDir()
		homes = append(homes, h)
		nodes = append(nodes, openNode(t, h))
	}
	sp := newSpace(t, nodes[0], "line")
	for i := 1; i < count; i++ {
		tk := inviteFor(t, nodes[0], "line", commit.RoleWrite, 0)
		tk.Addrs = nodes[i-1].Addrs() // reach the space through the previous node only
		if _, err := nodes[i].Join(ctx, tk); err != nil {
			t.Fatalf("node %d join: %v", i, err)
		}
	}
	return nodes, sp.ID(), homes
}

// TestFiveNodesInALine: random writes on all five converge through the line.
func TestFiveNodesInALine(t *testing.T) {
	nodes, id, _ := line(t, 5)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for j := range 30 {
				put(t, n, id, fmt.Sprintf("k/%02d", r.IntN(20)), fmt.Sprintf("node %d write %d", i, j))
			}
		}()
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "five nodes to converge", func() bool { return converged(nodes, id) })
	// The ends are not connected to each other: the writes went through the line.
	for _, p := range nodes[0].Peers() {
		if p.ID == nodes[4].Author() && p.Connected {
			t.Fatal("the ends of the line are connected directly")
		}
	}
}

// TestCatchUpAfterRestart: a node that was offline catches up on restart.
func TestCatchUpAfterRestart(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, homes := line(t, 2)
	a, b := nodes[0], nodes[1]
	put(t, a, id, "before", "1")
	waitFor(t, 10*time.Second, "first sync", func() bool { return converged(nodes, id) })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		put(t, a, id, fmt.Sprintf("while-away/%02d", i), "x")
	}
	b2 := openNode(t, homes[1])
	if _, err := b2.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the restarted node to catch up", func() bool { return converged([]*Node{a, b2}, id) })
	put(t, b2, id, "after", "2") // and it can still write
	waitFor(t, 10*time.Second, "the restarted node's write", func() bool { return converged([]*Node{a, b2}, id) })
}

// TestPartitionHeals: two halves write apart, then one connection joins them.
func TestPartitionHeals(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, homes := line(t, 4)
	// Partition: restart node 2 without its peer book (which would dial
	// node 1 again) so the line is cut between 1 and 2, and connect 2 and
	// 3 again on their own.
	nodes[2].Close()
	if err := os.Remove(filepath.Join(homes[2], peerBookFile)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n2 := openNode(t, homes[2])
	if _, err := n2.Connect(ctx, nodes[3].Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	left, right := []*Node{nodes[0], nodes[1]}, []*Node{n2, nodes[3]}
	t.Cleanup(func() {
		if t.Failed() {
			for i, n := range []*Node{nodes[0], nodes[1], n2, nodes[3]} {
				hs, _ := n.st.Heads(context.Background(), id)
				var b []string
				for _, h := range hs {
					b = append(b, fmt.Sprintf("%s:%d", h.Author.Short()[4:8], h.Seq))
				}
				var ps []string
				for _, p := range n.Peers() {
					ps = append(ps, fmt.Sprintf("%s connected=%v spaces=%d", p.ID.Short(), p.Connected, len(p.Spaces)))
				}
				t.Logf("node %d (%s): heads %v; peers %v; sessions %d", i, n.Author().Short(), b, ps, n.SyncStats().Sessions)
			}
		}
	})
	for i, n := range append(append([]*Node{}, left...), right...) {
		for j := range 15 {
			put(t, n, id, fmt.Sprintf("k/%d-%d", i, j%5), fmt.Sprintf("%d", j))
		}
	}
	waitFor(t, 20*time.Second, "each half to converge", func() bool { return converged(left, id) && converged(right, id) })
	if converged([]*Node{nodes[0], nodes[3]}, id) {
		t.Fatal("the halves agree while partitioned")
	}
	if _, err := n2.Connect(ctx, nodes[1].Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the healed network to converge", func() bool {
		return converged([]*Node{nodes[0], nodes[1], n2, nodes[3]}, id)
	})
}

// TestSpaceSyncState: status's sync state says in sync once both hold the
// same commits, and not while one lacks some.
func TestSpaceSyncState(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, homes := line(t, 2)
	inSync := func(n *Node) bool {
		p, in, err := n.SpaceSync(ctx, id)
		return err == nil && p == 1 && in == 1
	}
	put(t, nodes[0], id, "k", "v")
	waitFor(t, 10*time.Second, "both to report in sync", func() bool { return inSync(nodes[0]) && inSync(nodes[1]) })
	// Take node 1 away, write on node 0, and bring node 1 back: until it
	// has caught up, node 0 must not call it in sync.
	nodes[1].Close()
	for i := range 200 {
		put(t, nodes[0], id, fmt.Sprintf("while-away/%03d", i), "x")
	}
	if p, _, _ := nodes[0].SpaceSync(ctx, id); p != 0 {
		waitFor(t, 10*time.Second, "the session to end", func() bool { p, _, _ := nodes[0].SpaceSync(ctx, id); return p == 0 })
	}
	back := openNode(t, homes[1])
	if _, err := back.Connect(ctx, nodes[0].Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the returning node to catch up and report in sync", func() bool {
		return converged([]*Node{nodes[0], back}, id) && inSync(nodes[0]) && inSync(back)
	})
	hs, _ := back.st.Heads(ctx, id)
	var fewer []store.Head
	for _, h := range hs {
		if h.Seq > 1 {
			h.Seq--
		}
		fewer = append(fewer, h)
	}
	back.mu.Lock()
	for _, s := range back.sessions {
		if s.InSync(id, fewer) {
			t.Fatal("a session reports in sync against heads behind the peer's")
		}
	}
	back.mu.Unlock()
}

// TestSessionReopens: when the sync stream between two connected peers
// ends without misbehaviour, the dialling side opens a new one, and sync
// goes on.
func TestSessionReopens(t *testing.T) {
	nodes, id, _ := line(t, 2)
	waitFor(t, 10*time.Second, "the first sync", func() bool { return converged(nodes, id) })
	for _, n := range nodes { // end the sessions; the connection stays
		for _, p := range n.Peers() {
			if s := n.sessionFor(p.ID); s != nil {
				s.Close()
			}
		}
	}
	waitFor(t, 10*time.Second, "a new session", func() bool {
		return nodes[0].SyncStats().Sessions == 1 && nodes[1].SyncStats().Sessions == 1
	})
	put(t, nodes[1], id, "after", "reopen")
	waitFor(t, 10*time.Second, "the write to sync over the new session", func() bool { return converged(nodes, id) })
	if c := nodes[0].Counters(); c.Sessions < 2 {
		t.Fatalf("sessions run: %d, want a second one", c.Sessions)
	}
}
