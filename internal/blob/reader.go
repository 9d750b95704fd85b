package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
)

// Reader reads a stored blob. It is an io.ReadSeeker (for
// http.ServeContent and its Range requests), an io.ReaderAt and an
// io.Closer. Every chunk is verified as it is read; reading a chunk that is
// not stored yet fails with ErrNotFound, a damaged one with ErrCorrupt.
//
// A Reader holds a Lease on its blob until Close. It is safe for concurrent
// use, though concurrent Reads share one offset.
type Reader struct {
	s       *Store
	id      BlobID
	m       Manifest
	release func()
	closed  atomic.Bool

	posMu sync.Mutex // guards off
	off   int64

	cacheMu sync.Mutex // guards ci and chunk: the last chunk read
	ci      int        // its index, -1 for none
	chunk   []byte
}

// Open returns a Reader over blob id, whose manifest must be stored; its
// chunks need not all be (see Missing).
func (s *Store) Open(id BlobID) (*Reader, error) {
	release := s.Lease(id)
	m, err := s.readManifest(id)
	if err != nil {
		release()
		return nil, fmt.Errorf("blob: open %s: %w", id, err)
	}
	return &Reader{s: s, id: id, m: m, release: release, ci: -1}, nil
}

// Size returns the size of the blob in bytes.
func (r *Reader) Size() int64 { return r.m.Size }

// ID returns the blob's ID.
func (r *Reader) ID() BlobID { return r.id }

// Manifest returns the blob's manifest.
func (r *Reader) Manifest() Manifest { return r.m }

// Close releases the Reader's lease. Calling it again does nothing.
func (r *Reader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.release()
	}
	return nil
}

// Read reads from the current offset, as io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil // the next Read reports the end
	}
	return n, err
}

// Seek sets the offset for the next Read, as io.Seeker. Seeking past the
// end is allowed; a Read there returns io.EOF.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.m.Size
	default:
		return r.off, fmt.Errorf("blob: seek %s: invalid whence %d", r.id, whence)
	}
	if offset < 0 {
		return r.off, fmt.Errorf("blob: seek %s: negative offset %d", r.id, offset)
	}
	r.off = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at offset off, as io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, fmt.Errorf("blob: read %s: %w", r.id, fs.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("blob: read %s: negative offset %d", r.id, off)
	}
	n := 0
	for n < len(p) && off < r.m.Size {
		i := int(off / ChunkSize)
		c, err := r.chunkAt(i)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], c[off-int64(i)*ChunkSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// chunkAt returns chunk i, verified, from the cache or the store.
func (r *Reader) chunkAt(i int) ([]byte, error) {
	r.cacheMu.Lock()
	if r.ci == i {
		c := r.chunk
		r.cacheMu.Unlock()
		return c, nil
	}
	r.cacheMu.Unlock()
	c, err := r.s.getChunk(r.m.Chunks[i])
	if err == nil && len(c) != r.m.ChunkLen(i) {
		err = fmt.Errorf("%w: %d bytes, the manifest says %d", ErrCorrupt, len(c), r.m.ChunkLen(i))
	}
	if err != nil {
		return nil, fmt.Errorf("blob: read %s: chunk %d (%s): %w", r.id, i, r.m.Chunks[i], err)
	}
	r.cacheMu.Lock()
	r.ci, r.chunk = i, c
	r.cacheMu.Unlock()
	return c, nil
}
