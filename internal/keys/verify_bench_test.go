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
	for _, size := range []int{16, 64, 256, 512} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			lo, cpu0 := 0, testkit.CPUTime()
			for b.Loop() {
				bv := NewBatchVerifier(size)
				for i := range size {
					j := (lo + i) % n
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
