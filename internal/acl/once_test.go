package acl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
)

const onceRules = `{"prefix":"o/","rules":[{"key":"o/{x}","write":"anyone","once":true}]}`

// TestOnceDelIsAWrite (#15): a write-once rule takes put, del and putblob
// alike as writes, refused and earlier: after a put or a del of a key in
// its past, a put or del of it does not count; the first write does, and
// the tracked writes hold it (State.OnceWrote).
func TestOnceDelIsAWrite(t *testing.T) {
	ops := map[string]commit.Op{"put": putv("o/k", `"v"`), "del": commit.Del([]byte("o/k"))}
	for _, first := range []string{"put", "del"} {
		for _, second := range []string{"put", "del"} {
			t.Run(first+" then "+second, func(t *testing.T) {
				w := newWorld(t)
				admin, ada := dev(1), dev(2)
				g := w.genesis(grant(admin, commit.RoleAdmin), grant(ada, commit.RoleWrite))
				rule := w.at(admin, 2000, []*commit.Commit{g}, schemaOp("o", 1, onceRules))
				c1 := w.at(ada, 3000, []*commit.Commit{rule}, ops[first])
				c2 := w.at(ada, 4000, nil, ops[second])
				d := w.eval()
				if !valid(d, c1) {
					t.Fatalf("the first write does not count: %v", reason(d, c1))
				}
				if err := reason(d, c2); !errors.Is(err, acl.ErrSchema) || !strings.Contains(err.Error(), "written once") {
					t.Fatalf("the second write: %v, want refused as written once", err)
				}
				st := d.State(w.sp())
				if !st.OnceWrote([]byte("o/k"), acl.Loc{Author: c1.Author, Seq: c1.Seq}) || st.OnceWrote([]byte("o/k"), acl.Loc{Author: c2.Author, Seq: c2.Seq}) {
					t.Fatalf("tracked writes %v: want the first write only", st.OnceWrites())
				}
			})
		}
	}
}

// TestDeclaresOnce: a commit declares a write-once rule when one of its
// schema ops has a body with one.
func TestDeclaresOnce(t *testing.T) {
	w := newWorld(t)
	admin := dev(1)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	for _, tc := range []struct {
		ops  []commit.Op
		want bool
	}{
		{[]commit.Op{putv("o/k", "v")}, false},
		{[]commit.Op{schemaOp("chat", 1, chatRules)}, false},
		{[]commit.Op{schemaOp("o", 1, onceRules)}, true},
		{[]commit.Op{putv("x", "v"), schemaOp("chat", 2, chatRules), schemaOp("o", 2, onceRules)}, true},
		{[]commit.Op{schemaOp("o", 3, ``)}, false},
	} {
		c := w.at(admin, 2000, []*commit.Commit{g}, tc.ops...)
		if got := acl.DeclaresOnce(c); got != tc.want {
			t.Errorf("%d ops: DeclaresOnce = %v, want %v", len(tc.ops), got, tc.want)
		}
	}
}
