package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestPropertyRedecideFromCut: random histories of grants, revocations at
// random points, invites and writes, delivered in the same random chunks
// to two stores, one deciding revocations from the cut when it can
// (redecide.go), the other always the whole space again. After every
// chunk both hold the same outcomes, view (hash, cells, superseded
// writes), invalid rows with their reasons, cuts and accepted
// revocations. Over the runs the fast path must have been taken.
func TestPropertyRedecideFromCut(t *testing.T) {
	var fast atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawRevokeHistory(rt)
		fast.Add(compareRedecide(rt, r, h))
	})
	if fast.Load() == 0 {
		t.Fatal("no revocation was decided from the cut: the property checked nothing")
	}
	t.Logf("%d revocations decided from the cut", fast.Load())
}

// drawRevokeHistory draws a history of revocations at random points
// (storetest.GenRevokes), and one time in four one of every kind of
// control op (storetest.GenACL: joins, people, app rules), where the fast
// path mostly falls back.
func drawRevokeHistory(rt *rapid.T) (*storetest.History, *rand.Rand) {
	if rapid.IntRange(0, 3).Draw(rt, "acl") == 0 {
		return drawACLHistory(rt)
	}
	r, g := drawGen(rt, storetest.Gen{Authors: 2, Ops: 40, Keys: 3, MaxBatch: 1}, storetest.Gen{Authors: 5, Ops: 200, Keys: 12, MaxBatch: 3})
	return storetest.GenRevokes(r, g), r
}

// compareRedecide delivers h to a fast and a full store and compares them
// after every chunk; it returns how many re-decisions were made from the
// cut.
func compareRedecide(rt *rapid.T, r *rand.Rand, h *storetest.History) int64 {
	ctx := context.Background()
	sp := h.Space()
	fast, _ := propStore(rt, sp)
	full, _ := propStore(rt, sp)
	defer fast.Close()
	defer full.Close()
	store.SetFullRedecide(full, true)
	order := shuffledWithDuplicates(r, h.Commits)
	chunk := 1 + r.IntN(1+r.IntN(10)) // often one commit at a time: one revocation a batch
	var pending []*commit.Commit
	offer := func(batch []*commit.Commit) {
		rf, err := fast.Apply(ctx, sp, batch)
		if err != nil {
			rt.Fatalf("fast Apply: %v", err)
		}
		rs, err := full.Apply(ctx, sp, batch)
		if err != nil {
			rt.Fatalf("full Apply: %v", err)
		}
		pending = pending[:0:0]
		for i := range batch {
			of, os := rf.Outcomes[i], rs.Outcomes[i]
			if of.Status != os.Status || fmt.Sprint(of.Err) != fmt.Sprint(os.Err) {
				rt.Fatalf("%s: from the cut %v (%v), whole space %v (%v)", batch[i], of.Status, of.Err, os.Status, os.Err)
			}
			if of.Status == store.Pending {
				pending = append(pending, batch[i])
			}
		}
		if a, b := changeSet(rf.Changes), changeSet(rs.Changes); !slices.Equal(a, b) {
			rt.Fatalf("changes from the cut %v, whole space %v", a, b)
		}
		sameDecisions(rt, fast, full, sp)
	}
	for len(order) > 0 {
		n := min(chunk, len(order))
		offer(append(append([]*commit.Commit(nil), pending...), order[:n]...))
		order = order[n:]
	}
	for len(pending) > 0 {
		before := len(pending)
		offer(pending)
		if len(pending) == before {
			break
		}
	}
	return store.FromCut(fast)
}

// changeSet lists the last change of each key, sorted.
func changeSet(cs []store.Change) []string {
	last := map[string]string{}
	for _, c := range cs {
		last[string(c.Key)] = fmt.Sprintf("%q %v %d %q", c.Key, c.Entry.Version, c.Entry.Kind, c.Entry.Value)
	}
	out := make([]string, 0, len(last))
	for _, s := range last {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func sameDecisions(rt storetest.TB, fast, full *store.Store, sp keys.SpaceID) {
	rt.Helper()
	ctx := context.Background()
	vf, err := fast.View(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	vs, err := full.View(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	if vf.Hash != vs.Hash || vf.Visible != vs.Visible {
		rt.Fatalf("view from the cut %s (%d keys), whole space %s (%d keys)", vf.Hash, vf.Visible, vs.Hash, vs.Visible)
	}
	for name, tag := range store.DecisionTables {
		a, err := store.Rows(fast, tag, sp)
		if err != nil {
			rt.Fatal(err)
		}
		b, err := store.Rows(full, tag, sp)
		if err != nil {
			rt.Fatal(err)
		}
		for k, v := range b {
			if w, ok := a[k]; !ok || w != v {
				rt.Fatalf("%s row %x: from the cut %q (held %v), whole space %q", name, k, w, ok, v)
			}
		}
		for k, v := range a {
			if _, ok := b[k]; !ok {
				rt.Fatalf("%s row %x: from the cut %q, not held deciding the whole space", name, k, v)
			}
		}
	}
}
