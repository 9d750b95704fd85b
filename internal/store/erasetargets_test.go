package store_test

import (
	"context"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// TestErasedValueNotChecked: a write whose value breaks an app rule, then
// erased by an admin, is decided alike by a store that checked its value
// before the erase came, by one that got it erased ahead of its erase (as
// a peer that applied the erase sends it), and by acl.Evaluate over the
// commits as written: an erase held names it, so its value is not
// checked, and it counts. Before, the first store and Evaluate refused it
// and the second counted it (checked as a delete): their views differed,
// for good. An erase stored with a revocation decided from its cut
// (redecide.go) decides the space whole all the same.
func TestErasedValueNotChecked(t *testing.T) {
	ctx := context.Background()
	strict := `{"prefix":"chat/","rules":[{"key":"chat/msg/{id}","write":"anyone","value":{"type":"object"}}]}`
	h := newFollowed(t, 71)
	b, m := h.b, h.m
	v1 := b.next(commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(strict)}))
	m.deps, m.wall = []keys.CommitID{v1.ID}, b.wall
	w := m.next(commit.Put([]byte("chat/msg/1"), []byte(`"not an object"`)))
	b.deps, b.wall = []keys.CommitID{w.ID}, m.wall
	er := b.next(must(commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: w.Author, Seq: w.Seq, ID: w.ID, Op: 0, Key: []byte("chat/msg/1")}}})))
	wErased := must(w.Erase(0))
	rev := b.next(commit.RevokeOp(commit.Revoke{Author: h.f.key.Author(), LastSeq: 0})) // cuts nothing: decided from the cut

	if d := acl.Evaluate(h.sp, []*commit.Commit{h.g, v1, w, er, rev}, nil); !d.Valid(w.Author, w.Seq) {
		t.Errorf("acl.Evaluate refuses the erased write: %v", d.Invalid[acl.Loc{Author: w.Author, Seq: w.Seq}])
	}
	for name, order := range map[string][][]*commit.Commit{
		"checked, then erased":      {{h.g, v1}, {w}, {er}},
		"all in one request":        {{h.g, v1, w, er}},
		"erased ahead of its erase": {{h.g, v1}, {wErased}, {er}},
		"erased ahead, one request": {{h.g, v1, wErased, er}},
		"erased with a revocation":  {{h.g, v1}, {w}, {er, rev}},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.AddSpace(ctx, "s", h.sp); err != nil {
				t.Fatal(err)
			}
			for _, cs := range order {
				if _, err := st.Apply(ctx, h.sp, cs); err != nil {
					t.Fatal(err)
				}
			}
			v, err := st.Voided(ctx, h.sp)
			if err != nil {
				t.Fatal(err)
			}
			if why, bad := v[acl.Loc{Author: w.Author, Seq: w.Seq}]; bad {
				t.Errorf("the erased write does not count: %s", why)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
