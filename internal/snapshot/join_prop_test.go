package snapshot_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestPropertyCheckpointJoin: over random histories (several authors
// with deps, writes, deletes, erases, at times a live-only retention; no
// revocation after the checkpoint: step 3 of docs/plans/checkpoints.md),
// with a checkpoint at a random point F of a causal order: replica A gets
// every commit; replica B installs the snapshot at F, then gets the
// commits after F in a random order, a commit of S(F) that one of them
// names (its prev or a dep) given to it when it waits for it, as a full
// peer answers a Want. Both end with the same view, every cell (Get and
// Conflicts of each key), the same heads and sync heads; B is floored and
// says so for a skipped commit, never "corrupt".
func TestPropertyCheckpointJoin(t *testing.T) {
	var runs, filled, skipped, aclRuns, voided int
	defer func() {
		t.Logf("%d histories: %d with holes filled below the floor, %d skipping commits, %d with acl ops, %d with voided commits", runs, filled, skipped, aclRuns, voided)
		if !t.Failed() && (filled == 0 || skipped == 0 || voided == 0) {
			t.Error("the histories never skip a commit, fill a hole below the floor or void a commit")
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		ctx := context.Background()
		r, g := drawGen(rt)
		var h *storetest.History
		lowest := 1 // the lowest cut: every control op of the history before it
		if rapid.Bool().Draw(rt, "acl") {
			// Grants, revocations, invites and people, all before F:
			// a revocation after F is step 4's.
			h = storetest.GenACL(r, g)
			for i, c := range h.Commits {
				for _, o := range c.Ops {
					if !o.Kind.IsData() {
						lowest = i + 1
					}
				}
			}
			aclRuns++
		} else {
			h = dataHistory(rt, r, g)
		}
		sp := h.Space()
		cut := rapid.IntRange(lowest, len(h.Commits)).Draw(rt, "cut") // h.Commits is in causal order
		part := deliver(rt, r, sp, shuffled(r, h.Commits[:cut]))
		snap, err := snapshot.FromStore(ctx, part, sp)
		if err != nil {
			rt.Fatal(err)
		}
		if len(snap.Kept) < cut {
			skipped++
		}
		a := deliver(rt, r, sp, shuffled(r, h.Commits))
		b, dir := installed(rt, sp, snap)
		sameReplica(rt, "just installed", part, b, sp)
		if rapid.Bool().Draw(rt, "reopen") {
			b = reopen(rt, b, dir)
		}
		// Some commits of S(F), as a peer deepening B would send them:
		// stored below the floor (Filled) or held already, and nothing
		// else changes.
		var old []*commit.Commit
		for _, c := range h.Commits[:cut] {
			if r.IntN(3) == 0 {
				old = append(old, c)
			}
		}
		old = shuffled(r, old)
		res, err := b.Apply(ctx, sp, old)
		if err != nil {
			rt.Fatal(err)
		}
		fills := 0
		for i, o := range res.Outcomes {
			switch o.Status {
			case store.Filled:
				fills++
			case store.Duplicate:
			default:
				rt.Fatalf("%s of S(F) given again: %s: %v", old[i], o.Status, o.Err)
			}
		}
		sameReplica(rt, "given commits of S(F)", part, b, sp)

		if n := deliverFloored(rt, b, sp, shuffled(r, h.Commits[cut:]), h.Commits[:cut]); n+fills > 0 {
			filled++
		}
		sameReplica(rt, "after the commits after F", a, b, sp)
		if v, err := a.Voided(ctx, sp); err != nil {
			rt.Fatal(err)
		} else if len(v) > 0 {
			voided++
		}

		fl, err := b.Floor(ctx, sp)
		if err != nil || fl == nil || !reflect.DeepEqual(fl.Frontier, snap.Checkpoint.Frontier) || fl.NeedsHistory {
			rt.Fatalf("floor %+v, %v: want the checkpoint's frontier", fl, err)
		}
		// A commit skipped and never filled: "not found, below the
		// checkpoint", not corrupt.
		for _, c := range h.Commits[:cut] {
			if _, err := b.CommitByID(ctx, sp, c.ID); err != nil {
				if _, err2 := part.CommitByID(ctx, sp, c.ID); err2 != nil {
					rt.Fatalf("the full replica at F lacks %s: %v", c, err2)
				}
				if ok, _ := isIndexed(b, ctx, sp, c); ok {
					if !errorsIs(err, store.ErrNotFound) || !errorsIs(err, store.ErrBelowFloor) {
						rt.Fatalf("an F head not held: %v", err)
					}
				} else if !errorsIs(err, store.ErrNotFound) {
					rt.Fatalf("a skipped commit: %v", err)
				}
			}
		}
	})
}

// isIndexed reports whether c is one of the frontier's heads as b holds
// them (indexed, its row not held).
func isIndexed(b *store.Store, ctx context.Context, sp keys.SpaceID, c *commit.Commit) (bool, error) {
	hs, err := b.Heads(ctx, sp)
	for _, h := range hs {
		if h.ID == c.ID {
			return true, err
		}
	}
	return false, err
}

// dataHistory generates GenHistory's writes and deletes by the authors
// of g, then up to four erases and at times a live-only retention by the
// admin.
func dataHistory(rt *rapid.T, r *rand.Rand, g storetest.Gen) *storetest.History {
	h := storetest.GenHistory(r, g)
	h.AddErases(r, rapid.IntRange(0, 4).Draw(rt, "erases"))
	if rapid.Bool().Draw(rt, "retention") {
		appendByAdmin(h, must(commit.RetentionOp(commit.Retention{Mode: commit.LiveOnly})))
	}
	return h
}

// installed opens a new store and installs snap in it as space "s".
func installed(rt *rapid.T, sp keys.SpaceID, snap *snapshot.Snapshot) (*store.Store, string) {
	b, dir := openStore(rt)
	if err := snapshot.Install(context.Background(), b, sp, "s", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
		rt.Fatal(err)
	}
	return b, dir
}

func openStore(rt *rapid.T) (*store.Store, string) {
	dir, err := os.MkdirTemp("", "loam-snapshot")
	if err != nil {
		rt.Fatal(err)
	}
	rt.Cleanup(func() { os.RemoveAll(dir) })
	return openAt(rt, dir), dir
}

func openAt(rt *rapid.T, dir string) *store.Store {
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		rt.Fatal(err)
	}
	rt.Cleanup(func() { st.Close() })
	return st
}

// reopen closes st and opens its directory again.
func reopen(rt *rapid.T, st *store.Store, dir string) *store.Store {
	if err := st.Close(); err != nil {
		rt.Fatal(err)
	}
	return openAt(rt, dir)
}

// deliverFloored gives cs to b, a floored store, in chunks; whenever
// commits wait, the commits of S(F) (below) they name (prev and deps)
// are given with them, as a full peer answers Wants. It returns how many
// commits were filled below the floor.
func deliverFloored(rt *rapid.T, b *store.Store, sp keys.SpaceID, cs, below []*commit.Commit) int {
	ctx := context.Background()
	inF := map[keys.CommitID]*commit.Commit{}
	for _, c := range below {
		inF[c.ID] = c
	}
	sent := map[keys.CommitID]bool{}
	var pending []*commit.Commit
	filled := 0
	offer := func(batch []*commit.Commit) {
		res, err := b.Apply(ctx, sp, batch)
		if err != nil {
			rt.Fatalf("Apply: %v", err)
		}
		pending = pending[:0:0]
		for i, o := range res.Outcomes {
			c := batch[i]
			switch o.Status {
			case store.Pending:
				pending = append(pending, c)
			case store.Rejected, store.Forked, store.Dropped:
				rt.Fatalf("%s: %s: %v", c, o.Status, o.Err)
			case store.Filled:
				if inF[c.ID] == nil {
					rt.Fatalf("%s filled, not below the floor", c)
				}
				filled++
			case store.Applied:
				if inF[c.ID] != nil {
					rt.Fatalf("%s of S(F) applied on a floored store", c)
				}
			}
		}
	}
	wanted := func() []*commit.Commit {
		var out []*commit.Commit
		for _, c := range pending {
			for _, id := range append([]keys.CommitID{c.Prev}, c.Deps...) {
				if d := inF[id]; d != nil && !sent[id] {
					sent[id] = true
					out = append(out, d)
				}
			}
		}
		return out
	}
	for len(cs) > 0 {
		n := min(1+len(cs)/3, len(cs))
		offer(append(append(wanted(), pending...), cs[:n]...))
		cs = cs[n:]
	}
	for len(pending) > 0 {
		before := len(pending)
		w := wanted()
		offer(append(w, pending...))
		if len(pending) == before && len(w) == 0 {
			rt.Fatalf("%d commits never applied, first %s: %v", len(pending), pending[0], pending[0].Deps)
		}
	}
	return filled
}

// sameReplica fails rt unless b, floored, answers as a: view, every
// cell, Get and Conflicts of each key, heads and sync heads.
func sameReplica(rt *rapid.T, what string, a, b *store.Store, sp keys.SpaceID) {
	ctx := context.Background()
	va, err := a.View(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	vb, err := b.View(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	if va.Hash != vb.Hash || va.Visible != vb.Visible || va.MaxTime != vb.MaxTime {
		rt.Fatalf("%s: view %s (%d keys, %v), the full replica's %s (%d, %v)", what, vb.Hash, vb.Visible, vb.MaxTime, va.Hash, va.Visible, va.MaxTime)
	}
	var ca, cb []store.CellRow
	for row, err := range a.Cells(ctx, sp) {
		if err != nil {
			rt.Fatal(err)
		}
		ca = append(ca, row)
	}
	for row, err := range b.Cells(ctx, sp) {
		if err != nil {
			rt.Fatal(err)
		}
		cb = append(cb, row)
	}
	if len(ca) != len(cb) {
		rt.Fatalf("%s: %d cells, the full replica %d", what, len(cb), len(ca))
	}
	for i := range ca {
		if !reflect.DeepEqual(ca[i], cb[i]) {
			rt.Fatalf("%s: cell %q is %+v, the full replica's %q %+v", what, cb[i].Key, cb[i].Cell, ca[i].Key, ca[i].Cell)
		}
		key := ca[i].Key
		ga, err1 := a.Get(ctx, sp, key)
		gb, err2 := b.Get(ctx, sp, key)
		if !reflect.DeepEqual(ga, gb) || (err1 == nil) != (err2 == nil) {
			rt.Fatalf("%s: Get %q: %+v %v, the full replica %+v %v", what, key, gb, err2, ga, err1)
		}
		xa, err1 := a.Conflicts(ctx, sp, key)
		xb, err2 := b.Conflicts(ctx, sp, key)
		if !storetest.EqualEntries(xa, xb) || (err1 == nil) != (err2 == nil) {
			rt.Fatalf("%s: Conflicts %q: %+v %v, the full replica %+v %v", what, key, xb, err2, xa, err1)
		}
	}
	for _, f := range []func(*store.Store) ([]store.Head, error){
		func(s *store.Store) ([]store.Head, error) { return s.Heads(ctx, sp) },
		func(s *store.Store) ([]store.Head, error) { return s.SyncHeads(ctx, sp) },
	} {
		ha, err := f(a)
		if err != nil {
			rt.Fatal(err)
		}
		hb, err := f(b)
		if err != nil {
			rt.Fatalf("%s: floored heads: %v", what, err)
		}
		if !reflect.DeepEqual(ha, hb) {
			rt.Fatalf("%s: heads %+v, the full replica's %+v", what, hb, ha)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
