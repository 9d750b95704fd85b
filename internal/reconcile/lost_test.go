package reconcile

import (
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestLostPayloadFetched: node 2 applied writer 1's erase of its write
// before the admin's concurrent revocation of writer 1 arrived, so the
// write is back in its view without its value (lost); node 0 got the
// revocation first and kept the value. Once they sync, node 2 asks for
// the commit and holds the value again.
func TestLostPayloadFetched(t *testing.T) {
	c := newCluster(t, 3)
	sp := c.sk.Space()
	genesis := storetest.StoredCommits(t, c.nodes[0].Store, sp)[0]
	wall := uint64(time.Now().Add(-30 * time.Second).UnixMicro())
	build := func(dev keys.DeviceKey, seq uint64, prev keys.CommitID, deps []keys.CommitID, ops ...commit.Op) *commit.Commit {
		wall++
		x, err := commit.Build(commit.Header{Space: sp, Author: dev.Author(), Seq: seq, Prev: prev, Time: commit.HLC{Wall: wall}, Deps: deps}, ops, dev)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	admin, w := c.nodes[0].dev, c.nodes[1].dev
	x1 := build(w, 1, keys.CommitID{}, []keys.CommitID{genesis.ID}, commit.Put([]byte("x/1"), []byte("kept")))
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: w.Author(), Seq: 1, ID: x1.ID, Op: 0, Key: []byte("x/1")}}})
	if err != nil {
		t.Fatal(err)
	}
	x2 := build(w, 2, x1.ID, nil, er)
	rev := build(admin, 1, keys.CommitID{}, []keys.CommitID{x1.ID}, commit.RevokeOp(commit.Revoke{Author: w.Author(), LastSeq: 1}))
	apply := func(i int, cs ...*commit.Commit) {
		for _, x := range cs {
			if _, err := c.nodes[i].Store.Apply(c.ctx, sp, []*commit.Commit{x}); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply(0, x1, rev, x2)
	apply(2, genesis, x1, x2, rev)
	if e, err := c.nodes[2].Store.Get(c.ctx, sp, []byte("x/1")); err != nil || !e.Lost {
		t.Fatalf("node 2 before sync: %+v, %v; want x/1 lost", e, err)
	}
	c.link(0, 2, chaos{}, 1, false)
	c.waitFor(10*time.Second, "the value back on node 2", func() bool {
		e, err := c.nodes[2].Store.Get(c.ctx, sp, []byte("x/1"))
		return err == nil && !e.Erased && string(e.Value) == "kept"
	})
	v0, _ := c.nodes[0].Store.View(c.ctx, sp)
	v2, _ := c.nodes[2].Store.View(c.ctx, sp)
	if v0 != v2 {
		t.Errorf("views differ: %+v, %+v", v0, v2)
	}
	if lost, err := c.nodes[2].Store.LostCommits(c.ctx, sp, 10); err != nil || len(lost) != 0 {
		t.Errorf("node 2 still lists lost commits: %v, %v", lost, err)
	}
}
