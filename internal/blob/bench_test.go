package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

// BenchmarkAdd adds 256 MiB of random data to an empty store: chunking,
// hashing and durable writes (chunks written, then one syncfs; the manifest
// fsynced).
//
//	go test -run='^$' -bench=. -benchtime=3x ./internal/blob
func BenchmarkAdd(b *testing.B) {
	data := randBytes(1, 256*MiB)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		s := openStore(b, dir)
		b.StartTimer()
		if _, _, err := s.Add(context.Background(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkSplit is the chunking and hashing of BenchmarkAdd alone.
func BenchmarkSplit(b *testing.B) {
	data := randBytes(1, 256*MiB)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := blob.Split(bytes.NewReader(data), func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet reads and verifies one 1 MiB chunk (from the page cache).
func BenchmarkGet(b *testing.B) {
	s := openStore(b, b.TempDir())
	data := randBytes(2, MiB)
	id := blob.ChunkIDOf(data)
	if err := s.Put(id, data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(MiB)
	for b.Loop() {
		if _, err := s.Get(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads a 64 MiB blob sequentially through a Reader.
func BenchmarkRead(b *testing.B) {
	s := openStore(b, b.TempDir())
	id, _ := addBytes(b, s, randBytes(3, 64*MiB))
	b.SetBytes(64 * MiB)
	for b.Loop() {
		r, err := s.Open(id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkChunkWrites stores 256 chunks of 1 MiB (256 MiB) from 4
// goroutines, as a download does, then makes them durable with one Sync:
// through the page cache (buffered, as Add) or with O_DIRECT (direct, as
// Fetch; through the page cache where the file system refuses it). The
// chunks are kept until the benchmark ends, as a download keeps them.
//
//	go test -run='^$' -bench=ChunkWrites -benchtime=3x ./internal/blob
func BenchmarkChunkWrites(b *testing.B) {
	const n, writers = 256, 4
	chunks := make([][]byte, n)
	ids := make([]blob.ChunkID, n)
	for i := range chunks {
		chunks[i] = randBytes(uint64(100+i), MiB)
		ids[i] = blob.ChunkIDOf(chunks[i])
	}
	for _, direct := range []bool{false, true} {
		name := "buffered"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(n * MiB)
			for b.Loop() {
				b.StopTimer()
				s := openStore(b, b.TempDir())
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				for w := range writers {
					wg.Go(func() {
						for i := w; i < n; i += writers {
							put := func(id blob.ChunkID, data []byte) error { return blob.PutDeferred(s, id, data) }
							if direct {
								put = func(id blob.ChunkID, data []byte) error { return blob.PutDirect(s, id, data) }
							}
							if err := put(ids[i], chunks[i]); err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
				if err := s.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
