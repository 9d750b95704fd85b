package loam_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loamdb/loam"
)

func benchSpace(b *testing.B) (*loam.Node, *loam.Space) {
	b.Helper()
	ctx := context.Background()
	n, err := loam.Open(ctx, loam.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	sp, err := n.CreateSpace(ctx, "bench", loam.Public)
	if err != nil {
		b.Fatal(err)
	}
	return n, sp
}

var value100 = make([]byte, 100)

// BenchmarkPutBatched writes 100,000 puts of 100-byte values in durable
// commits of 1,000 ops into a fresh space per iteration, from one writer
// (each batch waits for the previous one to be durable) and from two
// writers (one batch is prepared and signed while the other is applied and
// synced; batches of 1,000 ops are never merged, so every commit still
// holds 1,000 ops).
func BenchmarkPutBatched(b *testing.B) {
	for _, order := range []string{"sequential", "random"} {
		for _, writers := range []int{1, 2} {
			b.Run(fmt.Sprintf("keys=%s/writers=%d", order, writers), func(b *testing.B) {
				benchBatched(b, order == "random", writers)
			})
		}
	}
}

func benchBatched(b *testing.B, random bool, writers int) {
	const total, per = 100_000, 1_000
	r := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		n, sp := benchSpace(b)
		perm := r.Perm(total)
		var next atomic.Int64
		b.StartTimer()
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c := int(next.Add(per)) - per
					if c >= total {
						return
					}
					bt := sp.Batch()
					for i := c; i < c+per; i++ {
						k := i
						if random {
							k = perm[i]
						}
						bt.Put(fmt.Appendf(nil, "key/%08d", k), value100)
					}
					if err := bt.Commit(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		n.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPutDurable: single-op commits, each acknowledged only once
// durable, from 1 and from 64 concurrent writers sharing fsyncs.
func BenchmarkPutDurable(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			n, sp := benchSpace(b)
			defer n.Close()
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := sp.Put(ctx, fmt.Appendf(nil, "key/%08d", i), value100); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// fill writes keys keys ("key/00000000" on) of 100-byte values to sp, in
// commits of 1,000.
func fill(b *testing.B, sp *loam.Space, keys int) {
	b.Helper()
	for c := 0; c < keys; c += 1000 {
		bt := sp.Batch()
		for i := c; i < c+1000 && i < keys; i++ {
			bt.Put(fmt.Appendf(nil, "key/%08d", i), value100)
		}
		if err := bt.Commit(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// filledSpace returns a space of keys keys (see fill), in a node closed
// when the benchmark ends.
func filledSpace(b *testing.B, keys int) *loam.Space {
	n, sp := benchSpace(b)
	b.Cleanup(func() { n.Close() })
	fill(b, sp, keys)
	return sp
}

// BenchmarkGet reads random keys of a 100,000-key space.
func BenchmarkGet(b *testing.B) {
	sp := filledSpace(b, 100_000)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() { // the first call resets the timer
		if _, err := sp.Get(ctx, fmt.Appendf(nil, "key/%08d", r.IntN(100_000))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkRange reads 100 consecutive keys from a random start in a
// 100,000-key space; the metric counts keys.
func BenchmarkRange(b *testing.B) {
	sp := filledSpace(b, 100_000)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() { // the first call resets the timer
		rangeHundred(b, ctx, sp, fmt.Sprintf("key/%08d", r.IntN(99_900)))
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "keys/s")
}

// rangeHundred reads the 100 keys of sp from start and fails unless
// there are 100. It runs in the timed loop, so it does not call
// b.Helper (a lock and a stack walk a call).
func rangeHundred(b *testing.B, ctx context.Context, sp *loam.Space, start string) {
	got := 0
	for _, err := range sp.Range(ctx, loam.Start(start), loam.Limit(100)) {
		if err != nil {
			b.Fatal(err)
		}
		got++
	}
	if got != 100 {
		b.Fatalf("range returned %d keys", got)
	}
}

// BenchmarkFrontDoor compares one durable Put, and one Get of a
// 10,000-key space, embedded (Open) and through a daemon on loopback
// (Connect): what the HTTP round trip costs.
func BenchmarkFrontDoor(b *testing.B) {
	ctx := context.Background()
	for _, via := range vias {
		n := openVia(b, via, true)
		sp, err := n.CreateSpace(ctx, "bench", loam.Public)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("put/"+via, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if err := sp.Put(ctx, fmt.Appendf(nil, "put/%08d", i), value100); err != nil {
					b.Fatal(err)
				}
			}
		})
		fill(b, sp, 10_000)
		b.Run("get/"+via, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			for b.Loop() {
				if _, err := sp.Get(ctx, fmt.Appendf(nil, "key/%08d", r.IntN(10_000))); err != nil {
					b.Fatal(err)
				}
			}
		})
		if via == "embedded" {
			n.Close()
		}
	}
}
