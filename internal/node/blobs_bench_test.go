package node

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/p2p"
)

const benchSink = "/loam/test-sink/1"

// BenchmarkBlobTransfer compares, in one run, a blob download between two
// nodes on loopback with copying the same bytes over one raw stream of the
// same connection: the ratio is what the blob protocol, verification and
// durable storage cost over the transport. Run it with:
//
//	go test -run='^$' -bench=BlobTransfer -benchtime=3x ./internal/node
func BenchmarkBlobTransfer(b *testing.B) {
	const size = 256 << 20
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
		b.SetBytes(size)
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
	b.Run("blob-fetch", func(b *testing.B) {
		b.SetBytes(size)
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
