package acl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// Self-grants through an invite that name the joiner's person (#12).

func personInvite(w *world, inv keys.DeviceKey, id identity.Key, r commit.Role) commit.Op {
	return commit.GrantOp(commit.InvitePersonGrant(w.sp(), id.ID(), r, inv))
}

// Ana's laptop joins through an invite as Ana, carrying its certificate in
// the same commit: the role is then Ana's, held by her phone too once its
// certificate is in the space, carried by the phone itself without any
// invite, and by a device certified later (in the causal past of its
// commit) that did not exist when the invite was used.
func TestInvitePersonJoin(t *testing.T) {
	w := newWorld(t)
	admin, inv, laptop, phone := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g}, commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: 1}))
	join := w.at(laptop, 3000, []*commit.Commit{gi}, certOp(t, ana, laptop), personInvite(w, inv, ana, commit.RoleWrite), put("chat/l"))
	p1 := w.at(phone, 4000, []*commit.Commit{join}, certOp(t, ana, phone), put("chat/p"))
	p2 := w.at(phone, 4100, nil, put("chat/p2"))
	// Before the join is in its past, the phone's certificate gives nothing.
	early := w.at(dev(5), 3500, []*commit.Commit{gi}, certOp(t, ana, dev(5)), put("chat/early"))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"the laptop's join as Ana", join, true},
		{"the phone's certificate and write, no invite", p1, true},
		{"the phone writes on", p2, true},
		{"a device of Ana's before the join", early, false},
	})
	if len(d.People) != 1 || d.People[0].Identity != ana.ID() || d.People[0].Invite != inv.Author() || d.People[0].Role != commit.RoleWrite || !d.People[0].Subject.IsZero() {
		t.Fatalf("person grants %+v", d.People)
	}
	if js := d.Joined[inv.Author()]; len(js) != 1 || js[0] != laptop.Author() {
		t.Fatalf("joined through the invite: %v (want the laptop, once)", js)
	}
	st := d.State(w.sp())
	for _, k := range []keys.DeviceKey{laptop, phone} {
		if r := st.Role(k.Author(), commit.HLC{Wall: 9000}); r != commit.RoleWrite {
			t.Errorf("%s holds %s, want write", k.Author().Short(), r)
		}
	}
	if r := st.PersonRole(ana.ID(), commit.HLC{Wall: 9000}); r != commit.RoleWrite {
		t.Errorf("Ana holds %s, want write", r)
	}
	if n := st.JoinsVia(inv.Author()); n != 1 {
		t.Errorf("JoinsVia = %d, want 1", n)
	}
}

// A device certified earlier (its certificate in the join's causal past)
// joins as its person without carrying the certificate again.
func TestInvitePersonJoinCertifiedBefore(t *testing.T) {
	w := newWorld(t)
	admin, inv, laptop := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), personGrant(ana, commit.RoleRead))
	gi := w.at(admin, 2000, []*commit.Commit{g}, grant(inv, commit.RoleWrite))
	c1 := w.at(laptop, 2500, []*commit.Commit{g}, certOp(t, ana, laptop))
	join := w.at(laptop, 3000, []*commit.Commit{gi}, personInvite(w, inv, ana, commit.RoleWrite), put("k"))
	d := evalShuffled(t, w)
	if !valid(d, c1) || !valid(d, join) {
		t.Fatalf("certificate %v, join %v (%v)", valid(d, c1), valid(d, join), reason(d, join))
	}
}

// What a person's self-grant through an invite may not do.
func TestInvitePersonJoinRefused(t *testing.T) {
	w := newWorld(t)
	admin, inv, seedInv := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g}, grant(inv, commit.RoleWrite), grant(seedInv, commit.RoleSeed))
	other := keys.SpaceKeyFromSeed([32]byte{9}).Space()
	signed := func(sp keys.SpaceID, id identity.Key, r commit.Role) commit.Grant {
		return commit.InvitePersonGrant(sp, id.ID(), r, inv)
	}
	relabel := func(x commit.Grant, f func(*commit.Grant)) commit.Op { f(&x); return commit.GrantOp(x) }
	deps := []*commit.Commit{gi}
	cases := []struct {
		name string
		c    *commit.Commit
		why  string
	}{
		{"no certificate of the author by the named identity", w.at(dev(10), 3000, deps,
			personInvite(w, inv, ana, commit.RoleWrite), put("k")), "has not certified this device"},
		{"certified by another identity", w.at(dev(11), 3000, deps,
			certOp(t, bob, dev(11)), personInvite(w, inv, ana, commit.RoleWrite), put("k")), "has not certified this device"},
		{"another device's certificate by that identity", w.at(dev(12), 3000, deps,
			certOp(t, ana, dev(13)), personInvite(w, inv, ana, commit.RoleWrite)), "is not one of that person's devices"},
		{"signed for another space", w.at(dev(14), 3000, deps,
			certOp(t, ana, dev(14)), commit.GrantOp(signed(other, ana, commit.RoleWrite))), "did not sign"},
		{"signed for another role", w.at(dev(15), 3000, deps,
			certOp(t, ana, dev(15)), relabel(signed(w.sp(), ana, commit.RoleRead), func(g *commit.Grant) { g.Role = commit.RoleWrite })), "did not sign"},
		{"signed for another identity", w.at(dev(16), 3000, deps,
			certOp(t, ana, dev(16)), relabel(signed(w.sp(), bob, commit.RoleWrite), func(g *commit.Grant) { g.Subject = keys.AuthorID(ana.ID()) })), "did not sign"},
		{"a device's delegation replayed as a person's", w.at(dev(17), 3000, deps,
			certOp(t, ana, dev(17)), relabel(commit.InviteGrant(w.sp(), keys.AuthorID(ana.ID()), commit.RoleWrite, inv), func(g *commit.Grant) { g.Person = true })), "did not sign"},
		{"a person's delegation replayed as a device's", w.at(dev(18), 3000, deps,
			relabel(commit.InvitePersonGrant(w.sp(), keys.IdentityID(dev(18).Author()), commit.RoleWrite, inv), func(g *commit.Grant) { g.Person = false })), "did not sign"},
		{"a role above the invite's", w.at(dev(19), 3000, deps,
			certOp(t, ana, dev(19)), personInvite(w, inv, ana, commit.RoleAdmin)), "does not hold role admin"},
		{"a seed invite", w.at(dev(20), 3000, deps,
			certOp(t, ana, dev(20)), commit.GrantOp(commit.InvitePersonGrant(w.sp(), ana.ID(), commit.RoleSeed, seedInv))), "seed invite is joined by a device"},
	}
	d := w.eval()
	st := acl.Evaluate(w.sp(), []*commit.Commit{g, gi}, nil).State(w.sp())
	for _, c := range cases {
		if valid(d, c.c) {
			t.Errorf("%s: counts", c.name)
			continue
		}
		_, err := st.Check(c.c, func(au keys.AuthorID, seq uint64) bool { return au == keys.AuthorID(w.sp()) || au == admin.Author() })
		if !errors.Is(err, acl.ErrDenied) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: Check = %v, want ErrDenied saying %q", c.name, err, c.why)
		}
	}
	if len(d.People) != 0 {
		t.Errorf("person grants took effect: %+v", d.People)
	}
}

// A person's join takes one use of the invite, as a device's: after a
// device joined through a one-time invite, a person's join through it is
// used up, and the reverse; the same device joining again takes none.
func TestInvitePersonJoinUses(t *testing.T) {
	w := newWorld(t)
	admin, inv, stranger, laptop, phone := dev(1), dev(2), dev(3), dev(4), dev(5)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g}, commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: 1}))
	devJoin := w.at(stranger, 3000, []*commit.Commit{gi}, invite(w, inv, stranger, commit.RoleWrite), put("s"))
	personJoin := w.at(laptop, 3100, []*commit.Commit{gi}, certOp(t, ana, laptop), personInvite(w, inv, ana, commit.RoleWrite), put("l"))
	// Ana's phone, certified after the refused join, holds nothing either.
	p := w.at(phone, 3200, []*commit.Commit{personJoin}, certOp(t, ana, phone), put("p"))
	d := evalShuffled(t, w)
	if !valid(d, devJoin) || valid(d, personJoin) || !errors.Is(reason(d, personJoin), acl.ErrUsedUp) {
		t.Fatalf("device join %v, person join %v (%v), want the person's used up", valid(d, devJoin), valid(d, personJoin), reason(d, personJoin))
	}
	if valid(d, p) || len(d.People) != 0 {
		t.Fatalf("phone %v, person grants %+v", valid(d, p), d.People)
	}

	// The reverse: the person first, then a device; and the laptop again.
	w2 := newWorld(t)
	g2 := w2.genesis(grant(admin, commit.RoleAdmin))
	gi2 := w2.at(admin, 2000, []*commit.Commit{g2}, commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: 1}))
	pj := w2.at(laptop, 3000, []*commit.Commit{gi2}, certOp(t, ana, laptop), personInvite(w2, inv, ana, commit.RoleWrite))
	again := w2.at(laptop, 3050, nil, personInvite(w2, inv, ana, commit.RoleRead))
	dj := w2.at(stranger, 3100, []*commit.Commit{gi2}, invite(w2, inv, stranger, commit.RoleWrite))
	d2 := evalShuffled(t, w2)
	if !valid(d2, pj) || !valid(d2, again) || valid(d2, dj) || !errors.Is(reason(d2, dj), acl.ErrUsedUp) {
		t.Fatalf("person join %v, again %v, device join %v (%v)", valid(d2, pj), valid(d2, again), valid(d2, dj), reason(d2, dj))
	}
}

// Revocations behave as for any join: an invite revoked after n joins
// admits no person beyond them, and a revoked person's devices do not
// count, the joiner's included, so the person's grant through the invite
// goes with them.
func TestInvitePersonJoinRevoked(t *testing.T) {
	w := newWorld(t)
	admin, inv, laptop, phone := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g}, grant(inv, commit.RoleWrite))
	rv := w.at(admin, 2500, []*commit.Commit{gi}, revoke(inv, 0))
	late := w.at(laptop, 3000, []*commit.Commit{gi}, certOp(t, ana, laptop), personInvite(w, inv, ana, commit.RoleWrite))
	d := evalShuffled(t, w)
	if !valid(d, rv) || valid(d, late) || !errors.Is(reason(d, late), acl.ErrUsedUp) {
		t.Fatalf("revocation %v, join %v (%v)", valid(d, rv), valid(d, late), reason(d, late))
	}

	w2 := newWorld(t)
	g2 := w2.genesis(grant(admin, commit.RoleAdmin))
	gi2 := w2.at(admin, 2000, []*commit.Commit{g2}, grant(inv, commit.RoleWrite))
	join := w2.at(laptop, 3000, []*commit.Commit{gi2}, certOp(t, ana, laptop), personInvite(w2, inv, ana, commit.RoleWrite))
	p1 := w2.at(phone, 3100, []*commit.Commit{join}, certOp(t, ana, phone), put("p"))
	out := w2.at(admin, 4000, []*commit.Commit{p1}, commit.RevokePersonOp(commit.RevokePerson{Identity: ana.ID()}))
	d2 := evalShuffled(t, w2)
	if !valid(d2, out) || valid(d2, join) || valid(d2, p1) || len(d2.People) != 0 {
		t.Fatalf("revocation %v, join %v, phone %v, person grants %+v", valid(d2, out), valid(d2, join), valid(d2, p1), d2.People)
	}
}
