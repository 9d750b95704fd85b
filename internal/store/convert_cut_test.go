package store_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/view"
)

func gainsText(t *testing.T, st *store.Store, sp keys.SpaceID) map[string]string {
	t.Helper()
	out := map[string]string{}
	for r, err := range st.Gains(context.Background(), sp) {
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, g := range r.Gains {
			fmt.Fprintf(&b, "%s:%d ", g.Author.Short(), g.Seq)
		}
		out[fmt.Sprintf("%s/%d", r.Author.Short(), r.Seq)] = b.String()
	}
	return out
}

// TestVVConversionCut: a power cut between two pieces of the conversion
// of version vectors (tag 0x13, before #16) to gains rows leaves, once the
// next load finishes it, the gains rows a conversion without a cut writes
// (checkpoints export them): the load that goes on must take the gains of
// an author whose rows a piece ended among from its converted rows, not
// from nothing.
func TestVVConversionCut(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			ctx := context.Background()
			h := storetest.GenHistory(rand.New(rand.NewPCG(16, 16)), storetest.Gen{Authors: 12, Ops: 600, Keys: 15, MaxBatch: 2})
			byLoc := map[[2]any]*commit.Commit{}
			for _, c := range h.Commits {
				byLoc[[2]any{c.Author, c.Seq}] = c
			}
			defer store.SetConvertPiece(7)()
			sp := h.Space()
			dir := t.TempDir()
			st, err := store.Open(dir, store.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AddSpace(ctx, "s", sp); err != nil {
				t.Fatal(err)
			}
			mustApplyAll(t, st, sp, h.Commits)
			native := gainsText(t, st, sp)
			err = store.WriteOldVectors(st, sp, func(au keys.AuthorID, seq uint64) (view.VV, bool) {
				c := byLoc[[2]any{au, seq}]
				if len(c.Deps) == 0 {
					return nil, false
				}
				return h.VVs[c.ID], true
			})
			if err != nil {
				t.Fatal(err)
			}
			if crash {
				if err := store.ConvertVVsCut(st, sp); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
			st, err = store.Open(dir, store.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Apply(ctx, sp, nil); err != nil { // loads: converts
				t.Fatal(err)
			}
			got := gainsText(t, st, sp)
			diff := 0
			for k, v := range native {
				if got[k] != v {
					if diff++; diff <= 3 {
						t.Errorf("%s: gains %q, want %q", k, got[k], v)
					}
				}
			}
			if diff > 0 || len(got) != len(native) {
				t.Errorf("%d of %d rows differ (%d rows now)", diff, len(native), len(got))
			}
		})
	}
}
