package space_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestRosterOffChainDep is the case of TestPropertyRosterFromRows seed
// 11091798080288032860, by hand: Ana's laptop x grants Ana write at seq
// 1, then forks at seq 2 (x2 on the main chain, x2' and x3' held off
// it); her phone's first commit carries its certificate and names only
// x3'. Every branch of x continues from x1, so the phone saw Ana's grant
// and its commit counts, in the store's decision, in Roster's reference
// (acl.EvaluateForked) and in VerifyLog. (Evaluate ignored the off-chain
// dep: the reference listed no phone, and VerifyLog found no grant for
// the phone's commit.)
func TestRosterOffChainDep(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{51})
	sp := sk.Space()
	x, phone := keys.DeviceKeyFromSeed([32]byte{52}), keys.DeviceKeyFromSeed([32]byte{53})
	ana := identity.KeyFromSeed([32]byte{54})
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
	ct, err := identity.NewCert(ana, phone, "phone", uint64(at.UnixMicro()))
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string) commit.Op { return commit.Put([]byte(k), []byte("1")) }
	gen := build(commit.Header{Seq: 1, Time: tm(0)}, sk, commit.GrantOp(commit.Grant{Subject: x.Author(), Role: commit.RoleAdmin}))
	x1 := build(commit.Header{Seq: 1, Time: tm(10), Deps: []keys.CommitID{gen.ID}}, x, commit.GrantOp(commit.PersonGrant(ana.ID(), commit.RoleWrite)))
	x2 := build(commit.Header{Seq: 2, Prev: x1.ID, Time: tm(20)}, x, put("a"))
	x2b := build(commit.Header{Seq: 2, Prev: x1.ID, Time: tm(25)}, x, put("b"))
	x3b := build(commit.Header{Seq: 3, Prev: x2b.ID, Time: tm(30)}, x, put("c"))
	p1 := build(commit.Header{Seq: 1, Time: tm(40), Deps: []keys.CommitID{x3b.ID}}, phone, commit.CertOp(ct.Encode()), put("p"))

	st := storetest.TempSpace(t, gen)
	for _, batch := range [][]*commit.Commit{{x1, x2}, {x2b}, {x3b}, {p1}} {
		if _, err := st.Apply(ctx, sp, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Get(ctx, sp, []byte("p")); err != nil {
		t.Fatalf("the phone's write: %v", err)
	}
	got, gotPeople, err := space.Roster(ctx, st, sp)
	if err != nil {
		t.Fatal(err)
	}
	want, wantPeople, err := space.RosterEvaluate(ctx, st, sp)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotPeople, wantPeople) {
		t.Fatalf("from the rows:\n%+v\n%+v\nevaluated:\n%+v\n%+v", got, gotPeople, want, wantPeople)
	}
	if len(gotPeople) != 1 || !slices.Contains(gotPeople[0].Devices, phone.Author()) {
		t.Fatalf("people %+v; want Ana with the phone", gotPeople)
	}
	if _, err := space.VerifyLog(ctx, st, sp); err != nil {
		t.Fatal(err)
	}
}
