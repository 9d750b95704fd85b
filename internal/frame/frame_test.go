package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

// read reads every frame of in with a limit, and the error that ended.
func read(in []byte, limit int) ([][]byte, error) {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), io.Discard}, limit, Timeouts{})
	var out [][]byte
	for {
		b, err := c.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

// readInto is read with ReadFrameInto, each frame's first split bytes (at
// most) in one buffer and the rest in another, both reused from frame to
// frame; it returns copies of the frames, joined.
func readInto(in []byte, limit, split int) ([][]byte, error) {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), io.Discard}, limit, Timeouts{})
	headBuf, bodyBuf := make([]byte, split), make([]byte, 64)
	var out [][]byte
	for {
		head, body, err := c.ReadFrameInto(func(n int) ([]byte, []byte) {
			h := min(n, split)
			if n-h > len(bodyBuf) {
				return nil, nil // too large for the buffers: ReadFrameInto allocates
			}
			return headBuf[:h], bodyBuf[:n-h]
		})
		if err != nil {
			return out, err
		}
		out = append(out, append(bytes.Clone(head), body...))
	}
}

// TestReadFrameInto: a frame goes into the buffers the caller gives when
// their lengths add up to the frame's, else into a new slice; either way
// the bytes and the errors are ReadFrame's.
func TestReadFrameInto(t *testing.T) {
	in := []byte{3, 'a', 'b', 'c', 5, 'd', 'e', 'f', 'g', 'h', 2, 'i', 'j'}
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), io.Discard}, limit, Timeouts{})
	var h, b [3]byte
	for _, want := range []struct {
		head, body string
		given      bool
	}{{"a", "bc", true}, {"defgh", "", false}, {"i", "j", true}} {
		head, body, err := c.ReadFrameInto(func(n int) ([]byte, []byte) {
			if n > 1+len(b) {
				return h[:1], b[:] // do not add up: a new slice
			}
			return h[:1], b[:n-1]
		})
		if err != nil || string(head) != want.head || string(body) != want.body {
			t.Fatalf("got %q %q, %v; want %q %q", head, body, err, want.head, want.body)
		}
		if given := &head[0] == &h[0]; given != want.given {
			t.Fatalf("frame %q: in the given buffers: %v, want %v", want.head+want.body, given, want.given)
		}
	}
	if _, _, err := c.ReadFrameInto(nil); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	cut := []byte{5, 'a', 'b', 'c'}
	for split := range 6 {
		if got, err := readInto(cut, limit, split); len(got) != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("a frame cut in its body, split at %d: %d frames, %v", split, len(got), err)
		}
	}
}

// TestReadFrame: frames are read in order; a bad length is the peer's
// fault (ErrMalformed), refused before the frame is read; the stream's end
// is io.EOF between frames and io.ErrUnexpectedEOF inside one.
func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		frames int
		want   error
	}{
		{"empty stream", nil, 0, io.EOF},
		{"two frames", []byte{1, 'a', 2, 'b', 'c'}, 2, io.EOF},
		{"cut in the length", []byte{0x80}, 0, io.ErrUnexpectedEOF},
		{"cut in the body", []byte{0x05, 'a'}, 0, io.ErrUnexpectedEOF},
		{"an empty frame", []byte{0x00}, 0, ErrMalformed},
		{"a length not in its shortest form", []byte{0x85, 0x00, 'a', 'b', 'c', 'd', 'e'}, 0, ErrMalformed},
		{"over the limit", binary.AppendUvarint(nil, limit+1), 0, ErrMalformed},
		{"far over the limit, cut", []byte{0xff, 0xff, 0xff, 0x7f}, 0, ErrMalformed},
		{"over 64 bits", bytes.Repeat([]byte{0xff}, 11), 0, ErrMalformed},
		{"zero groups without end", bytes.Repeat([]byte{0x80}, 20), 0, ErrMalformed},
	} {
		got, err := read(tc.in, limit)
		if len(got) != tc.frames || !errors.Is(err, tc.want) {
			t.Errorf("%s: %d frames, %v; want %d, %v", tc.name, len(got), err, tc.frames, tc.want)
		}
	}
}

// TestLengths: every length up to the limit crosses, each in its shortest
// form; one over it is refused.
func TestLengths(t *testing.T) {
	for _, lim := range []int{1, 127, 128, 1 << 10, limit, MaxLimit} {
		for _, n := range []int{1, 127, 128, 300, 1 << 14, 1 << 21, lim - 1, lim, lim + 1} {
			if n < 1 || n > limit+1 {
				continue
			}
			var buf bytes.Buffer
			if err := NewConn(&buf, lim, Timeouts{}).WriteFrame(make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			if head := buf.Len() - n; head != len(binary.AppendUvarint(nil, uint64(n))) {
				t.Fatalf("a %d-byte frame has a %d-byte length", n, head)
			}
			got, err := read(buf.Bytes(), lim)
			if n > lim {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("limit %d: a frame of %d bytes: %v, want ErrMalformed", lim, n, err)
				}
				continue
			}
			if len(got) != 1 || len(got[0]) != n || err != io.EOF {
				t.Errorf("limit %d: a frame of %d bytes: %d frames, %v", lim, n, len(got), err)
			}
		}
	}
}

// TestAnnouncedFrameCostsWhatArrives: a peer that announces a largest
// frame and sends a little of it makes the reader allocate about what
// arrived (at most allocAtOnce), not what it announced.
func TestAnnouncedFrameCostsWhatArrives(t *testing.T) {
	const announced = 32 << 20
	in := append(binary.AppendUvarint(nil, announced), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := read(in, MaxLimit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a cut frame: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*allocAtOnce {
		t.Fatalf("allocated %d bytes for a %d-byte frame of which 100 came", got, announced)
	}
}

// TestWriteEmpty: an empty frame, which every reader refuses, is not
// written.
func TestWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := NewConn(&buf, limit, Timeouts{}).WriteFrame(nil); err == nil || buf.Len() > 0 {
		t.Fatalf("wrote an empty frame: %v, %x", err, buf.Bytes())
	}
}
