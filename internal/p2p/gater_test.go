package p2p

import (
	"io"
	"sync/atomic"
	"testing"
	"time"
)

func TestBlock(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			a := newTestHost(t, Config{}, tp.listen)
			b := newTestHost(t, Config{}, tp.listen)
			serveEcho(a)
			serveEcho(b)

			// a's gater runs on a clock the test moves.
			var offset atomic.Int64
			start := time.Now()
			a.gater.mu.Lock()
			a.gater.now = func() time.Time { return start.Add(time.Duration(offset.Load())) }
			a.gater.mu.Unlock()

			ea := notifications(a)
			connect(t, a, b, tp.marker)
			waitEvent(t, ea, notice{b.ID(), true})

			// Blocking closes the existing connection.
			a.Block(b.ID(), time.Hour)
			waitEvent(t, ea, notice{b.ID(), false})

			// a refuses to dial b.
			if _, err := a.Connect(testContext(t), addrWith(t, b, tp.marker)); err == nil {
				t.Error("a connected to b while b is blocked")
			}
			// b may complete its side of a handshake, but a drops the
			// connection: no stream gets through.
			_, _ = b.Connect(testContext(t), addrWith(t, a, tp.marker))
			if s, err := b.Open(testContext(t), a.ID(), echoProto); err == nil {
				s.SetDeadline(time.Now().Add(testTimeout))
				_, werr := s.Write([]byte("x"))
				_ = s.CloseWrite()
				_, rerr := io.ReadAll(s)
				s.Close()
				if werr == nil && rerr == nil {
					t.Error("b got an echo from a while blocked")
				}
			}
			if info := peerInfo(t, a, b.ID()); info.Connected {
				t.Errorf("a's info for blocked b: %+v", info)
			}
			select {
			case e := <-ea:
				t.Errorf("notification while blocked: %+v", e)
			default:
			}

			// Once the block expires, b may connect again. b first drops
			// what it may still take for a connection: with QUIC, b can
			// finish its side of the handshake before a refuses it, and
			// learn of the refusal a moment later.
			if err := b.Disconnect(a.ID()); err != nil {
				t.Fatal(err)
			}
			offset.Store(int64(time.Hour + time.Second))
			connect(t, b, a, tp.marker)
			waitEvent(t, ea, notice{b.ID(), true})

			// A block can also be lifted early.
			a.Block(b.ID(), time.Hour)
			waitEvent(t, ea, notice{b.ID(), false})
			a.Block(b.ID(), 0)
			connect(t, a, b, tp.marker)
			waitEvent(t, ea, notice{b.ID(), true})
		})
	}
}
