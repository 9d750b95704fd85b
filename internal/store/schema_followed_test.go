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

// TestSchemaFollowedOutcome (#15): admin A declares a lenient version 2
// of the chat's rules and admin B cuts A below it. Member M's commit that
// keeps v2 but not v1 is Revoked with an acl.SchemaError that is
// Followed (not acl.Broken: M may not have seen the cut), and forger F's
// commit that no version in its causal past allows is Broken, whether the
// store applies them after the cut, after a reopen, or with the cut in the
// same request (the space decided again).
func TestSchemaFollowedOutcome(t *testing.T) {
	strict := `{"prefix":"chat/","rules":[{"key":"chat/msg/{id}","write":"anyone","value":{"type":"object","required":["text"]}}]}`
	lenient := `{"prefix":"chat/","rules":[{"key":"chat/msg/{id}","write":"anyone"}]}`
	h := newFollowed(t, 51)
	b, a, m, f := h.b, h.a, h.m, h.f
	v1 := b.next(commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(strict)}))
	a.deps = []keys.CommitID{v1.ID}
	a.wall = b.wall
	v2 := a.next(commit.SchemaOp(commit.Schema{App: "chat", Version: 2, Body: []byte(lenient)}))
	b.wall = a.wall
	cut := b.next(commit.RevokeOp(commit.Revoke{Author: a.key.Author(), LastSeq: 0}))
	m.deps, m.wall = []keys.CommitID{v2.ID}, b.wall
	m1 := m.next(commit.Put([]byte("chat/msg/1"), []byte(`"plain text, as v2 allows"`)))
	f.deps, f.wall = []keys.CommitID{v2.ID, cut.ID}, m.wall
	f1 := f.next(commit.Put([]byte("chat/nowhere"), []byte(`{"text":"x"}`)))

	h.check(t, v1, v2, cut, m1, f1, "M's commit keeping v2", "F's commit no version allows")
}

// followed is the start both schema-followed tests share: the space
// key's author b (admin), admin a, writers m and f, and the genesis g
// granting them so.
type followed struct {
	sp         keys.SpaceID
	b, a, m, f *author
	g          *commit.Commit
}

// newFollowed makes the space and device keys from seeds seed to seed+3
// and writes the genesis.
func newFollowed(t *testing.T, seed byte) *followed {
	t.Helper()
	sk := keys.SpaceKeyFromSeed([32]byte{seed})
	sp := sk.Space()
	ka, km, kf := keys.DeviceKeyFromSeed([32]byte{seed + 1}), keys.DeviceKeyFromSeed([32]byte{seed + 2}), keys.DeviceKeyFromSeed([32]byte{seed + 3})
	b, a, m, f := newAuthor(t, sp, sk), newAuthor(t, sp, ka), newAuthor(t, sp, km), newAuthor(t, sp, kf)
	g := b.next(
		commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: ka.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: km.Author(), Role: commit.RoleWrite}),
		commit.GrantOp(commit.Grant{Subject: kf.Author(), Role: commit.RoleWrite}))
	return &followed{sp: sp, b: b, a: a, m: m, f: f, g: g}
}

// check applies the schema v1, A's commit mid, the cut of A and the
// commits m1 of M and f1 of F after the cut, after the cut and a reopen,
// and with the cut in the same request, and wants m1 Revoked by a
// Followed schema error (mHow says what m1 is) and f1 by a Broken one.
func (h *followed) check(t *testing.T, v1, mid, cut, m1, f1 *commit.Commit, mHow, fHow string) {
	t.Helper()
	ctx := context.Background()
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
		res, err := st.Apply(ctx, h.sp, cs)
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
		{"after the cut", []*commit.Commit{v1, mid, cut}, false, []*commit.Commit{m1, f1}, 0, 1},
		{"after the cut and a reopen", []*commit.Commit{v1, mid, cut}, true, []*commit.Commit{m1, f1}, 0, 1},
		{"with the cut", []*commit.Commit{v1, mid}, false, []*commit.Commit{m1, cut, f1}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := open(dir)
			if err := st.CreateSpace(ctx, "s", h.g); err != nil {
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
			want(mHow, outs[tc.mi], false)
			want(fHow, outs[tc.fi], true)
		})
	}
}
