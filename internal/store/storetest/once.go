package storetest

import (
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// testWriteOnce (#15): a key of a write-once rule takes no write that has
// a write of the key in its causal past (a rewrite, a delete, another
// author's write, two writes in one commit); two first writes made
// concurrently both count; a write made before the rule was declared
// counts as a write of the key, even when a later one superseded it in
// the cell. Decided alike whatever order the commits arrive in (a rule
// arriving after writes it covers) and across a reopen.
func testWriteOnce(t *testing.T, e *env) {
	f := newFixture(t, 4)
	admin, ada, bob, carl := f.writer(t, 0), f.writer(t, 1), f.writer(t, 2), f.writer(t, 3)
	g := []keys.CommitID{f.genesis.ID}
	once := `{"prefix":"p/","rules":[{"key":"p/{id}","write":"anyone","once":true}]}`

	early := ada.next(g, put("p/early", "1"))                           // before the rule
	early2 := carl.next([]keys.CommitID{early.ID}, put("p/early", "2")) // supersedes it, concurrent with the rule
	rule := admin.next([]keys.CommitID{early.ID}, commit.SchemaOp(commit.Schema{App: "p", Version: 1, Body: []byte(once)}))
	afterEarly := admin.next(nil, put("p/early", "3")) // saw early, not early2
	first := ada.next([]keys.CommitID{rule.ID}, put("p/poll", "ada's"))
	concurrent := bob.next([]keys.CommitID{rule.ID}, put("p/poll", "bob's"))
	rewrite := ada.next(nil, put("p/poll", "ada's again"))
	deleted := admin.next([]keys.CommitID{first.ID}, del("p/poll"))
	twice := admin.next(nil, put("p/two", "a"), put("p/two", "b"))
	fresh := admin.next(nil, put("p/fresh", "ok"))
	broken := map[*commit.Commit]bool{afterEarly: true, rewrite: true, deleted: true, twice: true}

	orders := map[string][]*commit.Commit{
		"rule first":             {early, rule, afterEarly, first, concurrent, rewrite, deleted, twice, fresh, early2},
		"superseded before rule": {early, early2, rule, first, rewrite, afterEarly, concurrent, deleted, twice, fresh},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			e := &env{t: t, open: e.open, dir: t.TempDir(), ctx: e.ctx}
			e.st = e.open(t, e.dir)
			defer func() { e.st.Close() }()
			sp := e.create(f)
			for i, c := range order {
				if o := e.apply(sp, c)[0]; o.Status != store.Applied && o.Status != store.Revoked {
					t.Fatalf("%s seq %d: %s %v", c.Author.Short(), c.Seq, o.Status, o.Err)
				}
				if i == 3 {
					e.reopen()
				}
			}
			e.reopen()
			for i, o := range e.apply(sp, order...) {
				c := order[i]
				if voided := o.Status == store.Duplicate && errors.Is(o.Err, store.ErrRevoked); voided != broken[c] {
					t.Errorf("%s seq %d: does not count = %v, want %v", c.Author.Short(), c.Seq, voided, broken[c])
				}
			}
			got := e.keys(sp, store.Query{Prefix: []byte("p/")})
			if got != "p/early=2 p/fresh=ok p/poll=bob's " && got != "p/early=2 p/fresh=ok p/poll=ada's " {
				t.Fatalf("p/ holds %s", got)
			}
		})
	}
}
