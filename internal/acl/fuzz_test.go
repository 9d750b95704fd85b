package acl_test

import (
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// FuzzEvaluate decides a commit whose ops (kinds and payloads, including
// control bodies) come from the fuzzer, made by an admin restricted to
// "p/" next to a concurrent revocation. Evaluate must not panic, must not
// depend on the order of its input, and a commit that counts may only
// grant inside its author's prefix.
func FuzzEvaluate(f *testing.F) {
	w := &world{t: &testing.T{}, sk: keys.SpaceKeyFromSeed([32]byte{1}), heads: map[keys.AuthorID]*commit.Commit{}}
	f.Add(uint8(commit.KindGrant), commit.GrantOp(commit.Grant{Subject: dev(5).Author(), Role: commit.RoleWrite, Prefix: []byte("p/x")}).Payload, []byte("p/k"), uint64(0))
	f.Add(uint8(commit.KindGrant), commit.GrantOp(commit.InviteGrant(w.sp(), dev(1).Author(), commit.RoleWrite, dev(6))).Payload, []byte(nil), uint64(1))
	f.Add(uint8(commit.KindRevoke), commit.RevokeOp(commit.Revoke{Author: dev(2).Author(), LastSeq: 0}).Payload, []byte(nil), uint64(5))
	f.Add(uint8(commit.KindPut), []byte("v"), []byte("q/k"), uint64(0))
	f.Add(uint8(commit.KindSchema), []byte{0xa1, 0x01, 0x61, 0x61}, []byte(nil), uint64(2))
	f.Add(uint8(commit.KindSchema), commit.SchemaOp(commit.Schema{App: "p", Version: 1, Body: []byte(`{"prefix":"p/","rules":[{"key":"p/{author}","write":"named","value":{"type":"string"}}]}`)}).Payload, []byte(nil), uint64(2))
	// People (#12): a person grant, the admin's own certificate, a device
	// revocation, a person's self-grant through an invite and a person's
	// revocation.
	f.Add(uint8(commit.KindGrant), commit.GrantOp(commit.Grant{Subject: keys.AuthorID(ana.ID()), Role: commit.RoleWrite, Prefix: []byte("p/"), Person: true}).Payload, []byte(nil), uint64(0))
	if ct, err := identity.NewCert(ana, dev(1), "admin", 1000); err == nil {
		f.Add(uint8(commit.KindCert), ct.Encode(), []byte(nil), uint64(1))
	}
	if r, err := identity.NewRevocation(ana, dev(2).Author(), 1000); err == nil {
		f.Add(uint8(commit.KindDevRevoke), commit.DevRevokeOp(commit.DevRevoke{Revocation: r.Encode(), LastSeq: 1}).Payload, []byte(nil), uint64(1))
	}
	f.Add(uint8(commit.KindGrant), commit.GrantOp(commit.InvitePersonGrant(w.sp(), ana.ID(), commit.RoleWrite, dev(6))).Payload, []byte(nil), uint64(1))
	f.Add(uint8(commit.KindRevokePerson), commit.RevokePersonOp(commit.RevokePerson{Identity: ana.ID(), Cuts: []commit.Revoke{{Author: dev(2).Author()}}}).Payload, []byte(nil), uint64(2))
	f.Fuzz(func(t *testing.T, kind uint8, payload, key []byte, cut uint64) {
		if kind == 0 || len(payload) > 4096 || len(key) > 64 {
			return
		}
		w := &world{t: t, sk: keys.SpaceKeyFromSeed([32]byte{1}), heads: map[keys.AuthorID]*commit.Commit{}}
		admin, other := dev(1), dev(2)
		g := w.genesis(
			commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin, Prefix: []byte("p/")}),
			commit.GrantOp(commit.Grant{Subject: other.Author(), Role: commit.RoleAdmin}),
			commit.GrantOp(commit.Grant{Subject: dev(6).Author(), Role: commit.RoleWrite, Uses: 1}))
		op := commit.Op{Kind: commit.Kind(kind), Payload: payload}
		if commit.Kind(kind).IsData() {
			op.Key = key
		}
		if err := commit.ValidateOps([]commit.Op{op}); err != nil {
			return
		}
		h := commit.Header{Space: w.sp(), Author: admin.Author(), Seq: 1, Time: commit.HLC{Wall: 2000}, Deps: []keys.CommitID{g.ID}}
		c, err := commit.Build(h, []commit.Op{op}, admin)
		if err != nil {
			return
		}
		w.all = append(w.all, c)
		w.at(other, 2000, []*commit.Commit{g}, revoke(admin, cut%3))
		d := acl.Evaluate(w.sp(), w.all, nil)
		rev := slices.Clone(w.all)
		slices.Reverse(rev)
		if !acl.Evaluate(w.sp(), rev, nil).Equal(d) {
			t.Fatal("Evaluate depends on the order of its input")
		}
		if !d.Valid(c.Author, c.Seq) {
			return
		}
		for _, gr := range append(slices.Clone(d.Grants), d.People...) {
			if gr.Granter == admin.Author() && gr.Invite.IsZero() && (len(gr.Prefix) < 2 || string(gr.Prefix[:2]) != "p/") {
				t.Fatalf("an admin of p/ granted %q", gr.Prefix)
			}
		}
	})
}
