package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// A person's join through a one-time invite, by a device certified before
// (so its commit carries no certificate), arrives before a device's join
// through the same invite that comes first in decision order: the store
// must decide the space again when the second join arrives, and void the
// person's, as acl.Evaluate does. (The applier counted only the joins of
// devices when it asked whether an invite's uses ran out.)
func TestPersonJoinThenDeviceJoinOneTimeInvite(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{21})
	sp := sk.Space()
	admin, inv, laptop, stranger := keys.DeviceKeyFromSeed([32]byte{22}), keys.DeviceKeyFromSeed([32]byte{23}), keys.DeviceKeyFromSeed([32]byte{24}), keys.DeviceKeyFromSeed([32]byte{25})
	ana := identity.KeyFromSeed([32]byte{26})
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
	ct, err := identity.NewCert(ana, laptop, "laptop", uint64(at.UnixMicro()))
	if err != nil {
		t.Fatal(err)
	}
	g := build(commit.Header{Seq: 1, Time: tm(0)}, sk,
		commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.PersonGrant(ana.ID(), commit.RoleRead)))
	gi := build(commit.Header{Seq: 1, Time: tm(10), Deps: []keys.CommitID{g.ID}}, admin,
		commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: 1}))
	l1 := build(commit.Header{Seq: 1, Time: tm(20), Deps: []keys.CommitID{g.ID}}, laptop, commit.CertOp(ct.Encode()))
	l2 := build(commit.Header{Seq: 2, Prev: l1.ID, Time: tm(40), Deps: []keys.CommitID{gi.ID}}, laptop,
		commit.GrantOp(commit.InvitePersonGrant(sp, ana.ID(), commit.RoleWrite, inv)), commit.Put([]byte("l"), []byte("1")))
	s1 := build(commit.Header{Seq: 1, Time: tm(30), Deps: []keys.CommitID{gi.ID}}, stranger,
		commit.GrantOp(commit.InviteGrant(sp, stranger.Author(), commit.RoleWrite, inv)), commit.Put([]byte("s"), []byte("1")))

	want := acl.Evaluate(sp, []*commit.Commit{g, gi, l1, l2, s1}, nil)
	if want.Valid(laptop.Author(), 2) || !want.Valid(stranger.Author(), 1) {
		t.Fatalf("model: the person's join counts %v, the device's %v", want.Valid(laptop.Author(), 2), want.Valid(stranger.Author(), 1))
	}

	st := storetest.TempSpace(t, g)
	for _, batch := range [][]*commit.Commit{{gi, l1, l2}, {s1}} {
		res, err := st.Apply(ctx, sp, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range res.Outcomes {
			if o.Status != store.Applied && o.Status != store.Revoked {
				t.Fatalf("%s: %s %v", batch[i], o.Status, o.Err)
			}
		}
	}
	voided, err := st.Voided(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := voided[acl.Loc{Author: laptop.Author(), Seq: 2}]; !ok || len(voided) != len(want.Invalid) {
		t.Fatalf("store voids %v, model %v", voided, want.Invalid)
	}
	if r, err := st.Role(ctx, sp, laptop.Author()); err != nil || r != commit.RoleRead {
		t.Fatalf("the laptop holds %s (%v), want read: its person's join did not count", r, err)
	}
}
