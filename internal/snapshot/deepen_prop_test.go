package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestPropertyDeepenEqualsFull: over random histories (with grants,
// revocations, invites and people at any point, so a revocation may come
// after the checkpoint and mark the floored store NeedsHistory; or
// writes, erases and at times a live-only retention), replica
// A gets every commit; replica B installs the snapshot at a random F of a
// causal order, gets the commits after F, then the commits of S(F) as A
// holds them in a random order in chunks (as a full peer deepening it
// sends them; at
// times reopened in between), and Unfloor: while a commit is missing it
// reports how many and keeps the floor; once all are held it ends the
// floor, and B answers as A does (view, every cell, heads, sync heads)
// and voids the same commits.
func TestPropertyDeepenEqualsFull(t *testing.T) {
	var runs, needed, diverged int
	defer func() {
		t.Logf("%d histories, %d needing history before the deepening, %d skipped: the full replica is not Evaluate's", runs, needed, diverged)
		if !t.Failed() && needed == 0 {
			t.Error("no history needed the history below its floor")
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		ctx := context.Background()
		seed := rapid.Uint64().Draw(rt, "seed")
		rt.Logf("histories start at %d µs (LOAM_TEST_EPOCH=%[1]d replays them with the seed)", storetest.Epoch())
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		g := storetest.Gen{
			Authors:  rapid.IntRange(2, 5).Draw(rt, "authors"),
			Ops:      rapid.IntRange(20, 150).Draw(rt, "ops"),
			Keys:     rapid.IntRange(3, 30).Draw(rt, "keys"),
			MaxBatch: rapid.IntRange(1, 4).Draw(rt, "max batch"),
		}
		var h *storetest.History
		if rapid.Bool().Draw(rt, "acl") {
			h = storetest.GenACL(r, g)
		} else {
			h = dataHistory(rt, r, g)
		}
		sp := h.Space()
		cut := rapid.IntRange(1, len(h.Commits)).Draw(rt, "cut")
		part := deliver(rt, r, sp, shuffled(r, h.Commits[:cut]))
		snap, err := snapshot.FromStore(ctx, part, sp)
		if err != nil {
			rt.Skipf("no snapshot at this cut: %v", err) // a forked author, say
		}
		a := deliver(rt, r, sp, shuffled(r, h.Commits))
		b, dir := installed(rt, sp, snap)
		deliverFloored(rt, b, sp, shuffled(r, h.Commits[cut:]), h.Commits[:cut])
		fl, err := b.Floor(ctx, sp)
		if err != nil || fl == nil {
			rt.Fatalf("floor %+v, %v", fl, err)
		}
		if fl.NeedsHistory {
			needed++
		}

		// As a full peer sends them: as a holds them (erased payloads
		// dropped).
		held := map[keys.CommitID]*commit.Commit{}
		for sc, err := range a.AllCommits(ctx, sp) {
			if err != nil {
				rt.Fatal(err)
			}
			held[sc.ID] = must(commit.Decode(sc.Bytes))
		}
		var old []*commit.Commit
		for _, c := range h.Commits[:cut] {
			if hc := held[c.ID]; hc != nil {
				old = append(old, hc)
			} else {
				old = append(old, c) // off a's main chain: as sent for a fork
			}
		}
		old = shuffled(r, old)
		for len(old) > 0 {
			n := min(1+r.IntN(len(old)), len(old))
			if _, err := b.Apply(ctx, sp, old[:n]); err != nil {
				rt.Fatal(err)
			}
			old = old[n:]
			if rapid.Bool().Draw(rt, "reopen") {
				b = reopen(rt, b, dir)
			}
			missing, err := b.Unfloor(ctx, sp)
			if err != nil {
				rt.Fatal(err)
			}
			fl, err := b.Floor(ctx, sp)
			if err != nil {
				rt.Fatal(err)
			}
			if (missing == 0) != (fl == nil) {
				rt.Fatalf("%d commits missing, floor %+v", missing, fl)
			}
			if len(old) > 0 && fl == nil {
				// Every commit given so far was held already: only a
				// commit no kept one needs could be left.
				for _, c := range old {
					if _, err := b.CommitByID(ctx, sp, c.ID); err != nil {
						rt.Fatalf("floor ended with %s not held: %v", c, err)
					}
				}
			}
		}
		if fl, err := b.Floor(ctx, sp); err != nil || fl != nil {
			rt.Fatalf("floored after the whole history: %+v, %v", fl, err)
		}
		sameCommits(rt, a, b, sp)
		if !decidesAsEvaluate(rt, a, sp) {
			// The full replica's own decision is not acl.Evaluate's over
			// its commits (seen with write-once rules: a divergence of the
			// incremental decision, not of deepening, which decides with
			// Evaluate as every full rebuild does).
			diverged++
			rt.Skip("the full replica decides otherwise than acl.Evaluate over its own commits")
		}
		sameReplica(rt, "deepened", a, b, sp)
		b = reopen(rt, b, dir)
		sameReplica(rt, "deepened, reopened", a, b, sp)
		va, err := a.Voided(ctx, sp)
		if err != nil {
			rt.Fatal(err)
		}
		vb, err := b.Voided(ctx, sp)
		if err != nil {
			rt.Fatal(err)
		}
		if fmt.Sprint(va) != fmt.Sprint(vb) {
			rt.Fatalf("voided: deepened %v, the full replica %v", vb, va)
		}
		if _, err := b.Unfloor(ctx, sp); err != nil {
			rt.Fatalf("Unfloor of a full replica: %v", err)
		}
	})
}

// sameCommits fails rt unless a and b hold the same commit rows, bytes
// included (payloads erased at one are erased at the other).
func sameCommits(rt *rapid.T, a, b *store.Store, sp keys.SpaceID) {
	ctx := context.Background()
	rows := func(st *store.Store) map[keys.CommitID]string {
		m := map[keys.CommitID]string{}
		for sc, err := range st.AllCommits(ctx, sp) {
			if err != nil {
				rt.Fatal(err)
			}
			m[sc.ID] = string(sc.Bytes)
		}
		return m
	}
	ra, rb := rows(a), rows(b)
	if len(ra) != len(rb) {
		rt.Fatalf("the deepened replica holds %d commits, the full one %d", len(rb), len(ra))
	}
	for id, bs := range ra {
		if rb[id] != bs {
			rt.Fatalf("commit %s differs from the full replica's (%d bytes, %d there)", id.Short(), len(rb[id]), len(bs))
		}
	}
}

// decidesAsEvaluate reports whether st voids the commits acl.Evaluate
// voids over st's commits.
func decidesAsEvaluate(rt *rapid.T, st *store.Store, sp keys.SpaceID) bool {
	ctx := context.Background()
	var all []*commit.Commit
	for sc, err := range st.AllCommits(ctx, sp) {
		if err != nil {
			rt.Fatal(err)
		}
		all = append(all, must(commit.Decode(sc.Bytes)))
	}
	forks, err := st.Forks(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	forked := map[keys.AuthorID]uint64{}
	for _, f := range forks {
		if s, ok := forked[f.A.Author]; !ok || f.A.Seq < s {
			forked[f.A.Author] = f.A.Seq
		}
	}
	voided, err := st.Voided(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	n := 0
	for l, why := range acl.Evaluate(sp, all, forked).Invalid {
		if errors.Is(why, acl.ErrForked) {
			continue
		}
		if _, ok := voided[l]; !ok {
			return false
		}
		n++
	}
	return n == len(voided)
}
