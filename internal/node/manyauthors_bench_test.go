package node

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/testkit"
)

var (
	manyPer  = flag.Int("many.per", 0, "BenchmarkManyAuthorsSync: commits per author (0: 20,000 commits in all)")
	manyProf = flag.String("many.cpuprofile", "", "BenchmarkManyAuthorsSync: write a CPU profile of the joins alone (not the history's generation and storing) to this file")
)

// BenchmarkManyAuthorsSync syncs a space written by many authors
// (storetest.GenChat: 10 writing at a time, each commit depending on the
// heads its author received since its previous one) from a node that
// holds it to a fresh node that joins it by its ID, over loopback, and
// reports commits/s from the join until the joiner's view and heads equal
// the holder's, and the CPU both nodes used per commit. Issue 16's
// figure is 1,000 authors × 1,000 commits:
//
//	go test -run '^$' -bench 'ManyAuthorsSync/authors=1000$' -benchtime 1x -many.per 1000 ./internal/node
func BenchmarkManyAuthorsSync(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 100, 1000} {
		per := *manyPer
		if per == 0 {
			per = min(1000, 20000/n)
		}
		b.Run(fmt.Sprintf("authors=%d", n), func(b *testing.B) {
			h := storetest.GenChat(rand.New(rand.NewPCG(uint64(n), uint64(per))), n, per, 10, 4, false)
			a, err := Open(ctx, Options{Home: b.TempDir(), Listen: loopback, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			if err := a.st.CreateSpace(ctx, "chat", h.Genesis); err != nil {
				b.Fatal(err)
			}
			a.addHeld(h.Space())
			for i := 0; i < len(h.Commits); i += 1000 {
				part := h.Commits[i:min(i+1000, len(h.Commits))]
				res, err := a.st.Apply(ctx, h.Space(), part)
				if err != nil {
					b.Fatal(err)
				}
				for j, o := range res.Outcomes {
					if o.Status != store.Applied {
						b.Fatalf("commit %s: %s: %v", part[j], o.Status, o.Err)
					}
				}
			}
			// The history stays in the holder's store only: a million
			// commits held in memory too (4.5 GB at 1,000 × 1,000) made
			// each GC cycle of the process mark them, CPU the joins paid.
			sp, commits := h.Space(), len(h.Commits)+1
			h = nil
			runtime.GC()
			want, wantView := viewHash(a, sp), viewOnly(a, sp)
			addr := loopbackTCP(a.Addrs())
			var secs, cpu float64
			for b.Loop() {
				b.StopTimer()
				r, err := Open(ctx, Options{Home: b.TempDir(), Listen: loopback, NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if *manyProf != "" {
					f, err := os.Create(*manyProf)
					if err != nil {
						b.Fatal(err)
					}
					if err := pprof.StartCPUProfile(f); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start, cpu0 := time.Now(), testkit.CPUTime()
				if _, err := r.Join(ctx, keys.Ticket{Space: sp, Name: "chat", Addrs: []string{addr}}); err != nil {
					b.Fatal(err)
				}
				// Done when the view and the heads are the holder's; the
				// view's hash (one row) is looked at first, the heads (a
				// scan of every author) only once it matches.
				deadline := time.Now().Add(30 * time.Minute)
				for !(viewOnly(r, sp) == wantView && viewHash(r, sp) == want) {
					if time.Now().After(deadline) {
						b.Fatalf("the joiner did not catch up in 30 min: %s, want %s", viewHash(r, sp), want)
					}
					time.Sleep(5 * time.Millisecond) // sampling interval of the measurement
				}
				secs += time.Since(start).Seconds()
				cpu += (testkit.CPUTime() - cpu0).Seconds()
				b.StopTimer()
				if *manyProf != "" {
					pprof.StopCPUProfile()
				}
				r.Close()
				b.StartTimer()
			}
			total := float64(commits) * float64(b.N)
			b.ReportMetric(total/secs, "commits/s")
			b.ReportMetric(total/cpu, "commits/cpu-s")
		})
	}
}

// viewOnly returns the hash of n's view of id (no heads: one row read).
func viewOnly(n *Node, id keys.SpaceID) string {
	v, err := n.st.View(context.Background(), id)
	if err != nil {
		return "err:" + err.Error()
	}
	return fmt.Sprint(v.Hash, v.Visible)
}
