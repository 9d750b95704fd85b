package store_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/view"
)

// reachable computes, for every commit of a history without forks, the
// highest seq of each other author in its causal past, by walking the
// DAG (prev and deps) from each commit: the reference for the store's
// causality, which never walks it.
func reachable(cs []*commit.Commit) map[keys.CommitID]map[keys.AuthorID]uint64 {
	byID := map[keys.CommitID]*commit.Commit{}
	at := map[keys.AuthorID]map[uint64]*commit.Commit{}
	for _, c := range cs {
		byID[c.ID] = c
		if at[c.Author] == nil {
			at[c.Author] = map[uint64]*commit.Commit{}
		}
		at[c.Author][c.Seq] = c
	}
	out := map[keys.CommitID]map[keys.AuthorID]uint64{}
	for _, c := range cs {
		k := map[keys.AuthorID]uint64{}
		seen := map[keys.CommitID]bool{c.ID: true}
		todo := []*commit.Commit{c}
		for len(todo) > 0 {
			x := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			if x.Author != c.Author && x.Seq > k[x.Author] {
				k[x.Author] = x.Seq
			}
			next := append([]keys.CommitID(nil), x.Deps...)
			if p, ok := at[x.Author][x.Seq-1]; ok {
				next = append(next, p.ID)
			}
			for _, id := range next {
				if d, ok := byID[id]; ok && !seen[id] {
					seen[id] = true
					todo = append(todo, d)
				}
			}
		}
		out[c.ID] = k
	}
	return out
}

// drawManyAuthors draws a history of many authors: storetest.GenHistory
// (authors who gossip everything they know) or storetest.GenChat (a few active
// writers at a time, authors coming back after others wrote, deps on all
// the heads received or on one or two of them).
func drawManyAuthors(rt *rapid.T) (sp keys.SpaceID, cs []*commit.Commit, r *rand.Rand) {
	seed := rapid.Uint64().Draw(rt, "seed")
	rt.Logf("histories start at %d µs (LOAM_TEST_EPOCH=%[1]d replays them with the seed)", storetest.Epoch())
	r = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	authors := rapid.IntRange(2, 40).Draw(rt, "authors")
	if rapid.Bool().Draw(rt, "chat") {
		h := storetest.GenChat(r, authors, rapid.IntRange(1, 15).Draw(rt, "per"), rapid.IntRange(1, 10).Draw(rt, "active"), rapid.IntRange(0, 6).Draw(rt, "lag"), rapid.Bool().Draw(rt, "sparse"))
		return h.Space(), append([]*commit.Commit{h.Genesis}, h.Commits...), r
	}
	h := storetest.GenHistory(r, storetest.Gen{Authors: authors, Ops: rapid.IntRange(50, 500).Draw(rt, "ops"), Keys: 20, MaxBatch: 2})
	return h.Space(), h.Commits, r
}

// TestPropertyCausalPast: over random histories of up to 40 authors,
// delivered in any order in chunks with reopens, the view is the model's
// (winners and conflicts decided on the DAG's causality), and the store's answer to
// "what of each author is in the causal past of commit c", for every
// commit, asked in any order with a knowledge cache from a few bytes to
// unbounded, is what walking the whole DAG says.
func TestPropertyCausalPast(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		sp, cs, r := drawManyAuthors(rt)
		want := reachable(cs)
		st := deliverReopening(rt, r, sp, shuffledWithDuplicates(r, cs))
		defer st.Close()
		vvs := map[keys.CommitID]view.VV{}
		for _, c := range cs {
			vvs[c.ID] = maps.Clone(want[c.ID])
			vvs[c.ID][c.Author] = c.Seq
		}
		storetest.CheckModel(rt, st, sp, (&storetest.History{Commits: cs, VVs: vvs}).Expect(nil))
		budget := rapid.SampledFrom([]int{1, 4 << 10, 64 << 20}).Draw(rt, "budget")
		know, err := store.Knower(st, sp, budget)
		if err != nil {
			rt.Fatal(err)
		}
		for _, i := range r.Perm(len(cs)) {
			c := cs[i]
			got, err := know(c.Author, c.Seq)
			if err != nil {
				rt.Fatal(err)
			}
			if !maps.Equal(got, want[c.ID]) {
				rt.Fatalf("%s: the store has %v in its past, the DAG %v", c, got, want[c.ID])
			}
		}
	})
}

// TestOldVectorsConverted: a store whose space holds version vectors as
// versions before #16 wrote them (tag 0x13) opens, converts them to
// gains, and goes on applying: the view is the model's and the causal
// past of every commit what the DAG says.
func TestOldVectorsConverted(t *testing.T) {
	h := storetest.GenHistory(rand.New(rand.NewPCG(16, 16)), storetest.Gen{Authors: 12, Ops: 600, Keys: 15, MaxBatch: 2})
	byLoc := map[[2]any]*commit.Commit{}
	for _, c := range h.Commits {
		byLoc[[2]any{c.Author, c.Seq}] = c
	}
	checkConverted(t, h, 0x13, func(st *store.Store, sp keys.SpaceID) error {
		return store.WriteOldVectors(st, sp, func(au keys.AuthorID, seq uint64) (view.VV, bool) {
			c := byLoc[[2]any{au, seq}]
			if len(c.Deps) == 0 {
				return nil, false
			}
			return h.VVs[c.ID], true
		})
	})
}

// TestOldGainsConverted: a store whose space holds gains rows as versions
// before session 11 wrote them (tag 0x15, authors by ID, no author
// numbers) opens, converts them in pieces to rows by author number, and
// goes on applying, as TestOldVectorsConverted.
func TestOldGainsConverted(t *testing.T) {
	h := storetest.GenHistory(rand.New(rand.NewPCG(16, 17)), storetest.Gen{Authors: 12, Ops: 600, Keys: 15, MaxBatch: 2})
	defer store.SetConvertPiece(7)() // several pieces
	checkConverted(t, h, 0x15, store.WriteOldGains)
}

// checkConverted applies the first half of h, rewrites the space's causal
// rows as an older version wrote them (writeOld, rows of table oldTag),
// opens the store again and applies the rest: the view must be the
// model's, the causal past of every commit what the DAG says, no row of
// oldTag left and no row by author number before the conversion.
func checkConverted(t *testing.T, h *storetest.History, oldTag byte, writeOld func(*store.Store, keys.SpaceID) error) {
	t.Helper()
	ctx := context.Background()
	sp, half := h.Space(), len(h.Commits)/2
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddSpace(ctx, "s", sp); err != nil {
		t.Fatal(err)
	}
	mustApplyAll(t, st, sp, h.Commits[:half])
	if err := writeOld(st, sp); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if n := countTag(t, dir, oldTag); n < 20 {
		t.Fatalf("%d old rows written, want more than a few pieces", n)
	}
	if n := countTag(t, dir, 0x27) + countTag(t, dir, 0x26); n != 0 {
		t.Fatalf("%d rows by author number left", n)
	}

	st, err = store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustApplyAll(t, st, sp, h.Commits[half:])
	storetest.CheckModel(t, st, sp, h.Expect(nil))
	want := reachable(h.Commits)
	know, err := store.Knower(st, sp, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range h.Commits {
		if got, err := know(c.Author, c.Seq); err != nil || !maps.Equal(got, want[c.ID]) {
			t.Fatalf("%s: the store has %v (%v) in its past, the DAG %v", c, got, err, want[c.ID])
		}
	}
	st.Close()
	if n := countTag(t, dir, oldTag); n != 0 {
		t.Fatalf("%d old rows left after the conversion", n)
	}
}

func mustApplyAll(t *testing.T, st *store.Store, sp keys.SpaceID, cs []*commit.Commit) {
	t.Helper()
	res, err := st.Apply(context.Background(), sp, cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o.Status != store.Applied {
			t.Fatalf("%s: %s: %v", cs[i], o.Status, o.Err)
		}
	}
}

// countTag counts the rows of table tag in the store in dir (closed).
func countTag(t *testing.T, dir string, tag byte) int {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := store.RawKeys(st)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range ks {
		if k[0] == tag {
			n++
		}
	}
	return n
}
