package store_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestOnceRewriteAsEvaluate (#15): with a write-once rule, a delete is a
// write of its key, as a put is (docs/apps.md: "a put, delete or blob
// write of it is refused when a write of the key ... is in the writing
// commit's causal past"). Writer W writes key k twice (put or del each
// time), the first write not seeing the admin's declaration of the rule,
// the second seeing it (or both seeing it), the second at times in a
// commit that also revokes member U. Whatever the order the commits
// arrive in, alone or in one batch, the store voids what acl.Evaluate
// over the same commits voids (W's second write), after a reopen too, and
// after deciding the space again (member V revoked). Before the fix, a
// batch holding the declaration, W's second write and its revocation was
// decided from the cut (redecide.go), and the rewrite counted: the writes
// stored before a new once rule are tracked only by a whole decision.
func TestOnceRewriteAsEvaluate(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{71})
	sp := sk.Space()
	kw, ku, kv := keys.DeviceKeyFromSeed([32]byte{72}), keys.DeviceKeyFromSeed([32]byte{73}), keys.DeviceKeyFromSeed([32]byte{74})
	once := `{"prefix":"o/","rules":[{"key":"o/{x}","write":"anyone","once":true}]}`
	key := []byte("o/k")
	ops := map[string]func() commit.Op{
		"put": func() commit.Op { return commit.Put(key, []byte(`"v"`)) },
		"del": func() commit.Op { return commit.Del(key) },
	}
	for _, first := range []string{"put", "del"} {
		for _, second := range []string{"put", "del"} {
			for _, firstSees := range []bool{false, true} {
				for _, revokes := range []bool{false, true} {
					name := fmt.Sprintf("%s then %s, first write seeing the rule %v, second revoking %v", first, second, firstSees, revokes)
					t.Run(name, func(t *testing.T) {
						role := commit.RoleWrite
						if revokes {
							role = commit.RoleAdmin
						}
						a, w := newAuthor(t, sp, sk), newAuthor(t, sp, kw)
						g := a.next(
							commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}),
							commit.GrantOp(commit.Grant{Subject: kw.Author(), Role: role}),
							commit.GrantOp(commit.Grant{Subject: ku.Author(), Role: commit.RoleWrite}))
						rule := a.next(commit.SchemaOp(commit.Schema{App: "o", Version: 1, Body: []byte(once)}))
						w.deps, w.wall = []keys.CommitID{g.ID}, a.wall
						if firstSees {
							w.deps = []keys.CommitID{rule.ID}
						}
						w1 := w.next(ops[first]())
						if !firstSees {
							w.deps = []keys.CommitID{rule.ID}
						}
						w2ops := []commit.Op{ops[second]()}
						if revokes {
							w2ops = append(w2ops, commit.RevokeOp(commit.Revoke{Author: ku.Author(), LastSeq: 0}))
						}
						w2 := w.next(w2ops...)
						a.deps, a.wall = []keys.CommitID{w2.ID}, w.wall
						revoke := a.next(commit.RevokeOp(commit.Revoke{Author: kv.Author(), LastSeq: 0}))

						all := []*commit.Commit{g, rule, w1, w2}
						want := acl.Evaluate(sp, all, nil).Invalid
						if _, ok := want[acl.Loc{Author: kw.Author(), Seq: 2}]; !ok || len(want) != 1 {
							t.Fatalf("acl.Evaluate voids %v, want W's second write only", want)
						}
						orders := [][]*commit.Commit{{rule, w1, w2}, {w1, rule, w2}, {w1, w2, rule}, {w2, w1, rule}}
						for i, order := range orders {
							for _, chunk := range []int{1, 3} {
								dir := t.TempDir()
								st := openStore(t, dir)
								if err := st.CreateSpace(ctx, "s", g); err != nil {
									t.Fatal(err)
								}
								if pending := storetest.Deliver(t, st, sp, order, chunk, nil); len(pending) != 0 {
									t.Fatalf("order %d: %d commits never applied", i, len(pending))
								}
								how := fmt.Sprintf("order %d in chunks of %d", i, chunk)
								sameVoided(t, how, st, sp, want)
								st.Close()
								st = openStore(t, dir)
								sameVoided(t, how+", reopened", st, sp, want)
								if res, err := st.Apply(ctx, sp, []*commit.Commit{revoke}); err != nil || res.Outcomes[0].Status != store.Applied {
									t.Fatalf("%s: the revocation: %+v, %v", how, res, err)
								}
								sameVoided(t, how+", decided again", st, sp, acl.Evaluate(sp, append(all, revoke), nil).Invalid)
								st.Close()
							}
						}
					})
				}
			}
		}
	}
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sameVoided fails t unless st voids the commits of sp that want holds.
func sameVoided(t *testing.T, how string, st *store.Store, sp keys.SpaceID, want map[acl.Loc]error) {
	t.Helper()
	got, err := st.Voided(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	var g, w []string
	for l := range got {
		g = append(g, fmt.Sprintf("%s:%d", l.Author.Short(), l.Seq))
	}
	for l := range want {
		w = append(w, fmt.Sprintf("%s:%d", l.Author.Short(), l.Seq))
	}
	sort.Strings(g)
	sort.Strings(w)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("%s: the store voids %v, acl.Evaluate %v", how, g, w)
	}
}

// TestOnceCutWriteFreesKey (#15): a write of a write-once key that a
// revocation voids no longer refuses the writes that saw it (acl/doc.go:
// "a commit held void here that wrote a once key never refuses a later
// write"). U writes k, W writes k having seen U's write (refused), then
// an admin cuts U below its write: W's write counts, as acl.Evaluate
// decides, however the store decides the space again (from the cut, or in
// full).
func TestOnceCutWriteFreesKey(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{81})
	sp := sk.Space()
	ku, kw := keys.DeviceKeyFromSeed([32]byte{82}), keys.DeviceKeyFromSeed([32]byte{83})
	once := `{"prefix":"o/","rules":[{"key":"o/{x}","write":"anyone","once":true}]}`
	a, u, w := newAuthor(t, sp, sk), newAuthor(t, sp, ku), newAuthor(t, sp, kw)
	g := a.next(
		commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: ku.Author(), Role: commit.RoleWrite}),
		commit.GrantOp(commit.Grant{Subject: kw.Author(), Role: commit.RoleWrite}))
	rule := a.next(commit.SchemaOp(commit.Schema{App: "o", Version: 1, Body: []byte(once)}))
	u.deps, u.wall = []keys.CommitID{rule.ID}, a.wall
	u1 := u.next(commit.Put([]byte("o/k"), []byte(`"u"`)))
	w.deps, w.wall = []keys.CommitID{u1.ID}, u.wall
	w1 := w.next(commit.Put([]byte("o/k"), []byte(`"w"`)))
	a.wall = w.wall
	cut := a.next(commit.RevokeOp(commit.Revoke{Author: ku.Author(), LastSeq: 0}))

	all := []*commit.Commit{g, rule, u1, w1, cut}
	want := acl.Evaluate(sp, all, nil).Invalid
	if _, ok := want[acl.Loc{Author: ku.Author(), Seq: 1}]; !ok || len(want) != 1 {
		t.Fatalf("acl.Evaluate voids %v, want U's write only", want)
	}
	for _, full := range []bool{false, true} {
		for _, chunk := range []int{1, 4} {
			how := fmt.Sprintf("full decision %v, chunks of %d", full, chunk)
			dir := t.TempDir()
			st := openStore(t, dir)
			store.SetFullRedecide(st, full)
			if err := st.CreateSpace(ctx, "s", g); err != nil {
				t.Fatal(err)
			}
			if pending := storetest.Deliver(t, st, sp, []*commit.Commit{rule, u1, w1, cut}, chunk, nil); len(pending) != 0 {
				t.Fatalf("%s: %d commits never applied", how, len(pending))
			}
			sameVoided(t, how, st, sp, want)
			st.Close()
			st = openStore(t, dir)
			sameVoided(t, how+", reopened", st, sp, want)
			st.Close()
		}
	}
}
