package store_test

import (
	"context"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// voidedErase is a writer x's erase of its own write x/1 (commit x2) made
// while an admin, concurrently (not having seen x2), revoked x with
// LastSeq 1: the erase does not count.
type voidedErase struct {
	id          keys.SpaceID
	x           keys.AuthorID
	genesis     *commit.Commit
	x1, x2, rev *commit.Commit
}

func newVoidedErase(t *testing.T) voidedErase {
	sk := keys.SpaceKeyFromSeed([32]byte{41})
	x := keys.DeviceKeyFromSeed([32]byte{42})
	v := voidedErase{id: sk.Space(), x: x.Author()}
	admin, w := newAuthor(t, v.id, sk), newAuthor(t, v.id, x)
	v.genesis = admin.next(commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}), commit.GrantOp(commit.Grant{Subject: x.Author(), Role: commit.RoleWrite}))
	w.deps = []keys.CommitID{v.genesis.ID}
	v.x1 = w.next(commit.Put([]byte("x/1"), []byte("kept")))
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: x.Author(), Seq: 1, ID: v.x1.ID, Op: 0, Key: []byte("x/1")}}})
	if err != nil {
		t.Fatal(err)
	}
	v.x2 = w.next(er)
	admin.deps = []keys.CommitID{v.x1.ID}
	v.rev = admin.next(commit.RevokeOp(commit.Revoke{Author: x.Author(), LastSeq: 1}))
	return v
}

// open returns a fresh store holding the space, with each commit of order
// applied alone, in turn.
func (v voidedErase) open(t *testing.T, order ...*commit.Commit) *store.Store {
	t.Helper()
	ctx := context.Background()
	st := storetest.TempSpace(t, v.genesis)
	for _, c := range order {
		if _, err := st.Apply(ctx, v.id, []*commit.Commit{c}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// TestVoidedEraseOrder: a replica that applied the erase before the
// revocation arrived and one that received the revocation first end with
// the same view: the key visible, through its write's digest. The first no
// longer holds the value (it is lost there, not erased) and keeps no
// record that anyone erased it. Before this change the first had the key
// erased for good: views 0 keys against 1.
func TestVoidedEraseOrder(t *testing.T) {
	ctx := context.Background()
	v := newVoidedErase(t)
	erasedFirst := v.open(t, v.x1, v.x2, v.rev)
	revokedFirst := v.open(t, v.x1, v.rev, v.x2)
	va, err := erasedFirst.View(ctx, v.id)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := revokedFirst.View(ctx, v.id)
	if err != nil {
		t.Fatal(err)
	}
	if va.Hash != vb.Hash || va.Visible != vb.Visible || vb.Visible != 1 {
		t.Fatalf("erase applied then voided: view %s (%d keys); revocation first: view %s (%d keys), want equal with 1 key", va.Hash, va.Visible, vb.Hash, vb.Visible)
	}
	ea, err := erasedFirst.Get(ctx, v.id, []byte("x/1"))
	if err != nil {
		t.Fatal(err)
	}
	if !ea.Erased || !ea.Lost || !ea.Visible() || ea.Value != nil {
		t.Errorf("erased first: entry %+v, want its payload lost, not erased, and visible", ea)
	}
	eb, err := revokedFirst.Get(ctx, v.id, []byte("x/1"))
	if err != nil || eb.Erased || string(eb.Value) != "kept" {
		t.Errorf("revoked first: entry %+v, %v; want the value kept", eb, err)
	}
	for name, st := range map[string]*store.Store{"erased first": erasedFirst, "revoked first": revokedFirst} {
		if r, ok, err := st.Erasure(ctx, v.id, v.x, 1, 0); err != nil || ok {
			t.Errorf("%s: an erasure of x/1 is recorded (%+v, %v): the erase does not count", name, r, err)
		}
	}
}

// TestArrivedErasedThenErase: a write whose payload arrives erased (its
// sender applied an erase) is visible through its digest until the erase
// arrives; then it is erased, as on the sender, with the erasure recorded.
func TestArrivedErasedThenErase(t *testing.T) {
	ctx := context.Background()
	v := newVoidedErase(t)
	sender := v.open(t, v.x1, v.x2)
	b, err := sender.CommitByID(ctx, v.id, v.x1.ID)
	if err != nil {
		t.Fatal(err)
	}
	held, err := commit.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !held.Ops[0].Erased {
		t.Fatal("the sender still holds x/1's payload after the erase")
	}
	st := v.open(t, held)
	e, err := st.Get(ctx, v.id, []byte("x/1"))
	if err != nil {
		t.Fatal(err)
	}
	if !e.Lost || !e.Visible() {
		t.Errorf("before the erase: entry %+v, want lost and visible", e)
	}
	if _, err := st.Apply(ctx, v.id, []*commit.Commit{v.x2}); err != nil {
		t.Fatal(err)
	}
	vs, err := sender.View(ctx, v.id)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := st.View(ctx, v.id)
	if err != nil {
		t.Fatal(err)
	}
	if vs != vr || vr.Visible != 0 {
		t.Errorf("after the erase: view %s (%d keys), sender's %s (%d), want equal, no key", vr.Hash, vr.Visible, vs.Hash, vs.Visible)
	}
	e, err = st.Get(ctx, v.id, []byte("x/1"))
	if err != nil || !e.Erased || e.Lost || e.Visible() {
		t.Errorf("after the erase: entry %+v, %v; want erased", e, err)
	}
	if _, ok, err := st.Erasure(ctx, v.id, v.x, 1, 0); err != nil || !ok {
		t.Errorf("the erasure of x/1 is not recorded: %v", err)
	}
}

// TestLostPayloadRestored: a replica lists the commit of a lost write
// (LostCommits) and, given the full commit, puts the value back, keeping
// the view hash; a payload erased by an erase that counts is not put back.
func TestLostPayloadRestored(t *testing.T) {
	ctx := context.Background()
	v := newVoidedErase(t)
	st := v.open(t, v.x1, v.x2, v.rev)
	lost, err := st.LostCommits(ctx, v.id, 10)
	if err != nil || len(lost) != 1 || lost[0] != v.x1.ID {
		t.Fatalf("LostCommits = %v, %v; want [%s]", lost, err, v.x1.ID.Short())
	}
	before, err := st.View(ctx, v.id)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Apply(ctx, v.id, []*commit.Commit{v.x1})
	if err != nil || res.Outcomes[0].Status != store.Duplicate {
		t.Fatalf("the full copy: %+v, %v", res.Outcomes, err)
	}
	e, err := st.Get(ctx, v.id, []byte("x/1"))
	if err != nil || e.Erased || e.Lost || string(e.Value) != "kept" {
		t.Fatalf("after the full copy: %+v, %v; want the value back", e, err)
	}
	if after, err := st.View(ctx, v.id); err != nil || after != before {
		t.Errorf("view %+v, %v; want it unchanged, %+v", after, err, before)
	}
	if lost, err := st.LostCommits(ctx, v.id, 10); err != nil || len(lost) != 0 {
		t.Errorf("LostCommits after the restore = %v, %v; want none", lost, err)
	}
	b, err := st.CommitByID(ctx, v.id, v.x1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := commit.Decode(b); err != nil || held.Ops[0].Erased {
		t.Errorf("the stored commit: %v; want its payload back", err)
	}

	erased := v.open(t, v.x1, v.x2) // no revocation: the erase counts
	if _, err := erased.Apply(ctx, v.id, []*commit.Commit{v.x1}); err != nil {
		t.Fatal(err)
	}
	if e, err := erased.Get(ctx, v.id, []byte("x/1")); err != nil || !e.Erased || e.Lost || e.Value != nil {
		t.Errorf("an erase that counts, then the full copy: %+v, %v; want still erased", e, err)
	}
	if lost, err := erased.LostCommits(ctx, v.id, 10); err != nil || len(lost) != 0 {
		t.Errorf("LostCommits with the erase counting = %v, %v; want none", lost, err)
	}
}

// TestConcurrentErasesRecordTheFirst: a writer and an admin erase the same
// write concurrently. Every replica records the same erasure, the earlier
// by signed time, whatever order the erases arrived in (it recorded the
// last one applied, so `loam get` named different erasers).
func TestConcurrentErasesRecordTheFirst(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{51})
	ak, wk := keys.DeviceKeyFromSeed([32]byte{52}), keys.DeviceKeyFromSeed([32]byte{53})
	id := sk.Space()
	root, admin, w := newAuthor(t, id, sk), newAuthor(t, id, ak), newAuthor(t, id, wk)
	genesis := root.next(commit.GrantOp(commit.Grant{Subject: ak.Author(), Role: commit.RoleAdmin}), commit.GrantOp(commit.Grant{Subject: wk.Author(), Role: commit.RoleWrite}))
	w.deps = []keys.CommitID{genesis.ID}
	put := w.next(commit.Put([]byte("k"), []byte("v")))
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: wk.Author(), Seq: 1, ID: put.ID, Op: 0, Key: []byte("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	byWriter := w.next(er)
	admin.wall = w.wall + 1000 // later
	admin.deps = []keys.CommitID{put.ID}
	byAdmin := admin.next(er)
	var got []store.Erasure
	for _, order := range [][]*commit.Commit{{put, byWriter, byAdmin}, {put, byAdmin, byWriter}} {
		st := storetest.TempSpace(t, genesis)
		for _, c := range order {
			if _, err := st.Apply(ctx, id, []*commit.Commit{c}); err != nil {
				t.Fatal(err)
			}
		}
		r, ok, err := st.Erasure(ctx, id, wk.Author(), 1, 0)
		if err != nil || !ok {
			t.Fatalf("no erasure recorded: %v", err)
		}
		got = append(got, r)
	}
	if got[0] != got[1] || got[0].By != wk.Author() {
		t.Fatalf("erasures recorded: %+v and %+v, want both the writer's (the earlier)", got[0], got[1])
	}
}
