package reconcile

import (
	"bytes"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// maxHave returns a Have of the largest size a frame may have, with heads
// of random authors (in author order, as a Have must be).
func maxHave(tb testing.TB) []byte {
	tb.Helper()
	var heads []Head
	for {
		var h Head
		rand.Read(h.Author[:])
		rand.Read(h.ID[:])
		h.Seq = 1 << 40
		heads = append(heads, h)
		if len(heads)%1024 == 0 {
			slices.SortFunc(heads, func(a, b Head) int { return bytes.Compare(a.Author[:], b.Author[:]) })
			if b := (&Msg{Type: msgHave, Disc: keys.Digest{1}, Heads: heads}).Encode(); len(b) > MaxFrame-80<<10 {
				for len(b) > MaxFrame {
					heads = heads[:len(heads)-1]
					b = (&Msg{Type: msgHave, Disc: keys.Digest{1}, Heads: heads}).Encode()
				}
				return b
			}
		}
	}
}

// BenchmarkDecodeMaxHave: decoding the largest Have a peer may send. Its
// allocations bound what a peer sending them again and again costs.
func BenchmarkDecodeMaxHave(b *testing.B) {
	f := maxHave(b)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMsg(f); err != nil {
			b.Fatal(err)
		}
	}
}
