package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// erasedOps returns, sorted, the ops whose payloads st's stored commits
// of sp no longer hold.
func erasedOps(rt *rapid.T, st *store.Store, sp keys.SpaceID) []string {
	var out []string
	for _, c := range storetest.StoredCommits(rt, st, sp) {
		for i, o := range c.Ops {
			if o.Erased {
				out = append(out, fmt.Sprintf("%s/%d", c.ID.Short(), i))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestPropertyEraseOrderIndependence: random histories with erase
// commits, delivered to replicas in any order with duplicates, in chunks,
// across restarts, and to one replica as another replica's erased copies
// of the commits, with or without live-only retention applied by each:
// every replica ends with the same view hash, the same visible count and
// the same set of erased payloads, and every commit still verifies.
func TestPropertyEraseOrderIndependence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawHistory(rt)
		h.AddErases(r, rapid.IntRange(1, 4).Draw(rt, "erases"))
		// An erase voided by a concurrent revocation: replicas that applied
		// it before the revocation lost payloads the others keep (until
		// sync fetches them again), but every view is the same.
		voided := rapid.Bool().Draw(rt, "voided erase") && h.AddVoidedErase(r)
		sp := h.Space()
		live := rapid.Bool().Draw(rt, "live-only retention")
		retain := func(st *store.Store) {
			if !live {
				return
			}
			if _, err := st.DropSuperseded(context.Background(), sp, time.Now().Add(time.Hour), 1<<20); err != nil {
				rt.Fatal(err)
			}
		}
		first := deliverReopening(rt, r, sp, shuffledWithDuplicates(r, h.Commits))
		defer first.Close()
		retain(first)
		want, err := first.View(context.Background(), sp)
		if err != nil {
			rt.Fatal(err)
		}
		// sameView fails the test unless st's view, once retained, is
		// the first replica's.
		sameView := func(name string, st *store.Store) {
			retain(st)
			got, err := st.View(context.Background(), sp)
			if err != nil {
				rt.Fatal(err)
			}
			if got.Hash != want.Hash || got.Visible != want.Visible {
				rt.Fatalf("%s: view %s with %d visible, want %s with %d", name, got.Hash, got.Visible, want.Hash, want.Visible)
			}
		}
		wantErased := erasedOps(rt, first, sp)
		if len(wantErased) == 0 {
			rt.Fatal("the erases erased nothing")
		}
		// The erased copies, as a peer that applied the erases sends them.
		copies := storetest.StoredCommits(rt, first, sp)
		for name, order := range map[string][]*commit.Commit{
			"originals":     shuffledWithDuplicates(r, h.Commits),
			"erased copies": shuffledWithDuplicates(r, copies),
		} {
			st := deliverReopening(rt, r, sp, order)
			sameView(name, st)
			if e := erasedOps(rt, st, sp); !voided && !slices.Equal(e, wantErased) {
				rt.Fatalf("%s: erased %v, want %v", name, e, wantErased)
			}
			st.Close()
		}
		if !voided {
			return
		}
		// The voided erase and its revocation are the history's last two
		// commits: applied one after the other, in both orders.
		n := len(h.Commits)
		erase, rev := h.Commits[n-2], h.Commits[n-1]
		for name, last := range map[string][]*commit.Commit{
			"erase, then revocation": {erase, rev},
			"revocation, then erase": {rev, erase},
		} {
			st, _ := propStore(rt, sp)
			for _, batch := range [][]*commit.Commit{h.Commits[:n-2], last[:1], last[1:]} {
				if _, err := st.Apply(context.Background(), sp, batch); err != nil {
					rt.Fatal(err)
				}
			}
			sameView(name, st)
			// A peer that kept the payloads sends the full commits: every
			// lost write gets its value back, and the view stays.
			if _, err := st.Apply(context.Background(), sp, h.Commits); err != nil {
				rt.Fatal(err)
			}
			if lost, err := st.LostCommits(context.Background(), sp, 1<<20); err != nil || len(lost) != 0 {
				rt.Fatalf("%s: %d commits still lost after the full copies (%v)", name, len(lost), err)
			}
			if got, err := st.View(context.Background(), sp); err != nil || got.Hash != want.Hash {
				rt.Fatalf("%s: after the full copies, view %s (%v), want %s", name, got.Hash, err, want.Hash)
			}
			st.Close()
		}
	})
}
