package store_test

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"testing"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestPropertyOrderIndependence: random histories of ≥ 5 authors and ≥ 200
// ops, delivered to replicas in any order with duplicates, in chunks, with
// the store closed and reopened between chunks, all end with the view the
// model computes: same winners, same conflicts, same view hash.
// A failure prints rapid's seed; replay with -rapid.seed=N.
func TestPropertyOrderIndependence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawHistory(rt)
		want := h.Expect(nil)
		for replica := range 2 {
			order := shuffledWithDuplicates(r, h.Commits)
			st := deliverReopening(rt, r, h.Space(), order)
			storetest.CheckModel(rt, st, h.Space(), want)
			if replica == 0 {
				st.Close()
				continue
			}
			st.Close()
		}
	})
}

// TestPropertyForkOrderIndependence adds an equivocating author: one of its
// commits has a twin with the same seq. Whichever twin a replica sees first,
// every replica keeps the evidence and ends with the same view: the
// author's commits from the forked seq on do not count.
func TestPropertyForkOrderIndependence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawHistory(rt)
		liar := h.Authors[rapid.IntRange(0, len(h.Authors)-1).Draw(rt, "liar")]
		var own []*commit.Commit
		for _, c := range h.Commits {
			if c.Author == liar.Author() {
				own = append(own, c)
			}
		}
		if len(own) == 0 {
			rt.Skip("liar wrote nothing")
		}
		orig := own[rapid.IntRange(0, len(own)-1).Draw(rt, "forked commit")]
		twin, err := commit.Build(commit.Header{
			Space: orig.Space, Author: orig.Author, Seq: orig.Seq, Prev: orig.Prev,
			Time: orig.Time, Deps: orig.Deps,
		}, []commit.Op{commit.Put([]byte("k/twin"), []byte("equivocation"))}, liar)
		if err != nil {
			rt.Fatal(err)
		}
		want := h.Expect(map[keys.AuthorID]uint64{liar.Author(): orig.Seq})
		all := append(append([]*commit.Commit(nil), h.Commits...), twin)
		for range 2 {
			st := deliverReopening(rt, r, h.Space(), shuffledWithDuplicates(r, all))
			forks, err := st.Forks(context.Background(), h.Space())
			if err != nil || len(forks) != 1 || forks[0].A.Seq != orig.Seq {
				rt.Fatalf("fork evidence = %v, %v; want one pair at seq %d", forks, err, orig.Seq)
			}
			v, _ := st.View(context.Background(), h.Space())
			if v.Hash != want.Hash || v.Visible != want.Keys {
				rt.Fatalf("view hash %s (%d keys), model %s (%d keys)", v.Hash, v.Visible, want.Hash, want.Keys)
			}
			st.Close()
		}
	})
}

func drawHistory(rt *rapid.T) (*storetest.History, *rand.Rand) {
	r, g := drawGen(rt, storetest.Gen{Authors: 5, Ops: 200, Keys: 4, MaxBatch: 1}, storetest.Gen{Authors: 7, Ops: 400, Keys: 40, MaxBatch: 6})
	return storetest.GenHistory(r, g), r
}

// drawGen draws a seeded source and the size of a history, each field
// between lo's and hi's.
func drawGen(rt *rapid.T, lo, hi storetest.Gen) (*rand.Rand, storetest.Gen) {
	seed := rapid.Uint64().Draw(rt, "seed")
	rt.Logf("histories start at %d µs (LOAM_TEST_EPOCH=%[1]d replays them with the seed)", storetest.Epoch())
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return r, storetest.Gen{
		Authors:  rapid.IntRange(lo.Authors, hi.Authors).Draw(rt, "authors"),
		Ops:      rapid.IntRange(lo.Ops, hi.Ops).Draw(rt, "ops"),
		Keys:     rapid.IntRange(lo.Keys, hi.Keys).Draw(rt, "keys"),
		MaxBatch: rapid.IntRange(lo.MaxBatch, hi.MaxBatch).Draw(rt, "max batch"),
	}
}

func shuffledWithDuplicates(r *rand.Rand, cs []*commit.Commit) []*commit.Commit {
	out := append([]*commit.Commit(nil), cs...)
	for range len(cs) / 5 {
		out = append(out, cs[r.IntN(len(cs))])
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// propStore opens a fresh on-disk store holding space sp, in a
// directory removed when rt ends; open opens the store there again (after
// the caller closed it).
func propStore(rt *rapid.T, sp keys.SpaceID) (st *store.Store, open func() *store.Store) {
	dir, err := os.MkdirTemp("", "loam-prop")
	if err != nil {
		rt.Fatal(err)
	}
	rt.Cleanup(func() { os.RemoveAll(dir) })
	open = func() *store.Store {
		st, err := store.Open(dir, store.Options{NoSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		return st
	}
	st = open()
	if err := st.AddSpace(context.Background(), "s", sp); err != nil {
		rt.Fatal(err)
	}
	return st, open
}

// deliverReopening delivers order to a fresh on-disk store in random
// chunks, closing and reopening the store at random points.
func deliverReopening(rt *rapid.T, r *rand.Rand, sp keys.SpaceID, order []*commit.Commit) *store.Store {
	st, open := propStore(rt, sp)
	cur := st
	left := storetest.Deliver(rt, st, sp, order, 1+r.IntN(40), func(s storetest.Store) storetest.Store {
		if r.IntN(4) != 0 {
			return s
		}
		s.Close()
		cur = open()
		return cur
	})
	if len(left) != 0 {
		rt.Fatalf("%d commits never applied, first %s", len(left), left[0])
	}
	return cur
}

// TestMain keeps the property tests' default run short (pass
// -rapid.checks=N for a longer search), and fails the package's tests if
// any goroutine outlives them: an applier, a disk-health checker or a
// Pebble goroutine of a store left open.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("rapid.checks"); f != nil && !isSet("rapid.checks") {
		f.Value.Set("25")
	}
	goleak.VerifyTestMain(m)
}

func isSet(name string) (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return
}
