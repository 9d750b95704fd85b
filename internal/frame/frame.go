package frame

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"
)

// Errors of a framed stream.
var (
	// ErrMalformed reports a frame that breaks the framing: an empty
	// frame, a length over the limit or not in its shortest form. The
	// peer misbehaved.
	ErrMalformed = errors.New("frame: malformed frame")
	// ErrTimeout reports a peer that took longer than the Timeouts allow:
	// it stopped reading or sending, or sends too slowly. It ends the
	// stream but is not misbehaviour: a link can be slow.
	ErrTimeout = errors.New("frame: the peer took too long (it stopped reading or sending, or sends too slowly)")
)

// MaxLimit is the largest limit a Conn accepts.
const MaxLimit = math.MaxInt32

// allocAtOnce bounds what a reader allocates for a frame before its bytes
// arrive: a sync protocol batch or a blob chunk, with its message, at once.
const allocAtOnce = 1<<20 + 64<<10

// Timeouts bound the waits of a framed stream (see the package doc).
type Timeouts struct {
	// Idle bounds each wait for the peer's progress; 0: none.
	Idle time.Duration
	// Grace and MinRate (bytes per second) bound a whole frame once it
	// started: Grace plus its size at MinRate. MinRate 0 adds nothing;
	// both 0: no bound.
	Grace   time.Duration
	MinRate int64
}

// FrameDeadline returns when a frame of size bytes started at start must
// have crossed, or the zero time if t does not bound a whole frame.
func (t Timeouts) FrameDeadline(start time.Time, size int) time.Time {
	if t.Grace <= 0 && t.MinRate <= 0 {
		return time.Time{}
	}
	d := t.Grace
	if t.MinRate > 0 {
		d += time.Duration(int64(size) * int64(time.Second) / t.MinRate)
	}
	return start.Add(d)
}

// wait returns the deadline of a wait for the peer starting at now, for
// a frame whose own deadline is end (zero: none), or the zero time.
func (t Timeouts) wait(now, end time.Time) time.Time {
	if t.Idle <= 0 {
		return end
	}
	if idle := now.Add(t.Idle); end.IsZero() || idle.Before(end) {
		return idle
	}
	return end
}

// Deadliner is a stream whose blocked reads and writes can be made to fail
// at a time (p2p.Stream is one; so is net.Conn).
type Deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Conn reads and writes frames on a byte stream. ReadFrame may be called
// by one goroutine while another calls WriteFrame or WritePaced; neither
// may be called concurrently with itself. If the stream is a Deadliner,
// its read and write deadlines belong to the Conn.
type Conn struct {
	src   io.Reader // the stream
	r     *bufio.Reader
	w     io.Writer
	d     Deadliner // nil: no deadlines
	to    Timeouts
	limit int // the largest frame ReadFrame accepts
	// lenMax is the length of limit as a uvarint: no shortest length
	// within the limit is longer.
	lenMax int

	// The reader's state, used by the reading goroutine only.
	readEnd time.Time // the deadline of the frame being read; zero between frames
	readSet time.Time // the read deadline last set on d
}

// NewConn frames rw: ReadFrame accepts frames of at most limit bytes
// (1..MaxLimit), and every wait is bounded by to if rw is a Deadliner.
func NewConn(rw io.ReadWriter, limit int, to Timeouts) *Conn {
	if limit < 1 || limit > MaxLimit {
		panic(fmt.Sprintf("frame: limit %d out of range", limit))
	}
	c := &Conn{src: rw, w: rw, to: to, limit: limit, lenMax: len(binary.AppendUvarint(nil, uint64(limit)))}
	c.d, _ = rw.(Deadliner)
	c.r = bufio.NewReaderSize(deadlineReader{c}, 64<<10)
	return c
}

// deadlineReader reads the stream, each read within the reader's
// deadline: the frame's, or the idle bound if it comes first.
type deadlineReader struct{ c *Conn }

func (r deadlineReader) Read(p []byte) (int, error) {
	c := r.c
	if c.d != nil {
		if dl := c.to.wait(time.Now(), c.readEnd); !dl.Equal(c.readSet) {
			c.d.SetReadDeadline(dl)
			c.readSet = dl
		}
	}
	return c.src.Read(p)
}

// ReadFrame reads one frame (see the package doc for its errors).
func (c *Conn) ReadFrame() ([]byte, error) {
	b, _, err := c.ReadFrameInto(nil)
	return b, err
}

// ReadFrameInto reads one frame as ReadFrame does, into buffers of the
// caller's if it gives them: into, if not nil, is called once the frame's
// length n is known (within the limit) and before its bytes are read. If
// it returns head and body whose lengths add up to n, the frame's first
// len(head) bytes are read into head and the rest into body, and both are
// returned. Otherwise the frame is read into a new slice, returned as
// head, with body nil. This lets a reader put a message's header in one
// place and its payload in a buffer it reuses, or one aligned for the
// disk.
func (c *Conn) ReadFrameInto(into func(n int) (head, body []byte)) (head, body []byte, err error) {
	c.readEnd = time.Time{}
	defer func() { c.readEnd = time.Time{} }()
	if _, err := c.r.Peek(1); err != nil {
		return nil, nil, c.streamErr(err, false)
	}
	start := time.Now()
	c.readEnd = c.to.FrameDeadline(start, 0)
	n, err := c.readLength()
	if err != nil {
		return nil, nil, err
	}
	c.readEnd = c.to.FrameDeadline(start, n)
	if into != nil {
		if head, body = into(n); len(head)+len(body) == n {
			if _, err := io.ReadFull(c.r, head); err != nil {
				return nil, nil, c.streamErr(err, true)
			}
			if _, err := io.ReadFull(c.r, body); err != nil {
				return nil, nil, c.streamErr(err, true)
			}
			return head, body, nil
		}
	}
	b := make([]byte, min(n, allocAtOnce))
	for read := 0; ; {
		if _, err := io.ReadFull(c.r, b[read:]); err != nil {
			return nil, nil, c.streamErr(err, true)
		}
		if read = len(b); read == n {
			return b, nil, nil
		}
		more := min(n-read, read)
		b = slices.Grow(b, more)[:read+more]
	}
}

// readLength reads a frame's length: in its shortest form, 1..limit. A
// length over the limit is refused at the byte that takes it over.
func (c *Conn) readLength() (int, error) {
	var n uint64
	for i := 0; ; i++ {
		if i == c.lenMax {
			return 0, fmt.Errorf("%w: a length of over %d bytes", ErrMalformed, i)
		}
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, c.streamErr(err, i > 0)
		}
		if i > 0 && b == 0 {
			return 0, fmt.Errorf("%w: a length not in its shortest form", ErrMalformed)
		}
		n |= uint64(b&0x7f) << (7 * i)
		if n > uint64(c.limit) {
			return 0, fmt.Errorf("%w: over %d bytes, the limit", ErrMalformed, c.limit)
		}
		if b < 0x80 {
			break
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: an empty frame", ErrMalformed)
	}
	return int(n), nil
}

// WriteFrame writes b as one frame, within one deadline.
func (c *Conn) WriteFrame(b []byte) error { return c.WritePaced(b, 0, nil) }

// WritePaced writes b as one frame in pieces of at most piece bytes (all
// at once if piece is not positive), calling pace(n) first for each piece
// of n bytes if pace is not nil. Each piece has its own deadline, from
// when pace returns: a wait in pace is not the peer's. An error of pace is
// returned as it is.
func (c *Conn) WritePaced(b []byte, piece int, pace func(n int) error) error {
	if len(b) == 0 {
		return fmt.Errorf("frame: write: an empty frame")
	}
	f := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(b)), uint64(len(b)))
	f = append(f, b...)
	if piece <= 0 {
		piece = len(f)
	}
	if c.d != nil {
		defer c.d.SetWriteDeadline(time.Time{})
	}
	for len(f) > 0 {
		p := f[:min(len(f), piece)]
		if pace != nil {
			if err := pace(len(p)); err != nil {
				return err
			}
		}
		if c.d != nil {
			now := time.Now()
			c.d.SetWriteDeadline(c.to.wait(now, c.to.FrameDeadline(now, len(p))))
		}
		if _, err := c.w.Write(p); err != nil {
			return c.streamErr(err, false)
		}
		f = f[len(p):]
	}
	return nil
}

// streamErr says what a failure of the stream means: a deadline that
// passed is ErrTimeout, the stream's end inside a frame an unexpected one.
func (c *Conn) streamErr(err error, inFrame bool) error {
	var ne interface{ Timeout() bool }
	switch {
	case c.d != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case err == io.EOF && !inFrame:
		return io.EOF // as io.Reader: the stream ended between frames
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("frame: %w", err)
}
