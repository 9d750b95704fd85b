package acl_test

import (
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// CutsOf gives the cuts Evaluate takes for a commit that counts: a
// device revocation's, then each device of the person revoked (Devices
// of the grounded state, a certificate carried later included), at the
// seq named or 0.
func TestCutsOf(t *testing.T) {
	w := newWorld(t)
	admin, laptop, phone, tablet := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(laptop, commit.RoleWrite), grant(phone, commit.RoleWrite), grant(tablet, commit.RoleWrite))
	l1 := w.at(laptop, 2000, []*commit.Commit{g}, certOp(t, ana, laptop), put("chat/l1"))
	p1 := w.at(phone, 2050, []*commit.Commit{g}, put("chat/p1"))
	r := w.at(admin, 2100, []*commit.Commit{l1, p1}, devRevokeOp(t, ana, laptop, 1),
		commit.RevokePersonOp(commit.RevokePerson{Identity: ana.ID(), Cuts: []commit.Revoke{{Author: laptop.Author(), LastSeq: 1}, {Author: phone.Author(), LastSeq: 1}}}))
	// The phone's certificate arrives after the revocation: it is cut at 1.
	w.at(laptop, 2200, nil, certOp(t, ana, phone))
	d := evalShuffled(t, w)
	ground := acl.Grounded(w.sp(), w.all)
	if got := ground.Devices(ana.ID()); !slices.Equal(got, sorted(laptop.Author(), phone.Author())) {
		t.Fatalf("Devices(ana) = %v", got)
	}
	var got []commit.Revoke
	for _, c := range acl.CutsOf(r, ground.Devices) {
		got = append(got, c.Revoke)
	}
	var want []commit.Revoke
	for _, v := range d.Revocations {
		if v.By == r.Author && v.Seq == r.Seq {
			want = append(want, v.Revoke)
		}
	}
	if !slices.Equal(got, want) || len(got) != 3 {
		t.Fatalf("CutsOf = %v, Evaluate took %v", got, want)
	}
	if d.Cuts[phone.Author()] != 1 || d.Cuts[laptop.Author()] != 1 {
		t.Fatalf("cuts %v", d.Cuts)
	}
}

// InvitesFull: an invite key with as many joins as its grant's uses, or
// cut with a join through it.
func TestInvitesFull(t *testing.T) {
	inv, j1, j2 := dev(8).Author(), dev(9).Author(), dev(10).Author()
	st := acl.New(keys.SpaceID{1})
	st.Add(acl.Grant{Subject: inv, Seq: 1, Role: commit.RoleWrite, Uses: 2})
	st.Add(acl.Grant{Subject: j1, Granter: j1, Seq: 1, Role: commit.RoleWrite, Invite: inv})
	if st.InvitesFull(nil) {
		t.Error("one join of two: full")
	}
	if !st.InvitesFull(map[keys.AuthorID]uint64{inv: 1}) {
		t.Error("a cut invite with a join: not full")
	}
	st.Add(acl.Grant{Subject: j2, Granter: j2, Seq: 1, Role: commit.RoleWrite, Invite: inv})
	if !st.InvitesFull(nil) {
		t.Error("two joins of two: not full")
	}
}

func sorted(as ...keys.AuthorID) []keys.AuthorID {
	slices.SortFunc(as, func(a, b keys.AuthorID) int { return slices.Compare(a[:], b[:]) })
	return as
}
