package bodylog

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// load reads the directory at Open: it removes temporary files a crash
// left, checks each segment's header, cuts the last segment's torn tail
// and opens it as the tail, or makes segment 1 in an empty log.
func (l *Log) load() error {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("bodylog: list %s: %w", l.dir, err)
	}
	var nums []uint32
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, ".tmp"); ok {
			if _, ok := parseSegName(base); ok && !l.readOnly {
				// A segment being made or cut when the power
				// failed; the file it was to replace, if any, is whole.
				if err := l.fs.Remove(l.fs.PathJoin(l.dir, name)); err != nil {
					return fmt.Errorf("bodylog: remove %s: %w", name, err)
				}
			}
			continue
		}
		if n, ok := parseSegName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)

	if len(nums) == 0 && l.readOnly {
		l.tail = &segment{num: 1, size: headerSize} // nothing to read
		return nil
	}
	if len(nums) == 0 {
		if err := l.writeSegment(1, nil); err != nil {
			return err
		}
		if err := l.dirf.Sync(); err != nil {
			return fmt.Errorf("bodylog: sync directory %s: %w", l.dir, err)
		}
		return l.openTail(1, headerSize)
	}
	for i, n := range nums {
		size, err := l.checkSegment(n, i == len(nums)-1)
		if err != nil {
			return err
		}
		l.segs[n] = &segment{num: n, size: size}
	}
	last := nums[len(nums)-1]
	if l.readOnly {
		l.tail, l.off = l.segs[last], l.segs[last].size
		return nil
	}
	return l.openTail(last, l.segs[last].size)
}

// checkSegment checks segment seg's header and returns its size; for the
// last segment, the size once its torn tail is cut.
func (l *Log) checkSegment(seg uint32, last bool) (int64, error) {
	name := segName(seg)
	f, err := l.fs.Open(l.path(seg))
	if err != nil {
		return 0, fmt.Errorf("bodylog: open %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("bodylog: stat %s: %w", name, err)
	}
	size := fi.Size()
	var h [headerSize]byte
	if size >= headerSize {
		if _, err := f.ReadAt(h[:], 0); err != nil {
			return 0, fmt.Errorf("bodylog: read %s: %w", name, err)
		}
	}
	if err := checkHeader(h[:min(size, headerSize)], l.dir, seg); err != nil {
		return 0, err
	}
	if size > math.MaxUint32 {
		return 0, fmt.Errorf("bodylog: segment %s holds %d bytes, more than a Loam segment can: move it out of %s", name, size, l.dir)
	}
	if !last {
		return size, nil
	}
	end, err := scan(f, size)
	if err != nil {
		return 0, fmt.Errorf("bodylog: read %s: %w", name, err)
	}
	if end < size && !l.readOnly { // read-only: reads stop at end, the next open for writing cuts
		if err := l.cut(f, seg, end); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// scan reads the records of the segment file f, of size bytes, from its
// start and returns where the first one that does not decode starts (size
// if all do). It fails only if reading fails.
func scan(f vfs.File, size int64) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, headerSize, size-headerSize), 1<<20)
	var h [recordHeaderSize]byte
	var rec []byte
	off := int64(headerSize)
	for off+recordHeaderSize <= size {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 0, err
		}
		n, sum, err := recordLen(h[:])
		if err != nil || off+recordSize(int(n)) > size {
			return off, nil // a torn length, or a record cut short
		}
		if cap(rec) < int(n) {
			rec = make([]byte, n) // n is within the cap and the file
		}
		rec = rec[:n]
		if _, err := io.ReadFull(r, rec); err != nil {
			return 0, err
		}
		if checkRecord(h[:], sum, rec) != nil {
			return off, nil
		}
		off += recordSize(int(n))
	}
	return off, nil
}

// cut makes segment seg's file, open as f, end at end, durably: it copies
// the first end bytes to a new file, syncs it, renames it over the old one
// and syncs the directory. (vfs has no truncate; a crash during the copy
// leaves the old file, and the next Open cuts it again.)
func (l *Log) cut(f vfs.File, seg uint32, end int64) error {
	err := l.writeSegment(seg, func(w vfs.File) error {
		_, err := io.Copy(w, io.NewSectionReader(f, headerSize, end-headerSize))
		return err
	})
	if err != nil {
		return fmt.Errorf("bodylog: cut the torn tail of %s at %d: %w", segName(seg), end, err)
	}
	if err := l.dirf.Sync(); err != nil {
		return fmt.Errorf("bodylog: sync directory %s: %w", l.dir, err)
	}
	return nil
}
