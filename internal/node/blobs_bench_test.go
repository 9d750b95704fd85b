package node

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/testkit"
)

const benchSink = "/loam/test-sink/1"

var blobBenchMiB = flag.Int("blob.mib", 256, "BenchmarkBlobTransfer: MiB per transfer")

// BenchmarkBlobTransfer compares, in one run, a blob download between two
// nodes on loopback (durable when it returns) with its two references:
// copying the same bytes over one raw stream of the same connection
// (raw-stream), and writing them sequentially to one file on the same disk
// with one fsync at the end (write-fsync). The fetch's ratio to the slower
// of the two is what the blob protocol, verification and storage cost over
// what the machine allows. Each also reports cpu-s/op, the CPU time the
// process (both nodes) spent per 256 MiB, user and system: on a shared
// machine the throughput moves with the other load, the CPU time much less.
// Run it with:
//
//	go test -run='^$' -bench=BlobTransfer -benchtime=3x ./internal/node
//
// The fetched blobs and the write-fsync files are kept to the end of their
// sub-benchmark: writing into page-cache pages just freed is cheaper than
// into new ones, and would flatter whichever writes through the page
// cache. The run takes the size for the source and the size again per
// iteration of each sub-benchmark: -blob.mib sets the size, for a disk
// short of room.
func BenchmarkBlobTransfer(b *testing.B) {
	size := *blobBenchMiB << 20
	ctx := context.Background()
	src, err := Open(ctx, Options{Home: b.TempDir(), Listen: loopback})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	data := make([]byte, size)
	crand.Read(data)
	id, _, err := src.AddBlob(ctx, bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	src.host.Handle(benchSink, func(s p2p.Stream) {
		defer s.Close()
		if _, err := io.Copy(io.Discard, s); err != nil {
			s.Reset()
			return
		}
		s.Write([]byte{1})
	})

	b.Run("raw-stream", func(b *testing.B) {
		dst, err := Open(ctx, Options{Home: b.TempDir(), Listen: loopback})
		if err != nil {
			b.Fatal(err)
		}
		defer dst.Close()
		if _, err := dst.Connect(ctx, src.Addrs()[0]); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(size))
		defer reportCPU(b)()
		for b.Loop() {
			s, err := dst.host.Open(ctx, src.Author(), benchSink)
			if err != nil {
				b.Fatal(err)
			}
			s.SetDeadline(time.Now().Add(time.Minute))
			for off := 0; off < size; off += 1 << 20 {
				if _, err := s.Write(data[off : off+1<<20]); err != nil {
					b.Fatal(err)
				}
			}
			s.CloseWrite()
			if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("write-fsync", func(b *testing.B) {
		dir := b.TempDir() // the same file system as the fetch's homes
		b.SetBytes(int64(size))
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < size; off += 1 << 20 {
				if _, err := f.Write(data[off : off+1<<20]); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			// The file is kept until the benchmark ends, as the fetch's
			// chunks are: writing into freed page-cache pages again
			// is cheaper than into new ones, and would flatter it.
		}
	})
	b.Run("blob-fetch", func(b *testing.B) {
		b.SetBytes(int64(size))
		defer reportCPU(b)()
		for b.Loop() {
			b.StopTimer()
			dst, err := Open(ctx, Options{Home: b.TempDir(), Listen: loopback})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := dst.Connect(ctx, src.Addrs()[0]); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := dst.FetchBlob(ctx, id, nil, blob.FetchOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			dst.Close()
			b.StartTimer()
		}
	})
}

// reportCPU returns a function that reports the process's CPU time (user
// and system) since reportCPU was called, per iteration, as cpu-s/op. The
// set-up between iterations is counted too; keep it small.
func reportCPU(b *testing.B) func() {
	start := testkit.CPUTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric((testkit.CPUTime()-start).Seconds()/float64(b.N), "cpu-s/op")
		}
	}
}
