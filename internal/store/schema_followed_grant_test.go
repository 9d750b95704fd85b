package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// TestSchemaFollowedGrantOutcome (#15): admin A grants member M admin of
// chat/pin/ and the space's admin cuts A below the grant. M's pin, which
// only an admin may write, relies on that grant: Revoked with an
// acl.SchemaError that is Followed (not acl.Broken: M may not have seen
// the cut). Forger F's pin, with A's grant to M but none to F in its
// causal past, is Broken: whether the store applies them after the cut,
// after a reopen (the grounded grants read back), or with the cut in the
// same request (the space decided again, by acl.Evaluate).
func TestSchemaFollowedGrantOutcome(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{61})
	sp := sk.Space()
	ka, km, kf := keys.DeviceKeyFromSeed([32]byte{62}), keys.DeviceKeyFromSeed([32]byte{63}), keys.DeviceKeyFromSeed([32]byte{64})
	b, a, m, f := newAuthor(t, sp, sk), newAuthor(t, sp, ka), newAuthor(t, sp, km), newAuthor(t, sp, kf)
	rules := `{"prefix":"chat/","rules":[{"key":"chat/pin/{channel}","write":"admin"}]}`
	g := b.next(
		commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: ka.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: km.Author(), Role: commit.RoleWrite}),
		commit.GrantOp(commit.Grant{Subject: kf.Author(), Role: commit.RoleWrite}))
	v1 := b.next(commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(rules)}))
	a.deps, a.wall = []keys.CommitID{v1.ID}, b.wall
	a1 := a.next(commit.GrantOp(commit.Grant{Subject: km.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/pin/")}))
	b.wall = a.wall
	cut := b.next(commit.RevokeOp(commit.Revoke{Author: ka.Author(), LastSeq: 0}))
	m.deps, m.wall = []keys.CommitID{a1.ID}, b.wall
	m1 := m.next(commit.Put([]byte("chat/pin/general"), []byte(`"by M"`)))
	f.deps, f.wall = []keys.CommitID{a1.ID, cut.ID}, m.wall
	f1 := f.next(commit.Put([]byte("chat/pin/general"), []byte(`"by F"`)))

	open := func(dir string) *store.Store {
		t.Helper()
		st, err := store.Open(dir, store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	apply := func(st *store.Store, cs ...*commit.Commit) []store.Outcome {
		t.Helper()
		res, err := st.Apply(ctx, sp, cs)
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcomes
	}
	want := func(how string, o store.Outcome, broken bool) {
		t.Helper()
		if o.Status != store.Revoked || !errors.Is(o.Err, acl.ErrSchema) || acl.Broken(o.Err) != broken {
			t.Errorf("%s: %s %v, want Revoked with Broken = %v", how, o.Status, o.Err, broken)
		}
	}
	for _, tc := range []struct {
		name   string
		before []*commit.Commit // applied one by one before
		reopen bool
		batch  []*commit.Commit // then in one request; M's and F's outcomes checked
		mi, fi int
	}{
		{"after the cut", []*commit.Commit{v1, a1, cut}, false, []*commit.Commit{m1, f1}, 0, 1},
		{"after the cut and a reopen", []*commit.Commit{v1, a1, cut}, true, []*commit.Commit{m1, f1}, 0, 1},
		{"with the cut", []*commit.Commit{v1, a1}, false, []*commit.Commit{m1, cut, f1}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := open(dir)
			if err := st.CreateSpace(ctx, "s", g); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.before {
				if o := apply(st, c)[0]; o.Status != store.Applied && o.Status != store.Revoked {
					t.Fatalf("%s seq %d: %s %v", c.Author.Short(), c.Seq, o.Status, o.Err)
				}
			}
			if tc.reopen {
				st.Close()
				st = open(dir)
			}
			defer st.Close()
			outs := apply(st, tc.batch...)
			want("M's pin relying on A's voided grant", outs[tc.mi], false)
			want("F's pin with no admin grant of its own", outs[tc.fi], true)
		})
	}
}
