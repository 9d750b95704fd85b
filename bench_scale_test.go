package loam_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/testkit"
)

// BenchmarkScaleReads reads the space "bench" of an existing home, filled
// by bench/cmd/loamsync (keys k/%08d, LOAM_SCALE_KEYS of them, default
// 10,000,000): random gets, and ranges of 100 keys from a random start,
// as BenchmarkGet and BenchmarkRange do on 100,000 keys; run them
// together to compare (docs/benchmarks.md, "Ten million"). Each also
// reports cpu-µs/op, the process's CPU time per get or range, and
// reads/op, its read system calls (reportCPU): the figures to compare on
// a machine others load. LOAM_SCALE_WARM gets (default 200,000) warm the
// block cache first.
func BenchmarkScaleReads(b *testing.B) {
	home := os.Getenv("LOAM_SCALE_HOME")
	if home == "" {
		b.Skip("set LOAM_SCALE_HOME to a home synced by bench/cmd/loamsync (docs/benchmarks.md, \"Ten million\")")
	}
	keys := 10_000_000
	if s := os.Getenv("LOAM_SCALE_KEYS"); s != "" {
		var err error
		if keys, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	sp, err := n.Space(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	// Warm the block cache as a node that has served reads for a while
	// has it: a cache of 192 MiB takes some 50,000 misses to fill, more
	// than a few seconds of gets make.
	warm := 200_000
	if s := os.Getenv("LOAM_SCALE_WARM"); s != "" {
		if warm, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range warm {
		if _, err := sp.Get(ctx, fmt.Appendf(nil, "k/%08d", r.IntN(keys))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("get", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := sp.Get(ctx, fmt.Appendf(nil, "k/%08d", r.IntN(keys))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("range", func(b *testing.B) {
		r := rand.New(rand.NewPCG(5, 6))
		defer reportCPU(b)()
		for b.Loop() {
			rangeHundred(b, ctx, sp, fmt.Sprintf("k/%08d", r.IntN(keys-100)))
		}
		b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}

// reportCPU returns a function that reports the process's CPU time (user
// and system, background work included) since reportCPU was called, per
// iteration, as cpu-µs/op, and where the system counts them (Linux), its
// read system calls per iteration as reads/op: for a get, how often it
// missed the block cache, a figure the machine's load does not change.
func reportCPU(b *testing.B) func() {
	start, reads := testkit.CPUTime(), testkit.ReadCalls()
	return func() {
		if b.N == 0 {
			return
		}
		b.ReportMetric(float64((testkit.CPUTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		if r := testkit.ReadCalls(); r >= 0 && reads >= 0 {
			b.ReportMetric(float64(r-reads)/float64(b.N), "reads/op")
		}
	}
}
