package store_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/testkit"
)

var benchPerAuthor = flag.Int("vv.per", 0, "BenchmarkManyAuthors: commits per author (0: 20,000 commits in all, at most 1,000 per author)")

// BenchmarkManyAuthors applies a space written by many authors (storetest.GenChat:
// 10 active at a time, commits received up to 4 late) with Store.Apply in
// causal order, in batches of 500, into a new store (NoSync), and reports
// commits/s and the bytes the space's rows take per commit once
// compacted. -vv.per sets the commits per author. commits/cpu-s counts the
// process's CPU time while applying (the applier, Pebble's flushes and
// compactions).
func BenchmarkManyAuthors(b *testing.B) {
	for _, n := range []int{10, 100, 400, 1000} {
		per := *benchPerAuthor
		if per == 0 {
			per = min(1000, 20000/n)
		}
		b.Run(fmt.Sprintf("authors=%d/per=%d", n, per), func(b *testing.B) {
			h := storetest.GenChat(rand.New(rand.NewPCG(uint64(n), uint64(per))), n, per, 10, 4, false)
			deps := 0
			for _, c := range h.Commits {
				deps += len(c.Deps)
			}
			ctx := context.Background()
			var perCommit float64
			var cpu time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := st.CreateSpace(ctx, "chat", h.Genesis); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := testkit.CPUTime()
				for i := 0; i < len(h.Commits); i += 500 {
					part := h.Commits[i:min(i+500, len(h.Commits))]
					res, err := st.Apply(ctx, h.Space(), part)
					if err != nil {
						b.Fatal(err)
					}
					for j, o := range res.Outcomes {
						if o.Status != store.Applied {
							b.Fatalf("commit %s: %s: %v", part[j], o.Status, o.Err)
						}
					}
				}
				cpu += testkit.CPUTime() - cpu0
				b.StopTimer()
				sp := h.Space()
				if err := st.Compact(ctx, &sp, nil); err != nil {
					b.Fatal(err)
				}
				u, err := st.SpaceUsage(ctx, h.Space())
				if err != nil {
					b.Fatal(err)
				}
				perCommit = float64(u.History+u.Live) / float64(len(h.Commits)+1)
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*len(h.Commits))/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(b.N*len(h.Commits))/cpu.Seconds(), "commits/cpu-s")
			b.ReportMetric(perCommit, "bytes/commit")
			b.ReportMetric(float64(deps)/float64(len(h.Commits)), "deps/commit")
			b.ReportMetric(0, "ns/op")
		})
	}
}
