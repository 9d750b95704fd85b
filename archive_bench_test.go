package loam_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/loamdb/loam"
)

// BenchmarkArchiveRestore measures writing the archive of a space of 1000
// small writes and a 20 MiB blob, and restoring it on a fresh embedded
// node with no network; bytes/op is the archive's size.
func BenchmarkArchiveRestore(b *testing.B) {
	ctx := context.Background()
	src, err := loam.Open(ctx, loam.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	sp, err := src.CreateSpace(ctx, "street", loam.Public)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		batch := sp.Batch()
		for j := range 100 {
			batch.Put(fmt.Appendf(nil, "chat/%d/%d", i, j), []byte("a message of some length, as chat messages are"))
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	big := make([]byte, 20<<20)
	rand.Read(big)
	if _, err := sp.PutBlob(ctx, []byte("files/big"), bytes.NewReader(big), ""); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.Run("archive", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if _, err := sp.Archive(ctx, &buf, loam.ArchiveOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			n, err := loam.Open(ctx, loam.Options{Home: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := n.RestoreSpace(ctx, bytes.NewReader(buf.Bytes()), loam.RestoreOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			n.Close()
			b.StartTimer()
		}
		b.SetBytes(int64(buf.Len()))
	})
}
