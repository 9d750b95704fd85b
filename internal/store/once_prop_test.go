package store_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/store/storetest"
)

// TestPropertyOnceRedecide (#15, #16): random histories of write-once
// rules declared at random points, writes and deletes of their keys and
// revocations (storetest.GenOnceRevokes), delivered in random chunks to a
// store deciding revocations from the cut when it can and to one always
// deciding the whole space (the same after every chunk, as in
// TestPropertyRedecideFromCut), and in any order to a store reopened
// between chunks: every store ends voiding the commits acl.Evaluate voids
// over the history.
func TestPropertyOnceRedecide(t *testing.T) {
	var fast atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		r, g := drawGen(rt, storetest.Gen{Authors: 2, Ops: 20, Keys: 2, MaxBatch: 1}, storetest.Gen{Authors: 4, Ops: 120, Keys: 6, MaxBatch: 3})
		h := storetest.GenOnceRevokes(r, g)
		fast.Add(compareRedecide(rt, r, h))
		_, d := h.ExpectDecided()
		st := deliverReopening(rt, r, h.Space(), shuffledWithDuplicates(r, h.Commits))
		defer st.Close()
		voided, err := st.Voided(context.Background(), h.Space())
		if err != nil {
			rt.Fatal(err)
		}
		for l, why := range d.Invalid {
			if _, ok := voided[l]; !ok {
				rt.Fatalf("the store counts %s seq %d; acl.Evaluate voids it: %v", l.Author.Short(), l.Seq, why)
			}
		}
		for l, why := range voided {
			if _, ok := d.Invalid[l]; !ok {
				rt.Fatalf("the store voids %s seq %d (%s); acl.Evaluate counts it", l.Author.Short(), l.Seq, why)
			}
		}
	})
	if fast.Load() == 0 {
		t.Fatal("no revocation was decided from the cut: the property checked little")
	}
	t.Logf("%d revocations decided from the cut", fast.Load())
}

// TestGenOnceRevokesExercisesOnce guards the generator: over a few seeds,
// write-once rules must refuse writes that acl.Evaluate decides.
func TestGenOnceRevokesExercisesOnce(t *testing.T) {
	once := 0
	for s := range uint64(10) {
		h := storetest.GenOnceRevokes(rand.New(rand.NewPCG(s, s)), storetest.Gen{Authors: 3, Ops: 80, Keys: 4, MaxBatch: 2})
		_, d := h.ExpectDecided()
		for _, why := range d.Invalid {
			if why != nil && strings.Contains(why.Error(), "written once") {
				once++
			}
		}
	}
	t.Logf("%d commits refused by a write-once rule", once)
	if once == 0 {
		t.Fatal("the generator does not exercise write-once rules")
	}
}
