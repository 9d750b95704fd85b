package storetest

import (
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// withheld returns which of author's stored commits sync would not send.
func (e *env) withheld(sp keys.SpaceID, author keys.AuthorID) map[uint64]bool {
	e.t.Helper()
	out := map[uint64]bool{}
	for sc, err := range e.st.Commits(e.ctx, sp, author, 1) {
		if err != nil {
			e.t.Fatal(err)
		}
		if sc.Withheld {
			out[sc.Seq] = true
		}
	}
	return out
}

// A revocation that arrives after the commits it cuts takes them out of
// the view; the revoked author's later commits are stored as Revoked (not
// rejected: their sender may not know yet) and withheld from sync; the
// author's commits up to the cut, and the grants among them, stay.
func testRevocationCut(t *testing.T, e *env) {
	f := newFixture(t, 2) // dev 0 admin, dev 1 writer
	sp := e.create(f)
	admin, x := f.writer(t, 0), f.writer(t, 1)
	g := []keys.CommitID{f.genesis.ID}
	y := &writer{t: t, sp: sp, key: keys.DeviceKeyFromSeed(seed(70)), clock: now() + 100}
	x1 := x.next(g, put("a", "x1"))
	e.mustApply(sp, x1)
	// x is made admin by the genesis? No: x is a writer; the admin makes
	// it admin so it can grant within the cut.
	up := admin.next([]keys.CommitID{x1.ID}, commit.GrantOp(commit.Grant{Subject: x.key.Author(), Role: commit.RoleAdmin}))
	e.mustApply(sp, up)
	x2 := x.next([]keys.CommitID{up.ID}, commit.GrantOp(commit.Grant{Subject: y.key.Author(), Role: commit.RoleWrite}))
	x3 := x.next(nil, put("b", "x3"), put("a", "x3"))
	y1 := y.next([]keys.CommitID{x2.ID}, put("y", "1"))
	e.mustApply(sp, x2, x3, y1)
	e.want(sp, "b", "x3", "before the revocation")
	// The admin has seen x up to x2 and cuts there.
	r := admin.next([]keys.CommitID{x2.ID}, commit.RevokeOp(commit.Revoke{Author: x.key.Author(), LastSeq: 2}))
	e.mustApply(sp, r)
	check := func() {
		t.Helper()
		e.want(sp, "b", "<none>", "gone with x3")
		e.want(sp, "a", "x1", "x1's value back")
		e.want(sp, "y", "1", "a grant below the cut must stay")
		if w := e.withheld(sp, x.key.Author()); !w[3] || w[1] || w[2] {
			t.Fatalf("withheld %v, want only seq 3", w)
		}
		hs, err := e.st.SyncHeads(e.ctx, sp)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Author == x.key.Author() && (h.Seq != 2 || h.ID != x2.ID || h.Time != x2.Time) {
				t.Fatalf("x's announced head %+v, want seq 2 %s", h, x2.ID.Short())
			}
		}
	}
	check()
	// Given again, a voided commit is a duplicate that says it does not count.
	if o := e.apply(sp, x3, x1); o[0].Status != store.Duplicate || !errors.Is(o[0].Err, store.ErrRevoked) || o[1].Status != store.Duplicate || o[1].Err != nil {
		t.Fatalf("x3 and x1 again: %v", o)
	}
	// x, not knowing, writes on: stored as Revoked, never Rejected.
	x4 := x.next(nil, put("c", "x4"))
	if o := e.apply(sp, x4); o[0].Status != store.Revoked || !errors.Is(o[0].Err, store.ErrRevoked) || !errors.Is(o[0].Err, acl.ErrRevoked) {
		t.Fatalf("x4 after the revocation: %v", o)
	}
	e.want(sp, "c", "<none>", "")
	e.reopen()
	check()
	if w := e.withheld(sp, x.key.Author()); !w[4] {
		t.Fatalf("withheld %v, want seq 4 too", w)
	}
	// A stranger is still rejected outright.
	z := &writer{t: t, sp: sp, key: keys.DeviceKeyFromSeed(seed(71)), clock: now() + 100}
	if o := e.apply(sp, z.next(g, put("z", "1"))); o[0].Status != store.Rejected || !errors.Is(o[0].Err, store.ErrUnauthorized) {
		t.Fatalf("stranger: %v", o)
	}
}

// Two admins revoke each other concurrently: whichever arrives first, the
// earlier revocation stands and the later one is void.
func testRevocationCycle(t *testing.T, e *env) {
	for _, earlyFirst := range []bool{true, false} {
		f := newFixture(t, 1)
		b := keys.DeviceKeyFromSeed(seed(80))
		sk := f.sk
		var err error
		f.genesis, err = commit.Build(commit.Header{Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: now()}},
			[]commit.Op{commit.GrantOp(commit.Grant{Subject: f.devs[0].Author(), Role: commit.RoleAdmin}), commit.GrantOp(commit.Grant{Subject: b.Author(), Role: commit.RoleAdmin})}, sk)
		if err != nil {
			t.Fatal(err)
		}
		name := "early"
		if !earlyFirst {
			name = "late"
		}
		if err := e.st.CreateSpace(e.ctx, name, f.genesis); err != nil {
			// The second round reuses the space key: a new space per round.
			t.Fatalf("CreateSpace: %v", err)
		}
		sp := sk.Space()
		wa := f.writer(t, 0)
		wb := &writer{t: t, sp: sp, key: b, clock: now() + 5}
		g := []keys.CommitID{f.genesis.ID}
		ra := wa.next(g, commit.RevokeOp(commit.Revoke{Author: b.Author(), LastSeq: 0})) // earlier clock
		rb := wb.next(g, commit.RevokeOp(commit.Revoke{Author: wa.key.Author(), LastSeq: 0}))
		first, second := ra, rb
		if !earlyFirst {
			first, second = rb, ra
		}
		e.mustApply(sp, first)
		o := e.apply(sp, second)
		wantSecond := store.Revoked
		if !earlyFirst {
			wantSecond = store.Applied // it is the earlier one: it voids the first
		}
		if o[0].Status != wantSecond {
			t.Fatalf("earlyFirst=%v: second revocation %v, want %s", earlyFirst, o, wantSecond)
		}
		if w := e.withheld(sp, b.Author()); !w[1] {
			t.Fatalf("earlyFirst=%v: b's revocation not withheld", earlyFirst)
		}
		if w := e.withheld(sp, wa.key.Author()); w[1] {
			t.Fatalf("earlyFirst=%v: a's revocation withheld", earlyFirst)
		}
		e.st.Close()
		e.st = e.open(e.t, t.TempDir())
	}
}

// A one-time invite used by two joiners admits the one first by (time,
// author, ID), whichever arrives first.
func testOneTimeInvite(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	admin := f.writer(t, 0)
	inv := keys.DeviceKeyFromSeed(seed(90))
	ci := admin.next([]keys.CommitID{f.genesis.ID}, commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: 1}))
	e.mustApply(sp, ci)
	join := func(b byte, at uint64) (*writer, *commit.Commit) {
		j := &writer{t: t, sp: sp, key: keys.DeviceKeyFromSeed(seed(b)), clock: at}
		return j, j.next([]keys.CommitID{ci.ID}, commit.GrantOp(commit.InviteGrant(sp, j.key.Author(), commit.RoleWrite, inv)), put(string([]byte{'j', b}), "hi"))
	}
	t0 := now() + 1000
	_, early := join(91, t0)
	lateW, late := join(92, t0+50)
	// The late joiner arrives first and is admitted, for now.
	e.mustApply(sp, late)
	lateNext := lateW.next(nil, put("late", "again"))
	e.mustApply(sp, lateNext)
	e.want(sp, "late", "again", "")
	if o := e.apply(sp, early); o[0].Status != store.Applied {
		t.Fatalf("early joiner: %v", o)
	}
	e.want(sp, "late", "<none>", "after the earlier joiner took the invite")
	e.reopen()
	if w := e.withheld(sp, lateW.key.Author()); !w[1] || !w[2] {
		t.Fatalf("late joiner's commits withheld %v", w)
	}
	if o := e.apply(sp, lateW.next(nil, put("late", "3"))); o[0].Status != store.Revoked || !errors.Is(o[0].Err, acl.ErrDenied) {
		t.Fatalf("late joiner writes on: %v", o)
	}
}

// Prefix and expiry are decided in the commit's causal past and at its
// time: a commit outside them was crafted and is rejected.
func testPrefixAndExpiry(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	admin := f.writer(t, 0)
	w := &writer{t: t, sp: sp, key: keys.DeviceKeyFromSeed(seed(95)), clock: now() + 100}
	exp := now() + 1000
	cg := admin.next([]keys.CommitID{f.genesis.ID}, commit.GrantOp(commit.Grant{Subject: w.key.Author(), Role: commit.RoleWrite, Prefix: []byte("chat/"), Expires: exp}))
	e.mustApply(sp, cg)
	ok := w.next([]keys.CommitID{cg.ID}, put("chat/hi", "1"))
	e.mustApply(sp, ok)
	if o := e.apply(sp, w.next(nil, put("tools/saw", "1"))); o[0].Status != store.Rejected || !errors.Is(o[0].Err, acl.ErrDenied) {
		t.Fatalf("write outside the prefix: %v", o)
	}
	w.seq, w.head = 1, ok.ID // the rejected commit was not stored: build seq 2 again
	w.clock = exp
	if o := e.apply(sp, w.next(nil, put("chat/late", "1"))); o[0].Status != store.Rejected {
		t.Fatalf("write at the expiry: %v", o)
	}
}
