package reconcile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestFrameDeadlines: once a frame started, it must cross within its
// deadline: a peer that trickles a frame, or stops reading, is cut off in
// bounded time. Waiting for a frame to start has no deadline: an idle
// session is never dropped. (Fake time: synctest.)
func TestFrameDeadlines(t *testing.T) {
	to := FrameTimeouts{Grace: time.Second, MinRate: 1 << 20}
	t.Run("trickled frame", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			sc := NewStreamConnTimeouts(a, a, to)
			trickled := make(chan struct{})
			defer func() {
				a.Close()
				b.Close()
				<-trickled
			}()
			go func() {
				defer close(trickled)
				var hdr [binary.MaxVarintLen64]byte
				n := binary.PutUvarint(hdr[:], MaxFrame)
				for _, x := range append(hdr[:n], bytes.Repeat([]byte{1}, 1000)...) {
					if _, err := b.Write([]byte{x}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond) // a byte at a time
				}
			}()
			start := time.Now()
			_, err := sc.ReadFrame()
			if !errors.Is(err, ErrFrameTimeout) || errors.Is(err, ErrMisbehaving) {
				t.Fatalf("trickled frame: %v", err)
			}
			if took, limit := time.Since(start), to.deadline(start, MaxFrame).Sub(start)+time.Second; took > limit {
				t.Fatalf("cut off after %s, the deadline was %s", took, limit)
			}
		})
	})
	t.Run("peer stops reading", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe() // unbuffered: nobody reads b
			defer a.Close()
			defer b.Close()
			sc := NewStreamConnTimeouts(a, a, to)
			start := time.Now()
			err := sc.WriteFrame(make([]byte, 1<<20))
			if !errors.Is(err, ErrFrameTimeout) {
				t.Fatalf("write to a peer that does not read: %v", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("write gave up after %s", took)
			}
		})
	})
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			sc := NewStreamConnTimeouts(a, a, to)
			got := make(chan error, 1)
			go func() {
				_, err := sc.ReadFrame()
				got <- err
			}()
			time.Sleep(24 * time.Hour)
			synctest.Wait()
			select {
			case err := <-got:
				t.Fatalf("an idle stream was cut off: %v", err)
			default:
			}
			// A frame that comes after a day is read whole.
			go sc2(b).WriteFrame([]byte("late"))
			if err := <-got; err != nil {
				t.Fatalf("the frame after the idle day: %v", err)
			}
			a.Close()
			b.Close()
		})
	})
}

func sc2(c net.Conn) *StreamConn { return NewStreamConnTimeouts(c, c, DefaultFrameTimeouts) }
