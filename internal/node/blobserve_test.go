package node

import (
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/p2p"
)

// resetWithin reads s to its end and fails the test unless it ends in a
// reset within d. It returns the bytes read.
func resetWithin(t *testing.T, s p2p.Stream, d time.Duration) int64 {
	t.Helper()
	type res struct {
		n   int64
		err error
	}
	done := make(chan res, 1)
	go func() {
		n, err := io.Copy(io.Discard, s)
		done <- res{n, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			t.Fatalf("the stream ended cleanly after %d bytes, want a reset", r.n)
		}
		return r.n
	case <-time.After(d):
		s.Reset()
		<-done
		t.Fatalf("the stream is still open after %v", d)
	}
	return 0
}

// TestBlobServeDropsSlowPeers: the blob server drops a peer that announces
// a request frame larger than any request at once, one that trickles a
// frame, and one that stops reading its answer.
func TestBlobServeDropsSlowPeers(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	a.blobTimeouts.serve = frame.Timeouts{Idle: 2 * time.Minute, Grace: 500 * time.Millisecond}
	if _, err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	open := func() p2p.Stream {
		s, err := b.host.Open(ctx, a.Author(), blob.BlobProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Reset() })
		return s
	}

	t.Run("a huge frame", func(t *testing.T) {
		s := open()
		s.Write(binary.AppendUvarint(nil, blob.MaxBlobFrame)) // and nothing more
		resetWithin(t, s, 5*time.Second)
	})

	t.Run("a trickled frame", func(t *testing.T) {
		s := open()
		s.Write(binary.AppendUvarint(nil, 60))
		stop := make(chan struct{})
		defer close(stop)
		go func() { // a byte every 100 ms: the frame would take 6 s
			for range 59 {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := s.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
		resetWithin(t, s, 3*time.Second)
	})

	t.Run("an answer not read", func(t *testing.T) {
		data := make([]byte, 4<<20)
		crand.Read(data)
		id, _, err := a.AddBlob(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		s := open()
		get := (&blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Count: 4}).Encode()
		s.Write(append(binary.AppendUvarint(nil, uint64(len(get))), get...))
		s.CloseWrite()
		time.Sleep(2 * time.Second) // the peer stops reading: what is tested, not synchronization
		if n := resetWithin(t, s, 10*time.Second); n >= int64(len(data)) {
			t.Fatalf("read %d bytes of a %d-byte answer the peer stopped reading", n, len(data))
		}
	})
}
