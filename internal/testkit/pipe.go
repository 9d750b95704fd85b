package testkit

import (
	"io"
	"sync"
)

// FrameConn is one end of an in-memory pipe of frames, for the sync
// protocol's sessions without a network (it has reconcile.Conn's
// methods): what one end writes, the other reads, in order, up to the
// pipe's buffer. Close ends both ends, as a reset does: a read then
// returns io.EOF and a write io.ErrClosedPipe, except that frames already
// in the buffer may still be read, and a write may still land there
// unread. Its methods are safe for concurrent use.
type FrameConn struct {
	in, out chan []byte
	done    chan struct{}
	once    *sync.Once
}

// FramePipe returns the two ends of a pipe that holds up to buf frames
// each way.
func FramePipe(buf int) (*FrameConn, *FrameConn) {
	ab, ba := make(chan []byte, buf), make(chan []byte, buf)
	done, once := make(chan struct{}), &sync.Once{}
	return &FrameConn{in: ba, out: ab, done: done, once: once}, &FrameConn{in: ab, out: ba, done: done, once: once}
}

// ReadFrame returns the next frame the other end wrote, waiting for one.
func (c *FrameConn) ReadFrame() ([]byte, error) {
	select {
	case f := <-c.in:
		return f, nil
	case <-c.done:
		return nil, io.EOF
	}
}

// WriteFrame sends f to the other end, waiting while the buffer is full.
func (c *FrameConn) WriteFrame(f []byte) error {
	select {
	case c.out <- f:
		return nil
	case <-c.done:
		return io.ErrClosedPipe
	}
}

// Close ends the pipe, both ends; it is idempotent.
func (c *FrameConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
