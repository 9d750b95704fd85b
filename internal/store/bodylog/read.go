package bodylog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A reader is a segment file opened for Read. It is closed once it is
// dropped from its segment and no Read uses it.
type reader struct {
	f    vfs.File
	refs int    // Reads using f; guarded by Log.mu
	used uint64 // Log.tick when last used; guarded by Log.mu
	drop bool   // dropped: the last Read closes f; guarded by Log.mu
}

// Read appends the bytes of the record at p to dst and returns the result,
// after checking the record's length and checksum. It reads with ReadAt on
// a handle kept open per segment (at most Options.MaxOpenSegments). A place
// past what the log has written, in a segment it does not have, or whose
// record does not decode gets an error wrapping ErrCorrupt.
//
// Read may be called from any goroutine, concurrently with Append.
func (l *Log) Read(p Place, dst []byte) ([]byte, error) {
	if p.Len > MaxRecord {
		return dst, corrupt(p, "length over the 64 MiB cap")
	}
	r, err := l.acquire(p)
	if err != nil {
		return dst, err
	}
	n := int(recordSize(int(p.Len)))
	dst = slices.Grow(dst, n)
	b := dst[len(dst) : len(dst)+n]
	_, err = r.f.ReadAt(b, int64(p.Off))
	l.release(r)
	if errors.Is(err, io.EOF) {
		return dst, corrupt(p, "the file is shorter than the log wrote")
	}
	if err != nil {
		return dst, fmt.Errorf("bodylog: read %s at offset %d: %w", segName(p.Seg), p.Off, err)
	}
	ln, sum, err := recordLen(b)
	if err != nil {
		return dst, corrupt(p, err.Error())
	}
	if ln != p.Len {
		return dst, corrupt(p, fmt.Sprintf("the record there is %d bytes, the place says %d", ln, p.Len))
	}
	if err := checkRecord(b, sum, b[recordHeaderSize:]); err != nil {
		return dst, corrupt(p, err.Error())
	}
	copy(b, b[recordHeaderSize:])
	return dst[:len(dst)+int(p.Len)], nil
}

func corrupt(p Place, why string) error {
	return fmt.Errorf("bodylog: read %s at offset %d (%d bytes): %w: %s", segName(p.Seg), p.Off, p.Len, ErrCorrupt, why)
}

// acquire returns a reader of p's segment, after checking that the log has
// written p's record; release it after use.
func (l *Log) acquire(p Place) (*reader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return nil, ErrClosed
		}
		s := l.segs[p.Seg]
		if s == nil {
			return nil, corrupt(p, "no such segment (removed, or never written)")
		}
		if p.Off < headerSize || int64(p.Off)+recordSize(int(p.Len)) > s.size {
			return nil, corrupt(p, fmt.Sprintf("past the %d bytes written there", s.size))
		}
		if r := s.r; r != nil {
			r.refs++
			r.used = l.tick
			l.tick++
			return r, nil
		}
		// Open the file without holding mu, then look again: the
		// segment may have been removed, or opened by another Read.
		l.mu.Unlock()
		f, err := l.fs.Open(l.path(p.Seg))
		l.mu.Lock()
		if l.closed || l.segs[p.Seg] != s || s.r != nil {
			if err == nil {
				f.Close()
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bodylog: open %s: %w", segName(p.Seg), err)
		}
		s.r = &reader{f: f}
		l.open[s.num] = s
		if len(l.open) > l.maxOpen {
			l.evict(s)
		}
	}
}

// release ends a Read's use of r.
func (l *Log) release(r *reader) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.refs--
	if r.drop && r.refs == 0 {
		r.f.Close()
	}
}

// evict drops the reader least recently used, other than keep's. l.mu
// must be held.
func (l *Log) evict(keep *segment) {
	var lru *segment
	for _, s := range l.open {
		if s != keep && (lru == nil || s.r.used < lru.r.used) {
			lru = s
		}
	}
	if lru != nil {
		l.dropReader(lru)
	}
}

// dropReader closes s's reader, or has its last Read close it. l.mu must
// be held.
func (l *Log) dropReader(s *segment) {
	r := s.r
	if r == nil {
		return
	}
	s.r = nil
	delete(l.open, s.num)
	if r.refs == 0 {
		r.f.Close()
	} else {
		r.drop = true
	}
}

// Scan calls fn with the place and bytes of each record of segment seg, in
// order, up to what the log has written there (rec is valid only during
// the call). It stops at fn's first error and returns it; a record that
// does not decode ends it with an error wrapping ErrCorrupt. The store
// scans a segment it reclaims (Append, Sync and Remove follow).
//
// Scan may be called from any goroutine; it reads through a handle of its
// own.
func (l *Log) Scan(seg uint32, fn func(p Place, rec []byte) error) error {
	l.mu.Lock()
	s, closed := l.segs[seg], l.closed
	var size int64
	if s != nil {
		size = s.size
	}
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if s == nil {
		return fmt.Errorf("bodylog: scan %s: %w: no such segment", segName(seg), ErrCorrupt)
	}
	f, err := l.fs.Open(l.path(seg))
	if err != nil {
		return fmt.Errorf("bodylog: open %s: %w", segName(seg), err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, headerSize, size-headerSize), 1<<20)
	var h [recordHeaderSize]byte
	var rec []byte
	for off := int64(headerSize); off < size; {
		p := Place{Seg: seg, Off: uint32(off)}
		if off+recordHeaderSize > size {
			return corrupt(p, "a record header cut short")
		}
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return fmt.Errorf("bodylog: scan %s at offset %d: %w", segName(seg), off, err)
		}
		n, sum, err := recordLen(h[:])
		if err != nil {
			return corrupt(p, err.Error())
		}
		p.Len = n
		if off+recordSize(int(n)) > size {
			return corrupt(p, fmt.Sprintf("past the %d bytes written there", size))
		}
		if cap(rec) < int(n) {
			rec = make([]byte, n)
		}
		rec = rec[:n]
		if _, err := io.ReadFull(r, rec); err != nil {
			return fmt.Errorf("bodylog: scan %s at offset %d: %w", segName(seg), off, err)
		}
		if err := checkRecord(h[:], sum, rec); err != nil {
			return corrupt(p, err.Error())
		}
		if err := fn(p, rec); err != nil {
			return err
		}
		off += recordSize(int(n))
	}
	return nil
}
