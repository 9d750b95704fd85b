package p2p

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

const sinkProto = "/loam/test-sink/1"

// BenchmarkStreamThroughput copies 64 MiB over one stream between two
// hosts on loopback, per transport and security protocol. Run it with:
//
//	go test -run='^$' -bench=StreamThroughput ./internal/p2p
func BenchmarkStreamThroughput(b *testing.B) {
	const size = 64 << 20
	for _, bc := range []struct {
		name, listen string
		security     []string
	}{
		{"TCP+TLS", tcpLoopback, []string{tls.ID}},
		{"TCP+Noise", tcpLoopback, []string{noise.ID}},
		{"QUIC", quicLoopback, nil}, // QUIC always secures with its own TLS 1.3
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := newTestHost(b, Config{security: bc.security}, bc.listen)
			dst := newTestHost(b, Config{security: bc.security}, bc.listen)
			// The sink reads everything, then answers with one byte so
			// the sender knows all of it arrived.
			dst.Handle(sinkProto, func(s Stream) {
				defer s.Close()
				if _, err := io.Copy(io.Discard, s); err != nil {
					s.Reset()
					return
				}
				s.Write([]byte{1})
			})
			connect(b, src, dst, "/ip4/")

			buf := make([]byte, 1<<20)
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				sendAll(b, src, dst, buf, size)
			}
		})
	}
}

// sendAll writes size bytes to dst over a new sink stream and waits for
// the sink's acknowledgement.
func sendAll(b *testing.B, src, dst *Host, buf []byte, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := src.Open(ctx, dst.ID(), sinkProto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(time.Minute))
	for sent := 0; sent < size; sent += len(buf) {
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		b.Fatalf("waiting for the sink: %v", err)
	}
}
