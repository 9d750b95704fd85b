package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// limit is the read limit of the tests: the sync protocol's.
const limit = 4<<20 + 64<<10

// TestFrameDeadlines: once a frame started, it must cross within its
// deadline: a peer that trickles a frame, or stops reading, is cut off in
// bounded time. Waiting for a frame to start has no deadline unless Idle
// says so: an idle sync session is never dropped. (Fake time: synctest.)
func TestFrameDeadlines(t *testing.T) {
	to := Timeouts{Grace: time.Second, MinRate: 1 << 20}
	t.Run("trickled frame", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			c := NewConn(a, limit, to)
			trickled := make(chan struct{})
			defer func() {
				a.Close()
				b.Close()
				<-trickled
			}()
			go func() {
				defer close(trickled)
				for _, x := range append(binary.AppendUvarint(nil, limit), bytes.Repeat([]byte{1}, 1000)...) {
					if _, err := b.Write([]byte{x}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond) // a byte at a time
				}
			}()
			start := time.Now()
			_, err := c.ReadFrame()
			if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrMalformed) {
				t.Fatalf("trickled frame: %v", err)
			}
			if took, max := time.Since(start), to.FrameDeadline(start, limit).Sub(start)+time.Second; took > max {
				t.Fatalf("cut off after %s, the deadline was %s", took, max)
			}
		})
	})
	t.Run("peer stops reading", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe() // unbuffered: nobody reads b
			defer a.Close()
			defer b.Close()
			start := time.Now()
			err := NewConn(a, limit, to).WriteFrame(make([]byte, 1<<20))
			if !errors.Is(err, ErrTimeout) {
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
			c := NewConn(a, limit, to)
			got := make(chan error, 1)
			go func() {
				_, err := c.ReadFrame()
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
			go NewConn(b, limit, to).WriteFrame([]byte("late"))
			if err := <-got; err != nil {
				t.Fatalf("the frame after the idle day: %v", err)
			}
			a.Close()
			b.Close()
		})
	})
}

// TestIdle: Idle bounds the wait for a frame's first byte and each wait
// inside one; with no bound on the whole frame, a frame that keeps coming
// is read however long it takes (a throttled seeder's answer), and one
// that stops is not. Paced writes do not count the pacing.
func TestIdle(t *testing.T) {
	to := Timeouts{Idle: time.Minute}
	t.Run("nothing comes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			start := time.Now()
			if _, err := NewConn(a, limit, to).ReadFrame(); !errors.Is(err, ErrTimeout) || time.Since(start) != time.Minute {
				t.Fatalf("after %v: %v, want a timeout after a minute", time.Since(start), err)
			}
		})
	})
	t.Run("slow but steady", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			msg := bytes.Repeat([]byte{7}, 100)
			go NewConn(b, limit, Timeouts{}).WritePaced(msg, 10, func(int) error {
				time.Sleep(50 * time.Second) // a piece every 50 s: 9 minutes in all
				return nil
			})
			start := time.Now()
			got, err := NewConn(a, limit, to).ReadFrame()
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("after %v: %v", time.Since(start), err)
			}
		})
	})
	t.Run("stops inside a frame", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go b.Write([]byte{5, 'a', 'b'})
			start := time.Now()
			if _, err := NewConn(a, limit, to).ReadFrame(); !errors.Is(err, ErrTimeout) || time.Since(start) != time.Minute {
				t.Fatalf("after %v: %v, want a timeout a minute after the last byte", time.Since(start), err)
			}
		})
	})
	t.Run("a paced write", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go io.Copy(io.Discard, b)
			// Each piece waits 2 minutes in pace, longer than Idle: the
			// wait is ours, not the peer's.
			err := NewConn(a, limit, to).WritePaced(make([]byte, 30), 10, func(int) error {
				time.Sleep(2 * time.Minute)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	})
}
