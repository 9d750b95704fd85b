package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame: the frame reader never panics; under each limit (a blob
// request's 1 KiB, the sync protocol's, a blob answer's), every frame it
// returns holds 1..limit bytes, is the bytes after its shortest length, in
// order, and frames again as the same bytes; it fails only with
// ErrMalformed or the stream's end; ReadFrameInto, into buffers split at
// a few places, reads the same frames and ends the same way. The seeds of
// the sync protocol's FuzzReadFrame and of the blob protocol's are here
// (the blob's corpus runs with its message decoder in internal/blob too).
// Run it with:
//
//	go test -run='^$' -fuzz=FuzzReadFrame -fuzztime=15s ./internal/frame
func FuzzReadFrame(f *testing.F) {
	frame := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = binary.AppendUvarint(out, uint64(len(b)))
			out = append(out, b...)
		}
		return out
	}
	for _, b := range [][]byte{
		{},
		frame([]byte("hello")),
		frame([]byte("a"), []byte{0xa2, 0x01, 0x05, 0x08, 0x63, 'b', 'y', 'e'}),
		frame([]byte("cut"))[:3],              // cut in the body
		{0x80},                                // cut in the length
		{0x00},                                // an empty frame
		{0x85, 0x00, 'a', 'b', 'c', 'd', 'e'}, // a length not in its shortest form
		{0x82, 0x00, 0x00, 0x00},              // the same, as the blob reader's seed
		binary.AppendUvarint(nil, limit+1),    // over the sync limit
		binary.AppendUvarint(nil, 32<<20+128<<10+1<<10+1), // over the blob limit
		bytes.Repeat([]byte{0xff}, 11),                    // over 64 bits
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		append(binary.AppendUvarint(nil, limit), 1, 2, 3), // a largest frame, cut
		append(frame([]byte("want")), 7, 7),               // bytes after a frame
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, lim := range []int{1 << 10, limit, 32<<20 + 128<<10 + 1<<10} {
			frames, err := read(in, lim)
			if !errors.Is(err, ErrMalformed) && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither malformed nor the stream's end", err)
			}
			rest := in
			for _, b := range frames {
				if len(b) == 0 || len(b) > lim {
					t.Fatalf("a frame of %d bytes with limit %d", len(b), lim)
				}
				again := frame(b)
				if !bytes.HasPrefix(rest, again) {
					t.Fatalf("the frame %x is not the bytes after its length in %x", b, rest)
				}
				rest = rest[len(again):]
			}
			// Read into the caller's buffers, the same frames
			// and the same end.
			for _, split := range []int{0, 1, 3} {
				got, ierr := readInto(in, lim, split)
				if len(got) != len(frames) || (ierr == nil) != (err == nil) || ierr != nil && ierr.Error() != err.Error() {
					t.Fatalf("split at %d: %d frames, %v; ReadFrame: %d frames, %v", split, len(got), ierr, len(frames), err)
				}
				for i := range got {
					if !bytes.Equal(got[i], frames[i]) {
						t.Fatalf("split at %d: frame %d is %x, ReadFrame's %x", split, i, got[i], frames[i])
					}
				}
			}
		}
	})
}
