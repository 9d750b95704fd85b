package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestOffChainDepStandsForCommitBeforeFork: x forks at seq 2 (x2 on the
// main chain, x2' and x3' the other branch, held off it); w and v each
// name x3' and nothing else. Every branch of x continues from x1, so a
// dep on x3' stands for x1: w's grant in x1 allows w1, and v's grant,
// which only x2 on the main chain saw (its dep g1), does not allow v1: v1
// is not grounded, and refused. The store counted an off-chain dep as the
// main-chain commit at its place (x2), so it stored v1 and counted it;
// acl.Evaluate ignored the dep, so it voided w1, which the store counted
// (TestPropertyRosterFromRows seed 11091798080288032860).
func TestOffChainDepStandsForCommitBeforeFork(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{41})
	sp := sk.Space()
	x, g, w, v := keys.DeviceKeyFromSeed([32]byte{42}), keys.DeviceKeyFromSeed([32]byte{43}), keys.DeviceKeyFromSeed([32]byte{44}), keys.DeviceKeyFromSeed([32]byte{45})
	at := time.Now().Add(-time.Hour)
	tm := func(ms int) commit.HLC {
		return commit.HLC{Wall: uint64(at.Add(time.Duration(ms) * time.Millisecond).UnixMicro())}
	}
	build := func(h commit.Header, s commit.Signer, ops ...commit.Op) *commit.Commit {
		t.Helper()
		h.Space, h.Author = sp, s.Author()
		slices.SortFunc(h.Deps, func(a, b keys.CommitID) int { return slices.Compare(a[:], b[:]) })
		c, err := commit.Build(h, ops, s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	put := func(k string) commit.Op { return commit.Put([]byte(k), []byte("1")) }
	gen := build(commit.Header{Seq: 1, Time: tm(0)}, sk,
		commit.GrantOp(commit.Grant{Subject: x.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: g.Author(), Role: commit.RoleAdmin}))
	x1 := build(commit.Header{Seq: 1, Time: tm(10), Deps: []keys.CommitID{gen.ID}}, x, commit.GrantOp(commit.Grant{Subject: w.Author(), Role: commit.RoleWrite}))
	g1 := build(commit.Header{Seq: 1, Time: tm(20), Deps: []keys.CommitID{gen.ID}}, g, commit.GrantOp(commit.Grant{Subject: v.Author(), Role: commit.RoleWrite}))
	x2 := build(commit.Header{Seq: 2, Prev: x1.ID, Time: tm(30), Deps: []keys.CommitID{g1.ID}}, x, put("a"))
	x2b := build(commit.Header{Seq: 2, Prev: x1.ID, Time: tm(35)}, x, put("b"))
	x3b := build(commit.Header{Seq: 3, Prev: x2b.ID, Time: tm(40)}, x, put("c"))
	w1 := build(commit.Header{Seq: 1, Time: tm(50), Deps: []keys.CommitID{x3b.ID}}, w, put("w"))
	v1 := build(commit.Header{Seq: 1, Time: tm(60), Deps: []keys.CommitID{x3b.ID}}, v, put("v"))

	st := storetest.TempSpace(t, gen)
	var last store.Result
	for _, batch := range [][]*commit.Commit{{x1, g1, x2}, {x2b}, {x3b}, {w1, v1}} {
		res, err := st.Apply(ctx, sp, batch)
		if err != nil {
			t.Fatal(err)
		}
		last = res
	}
	if o := last.Outcomes[0]; o.Status != store.Applied {
		t.Errorf("w1: %s (%v); want applied: it saw x1, which grants it write", o.Status, o.Err)
	}
	if o := last.Outcomes[1]; o.Status != store.Rejected || !errors.Is(o.Err, store.ErrUnauthorized) {
		t.Errorf("v1: %s (%v); want rejected: it did not see g1 (only x2, off its past, did)", o.Status, o.Err)
	}
	if _, err := st.Get(ctx, sp, []byte("w")); err != nil {
		t.Errorf("w1's write: %v", err)
	}

	// The store counts what acl.EvaluateForked counts over what it holds.
	all := storetest.StoredCommits(t, st, sp)
	forks, err := st.Forks(ctx, sp)
	if err != nil || len(forks) != 1 {
		t.Fatalf("forks %v, %v", forks, err)
	}
	off, err := st.OffChain(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if len(off) != 2 || off[x2b.ID] != x.Author() || off[x3b.ID] != x.Author() {
		t.Fatalf("off-chain %v; want x2' and x3'", off)
	}
	d := acl.EvaluateForked(sp, all, map[keys.AuthorID]uint64{x.Author(): 2}, off)
	voided, err := st.Voided(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	for l, why := range d.Invalid {
		if _, ok := voided[l]; !ok && !errors.Is(why, acl.ErrForked) {
			t.Errorf("%s/%d counts in the store, not in the decision: %v", l.Author.Short(), l.Seq, why)
		}
	}
	for l := range voided {
		if d.Valid(l.Author, l.Seq) {
			t.Errorf("%s/%d is voided in the store, counts in the decision", l.Author.Short(), l.Seq)
		}
	}
}
