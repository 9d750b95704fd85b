package node

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"io"
	"testing"
)

// BenchmarkSealedBlob compares, in one run, writing a 64 MiB blob to a key
// of a public space (chunked, hashed, stored) with writing it to a private
// space (sealed frame by frame first), and reading each back through its
// key. Run it with:
//
//	go test -run='^$' -bench=SealedBlob -benchtime=5x ./internal/node
func BenchmarkSealedBlob(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	n, err := Open(ctx, Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	data := make([]byte, size)
	crand.Read(data)
	var round uint64 // makes each put's bytes new, across runs too
	for _, private := range []bool{false, true} {
		name := map[bool]string{false: "clear", true: "sealed"}[private]
		sp, err := n.NewSpace(ctx, name, SpaceOptions{Private: private})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("put/"+name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				round++
				// New bytes in every chunk each time: chunks already held
				// are not stored again.
				for off := 0; off < size; off += 1 << 19 {
					binary.LittleEndian.PutUint64(data[off:], round)
				}
				if _, _, err := n.PutBlob(ctx, sp, []byte("file"), bytes.NewReader(data), ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		ref, _, err := n.PutBlob(ctx, sp, []byte("file"), bytes.NewReader(data), "")
		if err != nil {
			b.Fatal(err)
		}
		b.Run("read/"+name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				r, err := n.OpenRef(ctx, sp.ID(), ref)
				if err != nil {
					b.Fatal(err)
				}
				if m, err := io.Copy(io.Discard, r); err != nil || m != size {
					b.Fatalf("read %d bytes: %v", m, err)
				}
				r.Close()
			}
		})
	}
}
