package reconcile

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// installOf returns the Install of st's space sp at its heads with every
// commit kept: a floored store made from it holds the whole history, and
// only its floor row tells it apart from a full one.
func installOf(t *testing.T, ctx context.Context, st *store.Store, sp keys.SpaceID, name string) *store.Install {
	t.Helper()
	heads, err := st.Heads(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := st.View(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	in := &store.Install{Name: name, View: keys.Digest(vs.Hash), Visible: uint64(vs.Visible)}
	for _, h := range heads {
		in.Frontier = append(in.Frontier, commit.FrontierHead{Author: h.Author, Seq: h.Seq, ID: h.ID, Time: h.Time})
	}
	for sc, err := range st.AllCommits(ctx, sp) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		in.Kept = append(in.Kept, c)
	}
	for row, err := range st.Cells(ctx, sp) {
		if err != nil {
			t.Fatal(err)
		}
		in.Cells = append(in.Cells, row)
	}
	for g, err := range st.Gains(ctx, sp) {
		if err != nil {
			t.Fatal(err)
		}
		in.Gains = append(in.Gains, g)
	}
	return in
}

// TestFlooredServesOnlyPastItsFloor: a floored node sends a peer whose
// Have is below its floor no commits (docs/plans/checkpoints.md §6,
// "Serving others"): node 1 installs node 0's state as a floor and
// writes 5 commits; node 2, empty, syncs with both, and node 0 with node
// 1; all three converge, node 2 getting the history below the floor from
// node 0, and node 1 sent node 2 at most its 5 commits after the floor.
// (A peer's Have is sent once a session, so a floored node learns that a
// peer reached its floor through another replica only at its next
// session: until then the commits after the floor reach it through full
// replicas.)
func TestFlooredServesOnlyPastItsFloor(t *testing.T) {
	c := newCluster(t, 3)
	sp := c.sk.Space()
	r := rand.New(rand.NewPCG(1, 2))
	c.write(0, r, 10)
	n1 := c.nodes[1]
	if err := n1.Store.Forget(c.ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := n1.Store.InstallSnapshot(c.ctx, sp, installOf(t, c.ctx, c.nodes[0].Store, sp, "s")); err != nil {
		t.Fatal(err)
	}
	if fl, err := n1.Store.Floor(c.ctx, sp); err != nil || fl == nil {
		t.Fatalf("node 1 not floored: %v", err)
	}
	const after = 5
	c.write(1, r, after)

	c.link(1, 2, chaos{}, 1, false)
	c.link(0, 2, chaos{}, 2, false)
	c.link(0, 1, chaos{}, 3, false)
	c.waitFor(30*time.Second, "the three nodes to converge", func() bool { return c.converged() })

	n1.mu.Lock()
	var out uint64
	for s := range n1.sessions {
		if s.cfg.Peer == c.nodes[2].dev.Author() {
			out += s.Stats.CommitsOut.Load()
		}
	}
	n1.mu.Unlock()
	if out > after {
		t.Fatalf("the floored node sent %d commits, more than its %d after the floor", out, after)
	}
}
