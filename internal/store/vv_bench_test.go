package store_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

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
			var written writeFigures
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
				tags := map[byte]int64{}
				store.SetBatchSeen(st, func(bt *pebble.Batch) { countTags(tags, bt) })
				m0 := store.DBMetrics(st)
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
				written = measureWritten(m0, store.DBMetrics(st), tags, len(h.Commits))
				if su, err := st.Usage(ctx); err == nil {
					written.bodies = float64(su.Bodies) / float64(len(h.Commits))
				}
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
			written.report(b)
			b.ReportMetric(0, "ns/op")
		})
	}
}

// writeFigures are the bytes a run of commits wrote, per commit: the
// applier's batches by row kind, and what Pebble wrote for them to its log,
// by its flushes and by its compactions (until the last batch committed:
// compactions may still be running).
type writeFigures struct {
	rows    float64            // key and value bytes of the batches' rows
	byTag   map[string]float64 // the same by row kind
	wal     float64            // written to the write-ahead log
	flushed float64            // written by flushes
	compact float64            // written by compactions
	bodies  float64            // the body log's size (none deleted in a run)
}

// countTags adds the key and value bytes of bt's rows to tags, by the
// rows' first byte.
func countTags(tags map[byte]int64, bt *pebble.Batch) {
	r := bt.Reader()
	for {
		_, k, v, ok, err := r.Next()
		if err != nil || !ok {
			return
		}
		if len(k) > 0 {
			tags[k[0]] += int64(len(k) + len(v))
		}
	}
}

func measureWritten(m0, m1 *pebble.Metrics, tags map[byte]int64, n int) writeFigures {
	per := func(v uint64) float64 { return float64(v) / float64(n) }
	levels := func(m *pebble.Metrics) (flushed, compacted uint64) {
		for _, l := range m.Levels {
			flushed += l.TableBytesFlushed + l.BlobBytesFlushed
			compacted += l.TableBytesCompacted + l.BlobBytesCompacted
		}
		return flushed, compacted
	}
	f0, c0 := levels(m0)
	f1, c1 := levels(m1)
	f := writeFigures{
		wal:     per(m1.WAL.BytesWritten - m0.WAL.BytesWritten),
		flushed: per(f1 - f0),
		compact: per(c1 - c0),
		byTag:   map[string]float64{},
	}
	for tag, v := range tags {
		f.rows += float64(v) / float64(n)
		name, ok := store.TagNames[tag]
		if !ok {
			name = fmt.Sprintf("tag%02x", tag)
		}
		f.byTag[name] += float64(v) / float64(n)
	}
	return f
}

// report reports f as metrics: rows-B/commit and the row kinds that take
// at least 1% of it, wal-B/commit, flush-B/commit, compact-B/commit,
// bodies-B/commit (the body log), and written-B/commit, their sum.
func (f writeFigures) report(b *testing.B) {
	b.ReportMetric(f.rows, "rows-B/commit")
	for name, v := range f.byTag {
		if v >= f.rows/100 {
			b.ReportMetric(v, name+"-B/commit")
		}
	}
	b.ReportMetric(f.wal, "wal-B/commit")
	b.ReportMetric(f.flushed, "flush-B/commit")
	b.ReportMetric(f.compact, "compact-B/commit")
	b.ReportMetric(f.bodies, "bodies-B/commit")
	b.ReportMetric(f.wal+f.flushed+f.compact+f.bodies, "written-B/commit")
}
