package seal

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/loamdb/loam/internal/keys"
)

// Sealed blobs.
//
// A blob of a private space is stored and sent as a sequence of sealed
// frames: the plaintext is cut into frames of FrameSize bytes (the last
// one shorter, none for an empty blob), and frame i is SealChunk(i). A
// sealed frame is then exactly MaxChunk (1 MiB) bytes, one blob chunk, so
// the blob layer's chunks, verification and partial fetches line up with
// the frames. The ciphertext is hashed into the blob ID like any blob's
// bytes; every frame has a fresh random nonce, so equal files give
// unrelated blob IDs.

// FrameSize is the plaintext of one sealed frame: a sealed frame is
// FrameSize+Overhead = MaxChunk bytes.
const FrameSize = MaxChunk - Overhead

// SealedSize returns the size of the sealed form of a plaintext of plain
// bytes.
func SealedSize(plain int64) int64 {
	frames := (plain + FrameSize - 1) / FrameSize
	return plain + frames*Overhead
}

// PlainSize returns the plaintext size of a sealed blob of sealed bytes, or
// false if no plaintext seals to that size.
func PlainSize(sealed int64) (int64, bool) {
	if sealed < 0 {
		return 0, false
	}
	frames := (sealed + MaxChunk - 1) / MaxChunk
	plain := sealed - frames*Overhead
	if plain < 0 || SealedSize(plain) != sealed {
		return 0, false
	}
	return plain, true
}

// Sealer reads a plaintext and yields its sealed frames: an io.Reader of
// the sealed blob. N counts the plaintext bytes read so far.
type Sealer struct {
	k     ReadKey
	space keys.SpaceID
	epoch uint64
	r     io.Reader

	index uint64 // of the next frame
	plain []byte // FrameSize buffer
	out   []byte // the rest of the current sealed frame
	err   error  // sticky: io.EOF once the plaintext is done
	N     int64
}

// NewSealer returns a Sealer of the plaintext r under k for space and
// epoch.
func NewSealer(k ReadKey, space keys.SpaceID, epoch uint64, r io.Reader) *Sealer {
	return &Sealer{k: k, space: space, epoch: epoch, r: r, plain: make([]byte, FrameSize)}
}

// Read yields the next sealed bytes.
func (s *Sealer) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		n, err := io.ReadFull(s.r, s.plain)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			s.err = io.EOF
		case err != nil:
			s.err = err
			return 0, err
		}
		if n == 0 {
			continue
		}
		ct, err := SealChunk(s.k, s.space, s.epoch, s.index, s.plain[:n])
		if err != nil {
			s.err = err
			return 0, err
		}
		s.index++
		s.N += int64(n)
		s.out = ct
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// ErrSealedSize reports a sealed blob whose size does not match the
// plaintext size its reference claims.
var ErrSealedSize = errors.New("seal: the sealed blob's size does not match its plaintext size")

// Opened reads the plaintext of a sealed blob: an io.ReadSeeker (for
// http.ServeContent and its Range requests), an io.ReaderAt and its Size,
// those of an io.SectionReader over its frames. Every frame is
// authenticated before any of its bytes are returned; a frame that does
// not open fails the read with an error wrapping ErrDecrypt. ReadAt is
// safe for concurrent use; Read and Seek share one offset.
type Opened struct {
	*io.SectionReader
}

// frames reads the plaintext of a sealed blob at any offset, opening the
// frames it covers.
type frames struct {
	keys  []ReadKey // the epoch's keys: two admins may have rotated at once
	space keys.SpaceID
	epoch uint64
	ct    io.ReaderAt
	size  int64 // plaintext
	csize int64 // sealed

	mu    sync.Mutex // guards the last frame opened
	fi    int64      // its index, -1 for none
	frame []byte
	ctBuf []byte
}

// NewOpened returns a reader of the plaintext of the sealed blob ct, of
// sealedSize bytes, whose plaintext is plainSize bytes, sealed under one of
// ks (the keys of epoch) for space.
func NewOpened(ks []ReadKey, space keys.SpaceID, epoch uint64, ct io.ReaderAt, sealedSize, plainSize int64) (*Opened, error) {
	if len(ks) == 0 {
		return nil, fmt.Errorf("%w: no read key for epoch %d", ErrDecrypt, epoch)
	}
	if plainSize < 0 || SealedSize(plainSize) != sealedSize {
		return nil, fmt.Errorf("%w: %d sealed bytes, want %d for %d bytes of plaintext", ErrSealedSize, sealedSize, SealedSize(max(plainSize, 0)), plainSize)
	}
	f := &frames{keys: ks, space: space, epoch: epoch, ct: ct, size: plainSize, csize: sealedSize, fi: -1}
	return &Opened{io.NewSectionReader(f, 0, plainSize)}, nil
}

// ReadAt reads plaintext at off, as io.ReaderAt; a negative offset is an
// error, not the end.
func (o *Opened) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("seal: read at negative offset %d", off)
	}
	return o.SectionReader.ReadAt(p, off)
}

// ReadAt reads plaintext at off, as io.ReaderAt.
func (o *frames) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("seal: read at negative offset %d", off)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for n < len(p) {
		if off >= o.size {
			return n, io.EOF
		}
		fi := off / FrameSize
		if err := o.load(fi); err != nil {
			return n, err
		}
		c := copy(p[n:], o.frame[off-fi*FrameSize:])
		n += c
		off += int64(c)
	}
	return n, nil
}

// load opens frame fi into o.frame; o.mu is held.
func (o *frames) load(fi int64) error {
	if o.fi == fi {
		return nil
	}
	o.fi = -1
	start := fi * MaxChunk
	n := min(int64(MaxChunk), o.csize-start)
	if cap(o.ctBuf) < int(n) {
		o.ctBuf = make([]byte, MaxChunk)
	}
	buf := o.ctBuf[:n]
	// io.ReaderAt may return io.EOF with a whole last frame; a short read
	// is a truncated blob, not a frame that fails to open.
	if got, err := o.ct.ReadAt(buf, start); got < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("seal: read sealed frame %d: %w", fi, err)
	}
	var err error
	for _, k := range o.keys {
		var pt []byte
		if pt, err = OpenChunk(k, o.space, o.epoch, uint64(fi), buf); err == nil {
			o.frame, o.fi = pt, fi
			return nil
		}
	}
	return fmt.Errorf("frame %d: %w", fi, err)
}
