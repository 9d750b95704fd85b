package commit

import (
	"fmt"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// BenchmarkDecode measures Decode (and DecodeHeader) of a single-op
// commit with 0 and 14 deps, the commits of a many-author sync (#16).
// It uses only what main has too, so it runs on both sides of a change:
//
//	go test -run '^$' -bench 'Decode' -benchmem -count 5 ./internal/commit
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{0, 14} {
		deps := make([]keys.CommitID, n)
		for i := range deps {
			deps[i] = keys.CommitID{byte(i + 1), 0xaa}
		}
		c, err := Build(Header{
			Space: testSpace.Space(), Author: testDevice.Author(), Seq: 7, Prev: keys.CommitID{9},
			Time: HLC{Wall: 1_700_000_000_000_000, Logical: 1}, Deps: deps,
		}, []Op{Put([]byte("chat/general/0000042"), []byte("a message of about forty bytes, say...."))}, testDevice)
		if err != nil {
			b.Fatal(err)
		}
		raw := c.Bytes()
		b.Run(fmt.Sprintf("deps=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("header/deps=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeHeader(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
