package store_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestForgetLeavesNothing: Forget removes every row of a space (commits,
// heads, grants, cuts, cells, view…) and frees its name, leaves other
// spaces alone, and the space can be added and filled again afterwards.
func TestForgetLeavesNothing(t *testing.T) {
	ctx := context.Background()
	st := storetest.TempStore(t)
	r := rand.New(rand.NewPCG(1, 2))
	g := storetest.Gen{Authors: 4, Ops: 150, Keys: 20, MaxBatch: 4}
	gone, kept := storetest.GenACL(r, g), storetest.GenHistory(r, g)
	fill := func(name string, h *storetest.History) {
		t.Helper()
		if err := st.AddSpace(ctx, name, h.Space()); err != nil {
			t.Fatal(err)
		}
		if left := storetest.Deliver(t, st, h.Space(), h.Commits, 25, nil); len(left) != 0 {
			t.Fatalf("%d commits of %s not applied", len(left), name)
		}
	}
	fill("gone", gone)
	fill("kept", kept)
	before, err := st.View(ctx, kept.Space())
	if err != nil {
		t.Fatal(err)
	}

	if err := st.Forget(ctx, gone.Space()); err != nil {
		t.Fatal(err)
	}
	raw, err := store.RawKeys(st)
	if err != nil {
		t.Fatal(err)
	}
	id := gone.Space()
	for _, k := range raw {
		if bytes.Contains(k, id[:]) || bytes.Equal(k[1:], []byte("gone")) {
			t.Fatalf("row %x of the forgotten space is left", k)
		}
	}
	if _, err := st.SpaceByName(ctx, "gone"); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("the name is still taken: %v", err)
	}
	if _, err := st.Apply(ctx, id, gone.Commits[:1]); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("apply to the forgotten space: %v, want ErrUnknownSpace", err)
	}
	if err := st.Forget(ctx, id); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("forget twice: %v, want ErrUnknownSpace", err)
	}
	if after, err := st.View(ctx, kept.Space()); err != nil || after != before {
		t.Errorf("the other space changed: %v", err)
	}

	// Added again, under the same name, it fills as a fresh space.
	fill("gone", gone)
	if _, err := st.View(ctx, id); err != nil {
		t.Fatal(err)
	}
}
