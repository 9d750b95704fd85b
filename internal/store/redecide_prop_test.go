package store_test

import (
	"context"
	"fmt"
	"maps"
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
// random points (of members, devices and people, with certificates
// arriving before and after), invites and writes, delivered in the same
// random chunks to two stores, one deciding revocations from the cut when
// it can (redecide.go), the other always the whole space again. After
// every chunk both hold the same outcomes, view (hash, cells, superseded
// writes), invalid rows with their reasons, cuts and accepted
// revocations. Over the runs the fast path must have been taken, for
// person revocations and certificates too.
func TestPropertyRedecideFromCut(t *testing.T) {
	var fast, dev, person, cert, late atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawRevokeHistory(rt)
		n := compareRedecideKinds(rt, r, h, fromCutAndWhole)
		fast.Add(n.all)
		dev.Add(n.dev)
		person.Add(n.person)
		cert.Add(n.cert)
		late.Add(n.late)
	})
	msg := fmt.Sprintf("decided from the cut: %d batches, %d with a device revocation, %d with a person's revocation, %d with a certificate, %d cutting a device by a certificate alone (a late one)", fast.Load(), dev.Load(), person.Load(), cert.Load(), late.Load())
	// Device revocations and late certificates are rarer (about 3 and 1
	// in 100 runs): counted, not required.
	if fast.Load() == 0 || person.Load() == 0 || cert.Load() == 0 {
		t.Fatal(msg + ": the property checked too little")
	}
	t.Log(msg)
}

// drawRevokeHistory draws a history of revocations of members at random
// points (storetest.GenRevokes), or of devices and people, with
// certificates arriving at random points (storetest.GenPeopleRevokes),
// and one time in four one of every kind of control op
// (storetest.GenACL: joins, people, app rules), where the fast path
// mostly falls back.
func drawRevokeHistory(rt *rapid.T) (*storetest.History, *rand.Rand) {
	switch rapid.IntRange(0, 3).Draw(rt, "acl") {
	case 0:
		return drawACLHistory(rt)
	case 1:
		r, g := drawGen(rt, storetest.Gen{Authors: 3, Ops: 40, Keys: 3, MaxBatch: 1}, storetest.Gen{Authors: 7, Ops: 200, Keys: 12, MaxBatch: 3})
		return storetest.GenPeopleRevokes(r, g), r
	}
	r, g := drawGen(rt, storetest.Gen{Authors: 2, Ops: 40, Keys: 3, MaxBatch: 1}, storetest.Gen{Authors: 5, Ops: 200, Keys: 12, MaxBatch: 3})
	return storetest.GenRevokes(r, g), r
}

// compareRedecide delivers h to a fast and a full store and compares them
// after every chunk; it returns how many re-decisions were made from the
// cut.
func compareRedecide(rt *rapid.T, r *rand.Rand, h *storetest.History) int64 {
	return compareRedecideKinds(rt, r, h, fromCutAndWhole).all
}

// storePair names two ways of deciding and sets up a store for each: the
// one under test (a) and the reference (b); it returns what undoes them.
type storePair struct {
	a, b  string
	setup func(a, b *store.Store) (undo func())
}

// fromCutAndWhole compares a store deciding from the cut when it can with
// one always deciding the whole space.
var fromCutAndWhole = storePair{"from the cut", "whole space", func(_, b *store.Store) func() {
	store.SetFullRedecide(b, true)
	return func() {}
}}

// fromCut counts the batches decided from the cut: all of them, those
// holding a device revocation, a person's revocation, a certificate, and
// those that cut a device without a revocation (a late certificate).
type fromCut struct{ all, dev, person, cert, late int64 }

// compareRedecideKinds is compareRedecide between the stores of pair,
// counting the batches its first store decided from the cut by the kinds
// of op they hold.
func compareRedecideKinds(rt *rapid.T, r *rand.Rand, h *storetest.History, pair storePair) fromCut {
	ctx := context.Background()
	sp := h.Space()
	fast, _ := propStore(rt, sp)
	full, _ := propStore(rt, sp)
	defer fast.Close()
	defer full.Close()
	defer pair.setup(fast, full)()
	order := shuffledWithDuplicates(r, h.Commits)
	chunk := 1 + r.IntN(1+r.IntN(10)) // often one commit at a time: one revocation a batch
	var pending []*commit.Commit
	var n fromCut
	offer := func(batch []*commit.Commit) {
		was := store.FromCut(fast)
		cuts := cutRows(rt, fast, sp)
		rf, err := fast.Apply(ctx, sp, batch)
		if err != nil {
			rt.Fatalf("%s: Apply: %v", pair.a, err)
		}
		rs, err := full.Apply(ctx, sp, batch)
		if err != nil {
			rt.Fatalf("%s: Apply: %v", pair.b, err)
		}
		if store.FromCut(fast) > was {
			var stored []*commit.Commit // the batch's commits stored now
			for i, c := range batch {
				if rf.Outcomes[i].Status == store.Applied || rf.Outcomes[i].Status == store.Revoked {
					stored = append(stored, c)
				}
			}
			n.count(stored, !maps.Equal(cuts, cutRows(rt, fast, sp)))
		}
		pending = pending[:0:0]
		for i := range batch {
			of, os := rf.Outcomes[i], rs.Outcomes[i]
			if of.Status != os.Status || fmt.Sprint(of.Err) != fmt.Sprint(os.Err) {
				rt.Fatalf("%s: %s %v (%v), %s %v (%v)", batch[i], pair.a, of.Status, of.Err, pair.b, os.Status, os.Err)
			}
			if of.Status == store.Pending {
				pending = append(pending, batch[i])
			}
		}
		if a, b := changeSet(rf.Changes), changeSet(rs.Changes); !slices.Equal(a, b) {
			rt.Fatalf("changes: %s %v, %s %v", pair.a, a, pair.b, b)
		}
		sameDecisions(rt, pair, fast, full, sp)
	}
	for len(order) > 0 {
		k := min(chunk, len(order))
		offer(append(append([]*commit.Commit(nil), pending...), order[:k]...))
		order = order[k:]
	}
	for len(pending) > 0 {
		before := len(pending)
		offer(pending)
		if len(pending) == before {
			break
		}
	}
	n.all = store.FromCut(fast)
	return n
}

// cutRows returns the cut rows of sp in s.
func cutRows(rt *rapid.T, s *store.Store, sp keys.SpaceID) map[string]string {
	rows, err := store.Rows(s, store.DecisionTables["cut"], sp)
	if err != nil {
		rt.Fatal(err)
	}
	return rows
}

// count adds a batch decided from the cut by the kinds of op its commits
// stored hold; cut: the decision changed a cut.
func (n *fromCut) count(batch []*commit.Commit, cut bool) {
	has := func(k commit.Kind) bool {
		return slices.ContainsFunc(batch, func(c *commit.Commit) bool {
			return slices.ContainsFunc(c.Ops, func(o commit.Op) bool { return o.Kind == k })
		})
	}
	if has(commit.KindDevRevoke) {
		n.dev++
	}
	if has(commit.KindRevokePerson) {
		n.person++
	}
	if has(commit.KindCert) {
		n.cert++
	}
	if cut && !has(commit.KindRevoke) && !has(commit.KindDevRevoke) && !has(commit.KindRevokePerson) {
		n.late++
	}
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

func sameDecisions(rt storetest.TB, pair storePair, fast, full *store.Store, sp keys.SpaceID) {
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
		rt.Fatalf("view: %s %s (%d keys), %s %s (%d keys)", pair.a, vf.Hash, vf.Visible, pair.b, vs.Hash, vs.Visible)
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
				rt.Fatalf("%s row %x: %s %q (held %v), %s %q", name, k, pair.a, w, ok, pair.b, v)
			}
		}
		for k, v := range a {
			if _, ok := b[k]; !ok {
				rt.Fatalf("%s row %x: %s %q, not held by %s", name, k, pair.a, v, pair.b)
			}
		}
	}
}

// TestRedecideLateCertOfVoidedPersonRevocation replays a history
// (GenACL, found by TestPropertyRedecideFromCut) where a person's
// revocation held does not count in the end, though it counted when it
// was looked at: a certificate of one more device of that person arriving
// makes it cut that device there and count, and then it holds off a later
// revocation. Deciding from the cut used to leave the device uncut.
func TestRedecideLateCertOfVoidedPersonRevocation(t *testing.T) {
	done := false
	rapid.Check(t, func(rt *rapid.T) {
		if done {
			return // one history: replayed only to report a failure
		}
		const seed = 0x19eb55e
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		h := storetest.GenACL(r, storetest.Gen{Authors: 5, Ops: 148, Keys: 5, MaxBatch: 3})
		compareRedecide(rt, r, h)
		done = true
	})
}
