package keys

import (
	"fmt"
	"testing"

	"github.com/loamdb/loam/internal/testkit"
)

// BenchmarkVerify checks signatures of many authors (one key each, as in
// a chat of many members) one by one and in batches of the sizes sync
// verifies (a worker's share of a frame), per signature, in wall time
// and in the process's CPU time (run with GOMAXPROCS=1 on a shared machine):
//
//	go test -run '^$' -bench Verify ./internal/keys
func BenchmarkVerify(b *testing.B) {
	const n = 1024
	pubs, sigs, ds := make([][Size]byte, n), make([][SigSize]byte, n), make([]Digest, n)
	for i := range n {
		k := DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8)})
		ds[i] = Digest{byte(i), 1}
		pubs[i], sigs[i] = [Size]byte(k.Author()), k.Sign("bench", ds[i])
	}
	b.Run("one", func(b *testing.B) {
		i, cpu0 := 0, testkit.CPUTime()
		for b.Loop() {
			if !Verify(pubs[i%n], "bench", ds[i%n], sigs[i%n][:]) {
				b.Fatal("bad signature")
			}
			i++
		}
		b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/sig")
	})
	// keys: how many keys a batch's signatures are by (0: each by its
	// own): a frame of a chat holds the commits of the few members
	// writing at the time.
	for _, c := range []struct{ size, keys int }{{16, 0}, {64, 0}, {256, 0}, {512, 0}, {512, 16}} {
		size := c.size
		name := fmt.Sprintf("batch=%d", size)
		if c.keys > 0 {
			name += fmt.Sprintf("/keys=%d", c.keys)
		}
		b.Run(name, func(b *testing.B) {
			lo, cpu0 := 0, testkit.CPUTime()
			for b.Loop() {
				bv := NewBatchVerifier(size)
				for i := range size {
					j := (lo + i) % n
					if c.keys > 0 {
						j = (lo + i) % c.keys
					}
					bv.Add(pubs[j], "bench", ds[j], sigs[j][:])
				}
				if !bv.Verify() {
					b.Fatal("bad batch")
				}
				lo += size
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/sig")
			b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N*size), "cpu-ns/sig")
		})
	}
}
