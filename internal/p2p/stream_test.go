package p2p

import (
	"bytes"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"
)

const echoProto = "/loam/test-echo/1"

// serveEcho makes h echo every stream of echoProto back to its sender.
func serveEcho(h *Host) {
	h.Handle(echoProto, func(s Stream) {
		defer s.Close()
		if _, err := io.Copy(s, s); err != nil {
			s.Reset()
			return
		}
		s.CloseWrite()
	})
}

func TestStreamEcho(t *testing.T) {
	const size = 4 << 20
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	data := make([]byte, size)
	rng := mrand.New(mrand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}

	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			a := newTestHost(t, Config{}, tp.listen)
			b := newTestHost(t, Config{}, tp.listen)
			serveEcho(b)
			connect(t, a, b, tp.marker)

			s, err := a.Open(testContext(t), b.ID(), echoProto)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if s.Peer() != b.ID() {
				t.Fatalf("stream peer %s, want %s", s.Peer().Short(), b.ID().Short())
			}
			s.SetDeadline(time.Now().Add(testTimeout))

			// Write while reading: the echo would fill flow-control
			// windows otherwise.
			werr := make(chan error, 1)
			go func() {
				_, err := s.Write(data)
				if err == nil {
					err = s.CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(s)
			if err != nil {
				t.Fatalf("read echo: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("echo of %d bytes came back as %d different bytes", len(data), len(got))
			}

			ai := peerInfo(t, a, b.ID())
			if ai.BytesOut != size || ai.BytesIn != size {
				t.Errorf("a's counters for b: in %d out %d, want %d each", ai.BytesIn, ai.BytesOut, size)
			}
			if !ai.Direct || !ai.Connected {
				t.Errorf("a's info for b: %+v, want direct and connected", ai)
			}
			bi := peerInfo(t, b, a.ID())
			if bi.BytesIn != size || bi.BytesOut != size {
				t.Errorf("b's counters for a: in %d out %d, want %d each", bi.BytesIn, bi.BytesOut, size)
			}
		})
	}
}

func TestOpenUnknownProtocol(t *testing.T) {
	a := newTestHost(t, Config{})
	b := newTestHost(t, Config{})
	connect(t, a, b, "/tcp/")
	s, err := a.Open(testContext(t), b.ID(), "/loam/nobody-speaks-this/1")
	if err == nil {
		// Protocol negotiation may be lazy: the error then surfaces on
		// first use.
		_, err = s.Read(make([]byte, 1))
		s.Close()
	}
	if err == nil {
		t.Fatal("stream for an unhandled protocol worked")
	}
}
