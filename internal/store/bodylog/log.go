package bodylog

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options tune a Log. The zero value is the default.
type Options struct {
	// SegmentSize is the size a segment grows to before the next record
	// starts a new one (default DefaultSegmentSize, at most 1 GiB). A record
	// larger than it gets a segment to itself. Tests set it small.
	SegmentSize int64
	// MaxOpenSegments bounds the segment files Read keeps open (default 64).
	MaxOpenSegments int
	// ReadOnly opens the log for reading only: it writes nothing, not even
	// to cut a torn tail (reads stop before it), and every write fails
	// with ErrReadOnly. A store on a full disk opens it so.
	ReadOnly bool
}

// ErrReadOnly is the error of a write to a log opened read-only.
var ErrReadOnly = errors.New("bodylog: the log is open read-only")

// flushSize is how much Append buffers before it writes.
const flushSize = 1 << 20

// A Log is an append-only log of records in the segment files of one
// directory.
//
// One goroutine, the writer, calls Append, Sync, Remove and Close; Read and
// Segments may be called from any goroutine at any time, concurrently with
// each other and with the writer.
type Log struct {
	fs      vfs.FS
	dir     string
	target  int64 // Options.SegmentSize
	maxOpen int   // Options.MaxOpenSegments
	dirf    vfs.File

	// The writer's state: only the writer goroutine touches these.
	tail     *segment // the segment Append writes to (also in segs)
	tailf    vfs.File // tail, opened for writing (WriteAt)
	off      int64    // tail's written size; tail.size follows it under mu
	buf      []byte   // records encoded, not yet written
	unsynced bool     // tailf was written since its last sync
	dirDirty bool     // a segment was created since the directory's last sync
	err      error    // the first write or sync that failed (ErrReadOnly): the log is unusable
	readOnly bool     // Options.ReadOnly
	wclosed  bool     // Close was called

	mu     sync.Mutex // guards segs, open, tick, closed, and each segment's size and r
	segs   map[uint32]*segment
	open   map[uint32]*segment // the segments whose r is set
	tick   uint64              // counts reads, to find the least recently read segment
	closed bool
}

// A segment is one file of the log.
type segment struct {
	num  uint32
	size int64   // bytes written: Read refuses a record past it
	r    *reader // a handle Read uses, or nil
}

// SegInfo describes a segment file: its number and its size in bytes.
type SegInfo struct {
	Seg  uint32
	Size int64
}

// Open opens the log in dir on fs, making dir if it is missing, and cuts a
// torn tail a crash left: it checks every segment's header, then reads the
// last segment's records from its start and, at the first one that does
// not decode, cuts the file there (durably, before Open returns). It does
// not read the records of earlier segments: each was synced before the
// next was made. A missing segment before the last is fine: Remove made it.
//
// The caller must hold dir exclusively (the store's lock on its home).
func Open(fs vfs.FS, dir string, o Options) (*Log, error) {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.MaxOpenSegments == 0 {
		o.MaxOpenSegments = 64
	}
	if o.SegmentSize < headerSize+recordHeaderSize || o.SegmentSize > maxSegmentSize {
		return nil, fmt.Errorf("bodylog: segment size %d outside %d..%d", o.SegmentSize, headerSize+recordHeaderSize, maxSegmentSize)
	}
	if o.MaxOpenSegments < 1 {
		return nil, fmt.Errorf("bodylog: MaxOpenSegments %d, want at least 1", o.MaxOpenSegments)
	}
	l := &Log{
		fs: fs, dir: dir, target: o.SegmentSize, maxOpen: o.MaxOpenSegments,
		segs: make(map[uint32]*segment), open: make(map[uint32]*segment),
		readOnly: o.ReadOnly,
	}
	if o.ReadOnly {
		l.err = ErrReadOnly
		if _, err := fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
			l.tail = &segment{num: 1, size: headerSize} // nothing to read
			return l, nil
		}
	} else if err := makeDir(fs, dir); err != nil {
		return nil, err
	}
	var err error
	if l.dirf, err = fs.OpenDir(dir); err != nil {
		return nil, fmt.Errorf("bodylog: open directory %s: %w", dir, err)
	}
	if err := l.load(); err != nil {
		l.dirf.Close()
		return nil, err
	}
	return l, nil
}

// makeDir makes dir if it is missing, with its missing parents, and syncs
// the parent of each directory it made so that they stay.
func makeDir(fs vfs.FS, dir string) error {
	if fi, err := fs.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("bodylog: %s is a file, not a directory: move it away", dir)
		}
		return nil
	}
	var made []string
	for p := dir; ; p = fs.PathDir(p) {
		if _, err := fs.Stat(p); err == nil || fs.PathDir(p) == p {
			break
		}
		made = append(made, p)
	}
	if err := fs.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bodylog: make directory %s: %w", dir, err)
	}
	for i := len(made) - 1; i >= 0; i-- {
		if err := syncDir(fs, fs.PathDir(made[i])); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("bodylog: sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bodylog: sync directory %s: %w", dir, err)
	}
	return nil
}

// path is the path of segment seg's file.
func (l *Log) path(seg uint32) string { return l.fs.PathJoin(l.dir, segName(seg)) }

// Append writes recs at the log's tail, in order, and returns their places.
// They are readable when it returns, and durable once Sync returns. A
// record that does not fit in the tail segment starts a new one; the
// segment it leaves is synced first, so that only the last segment can
// have a torn tail.
//
// Append is for the writer goroutine. After a failed write every call
// fails: close the log and open it again.
func (l *Log) Append(recs ...[]byte) ([]Place, error) {
	if err := l.usable(); err != nil {
		return nil, err
	}
	for i, r := range recs {
		if len(r) > MaxRecord {
			return nil, fmt.Errorf("bodylog: append record %d of %d bytes: %w", i, len(r), ErrTooLarge)
		}
	}
	places := make([]Place, len(recs))
	buf := l.buf[:0]
	for i, r := range recs {
		pos := l.off + int64(len(buf))
		if pos > headerSize && pos+recordSize(len(r)) > l.target {
			if err := l.roll(buf); err != nil {
				return nil, err
			}
			buf, pos = buf[:0], l.off
		}
		places[i] = Place{Seg: l.tail.num, Off: uint32(pos), Len: uint32(len(r))}
		buf = appendRecord(buf, r)
		if len(buf) >= flushSize {
			if err := l.write(buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	if err := l.write(buf); err != nil {
		return nil, err
	}
	if cap(buf) <= 4*flushSize {
		l.buf = buf[:0]
	}
	return places, nil
}

// usable returns why the writer cannot write, if it cannot.
func (l *Log) usable() error {
	if l.wclosed {
		return ErrClosed
	}
	return l.err
}

// write writes b at the tail's end.
func (l *Log) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := l.tailf.WriteAt(b, l.off); err != nil {
		return l.fail(fmt.Errorf("bodylog: write %s: %w", segName(l.tail.num), err))
	}
	l.off += int64(len(b))
	l.unsynced = true
	l.mu.Lock()
	l.tail.size = l.off
	l.mu.Unlock()
	return nil
}

// fail records err as the reason the writer stops, and returns it.
func (l *Log) fail(err error) error {
	if l.err == nil {
		l.err = fmt.Errorf("%w (the log must be closed and opened again)", err)
	}
	return l.err
}

// roll writes b to the tail, syncs it (and the directory, if the tail is
// new since the last Sync) and starts the next segment.
func (l *Log) roll(b []byte) error {
	if l.tail.num >= maxSeg {
		return l.fail(fmt.Errorf("bodylog: segment numbers run out at %d: compact the log", maxSeg))
	}
	if err := l.write(b); err != nil {
		return err
	}
	if err := l.syncTail(); err != nil {
		return err
	}
	if err := l.tailf.Close(); err != nil {
		return l.fail(fmt.Errorf("bodylog: close %s: %w", segName(l.tail.num), err))
	}
	l.tailf = nil
	// The segment just synced may itself be new since the last Sync: make
	// its name durable before a later segment can exist, so that a crash
	// never keeps a later segment and loses an earlier one.
	if l.dirDirty {
		if err := l.dirf.Sync(); err != nil {
			return l.fail(fmt.Errorf("bodylog: sync directory %s: %w", l.dir, err))
		}
	}
	seg := l.tail.num + 1
	if err := l.writeSegment(seg, nil); err != nil {
		return l.fail(err)
	}
	l.dirDirty = true
	return l.openTail(seg, headerSize)
}

// writeSegment writes segment seg's file whole and durably, but for its
// directory entry: its header, then body, into a temporary file that is
// synced and renamed into place. So a segment file's header is never torn.
// The caller syncs the directory.
func (l *Log) writeSegment(seg uint32, body func(vfs.File) error) error {
	tmp := l.path(seg) + ".tmp"
	f, err := l.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("bodylog: create %s: %w", tmp, err)
	}
	_, err = f.Write(appendHeader(nil, seg))
	if err == nil && body != nil {
		err = body(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, l.path(seg))
	}
	if err != nil {
		return fmt.Errorf("bodylog: write %s: %w", tmp, err)
	}
	return nil
}

// openTail opens segment seg, of size bytes, for writing, as the tail.
func (l *Log) openTail(seg uint32, size int64) error {
	f, err := l.fs.OpenReadWrite(l.path(seg), vfs.WriteCategoryUnspecified)
	if err != nil {
		return l.fail(fmt.Errorf("bodylog: open %s for writing: %w", segName(seg), err))
	}
	l.tailf, l.off, l.unsynced = f, size, false
	l.mu.Lock()
	s := l.segs[seg]
	if s == nil {
		s = &segment{num: seg}
		l.segs[seg] = s
	}
	s.size = size
	l.tail = s
	l.mu.Unlock()
	return nil
}

func (l *Log) syncTail() error {
	if !l.unsynced {
		return nil
	}
	if err := l.tailf.SyncData(); err != nil {
		return l.fail(fmt.Errorf("bodylog: sync %s: %w", segName(l.tail.num), err))
	}
	l.unsynced = false
	return nil
}

// Sync makes every record appended before it durable: after a crash they
// read back. It syncs the tail segment, and the directory if Append made a
// segment since the last Sync. It is for the writer goroutine.
func (l *Log) Sync() error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.syncTail(); err != nil {
		return err
	}
	if l.dirDirty {
		if err := l.dirf.Sync(); err != nil {
			return l.fail(fmt.Errorf("bodylog: sync directory %s: %w", l.dir, err))
		}
		l.dirDirty = false
	}
	return nil
}

// Segments lists the log's segments, by number, with their sizes (the
// tail's as written so far). The last is the tail.
func (l *Log) Segments() []SegInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegInfo, 0, len(l.segs))
	for _, s := range l.segs {
		out = append(out, SegInfo{Seg: s.num, Size: s.size})
	}
	slices.SortFunc(out, func(a, b SegInfo) int { return cmp.Compare(a.Seg, b.Seg) })
	return out
}

// Remove deletes segment seg, durably; it refuses the tail. Reads of its
// places fail with ErrCorrupt from then on. The log does not know which
// records are still named: the caller (the store) removes a segment only
// when no row names a place in it, and first copies the records still
// named into the tail (Append) and names the copies. Remove is for the
// writer goroutine.
func (l *Log) Remove(seg uint32) error {
	if err := l.usable(); err != nil {
		return err
	}
	if seg == l.tail.num {
		return fmt.Errorf("bodylog: remove %s: it is the tail, which Append writes to", segName(seg))
	}
	l.mu.Lock()
	s := l.segs[seg]
	if s != nil {
		delete(l.segs, seg)
		l.dropReader(s)
	}
	l.mu.Unlock()
	if s == nil {
		return fmt.Errorf("bodylog: remove %s: no such segment", segName(seg))
	}
	if err := l.fs.Remove(l.path(seg)); err != nil {
		return fmt.Errorf("bodylog: remove %s: %w", segName(seg), err)
	}
	if err := l.dirf.Sync(); err != nil {
		return l.fail(fmt.Errorf("bodylog: sync directory %s: %w", l.dir, err))
	}
	return nil
}

// Close closes the log's files. It does not sync: what was appended after
// the last Sync may be lost. Reads after Close fail with ErrClosed. Close
// is for the writer goroutine; a second call does nothing.
func (l *Log) Close() error {
	if l.wclosed {
		return nil
	}
	l.wclosed = true
	var errs []error
	if l.tailf != nil {
		errs = append(errs, l.tailf.Close())
	}
	if l.dirf != nil {
		errs = append(errs, l.dirf.Close())
	}
	l.mu.Lock()
	l.closed = true
	for _, s := range l.open {
		l.dropReader(s)
	}
	l.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bodylog: close: %w", err)
	}
	return nil
}

// Rotate ends the tail: it syncs it (and the directory, if the tail is new
// since the last Sync) and starts the next segment, so that the tail's
// records can be reclaimed (the store does so for a tail that holds an
// erased record). An empty tail is left as it is. Rotate is for the writer
// goroutine.
func (l *Log) Rotate() error {
	if err := l.usable(); err != nil {
		return err
	}
	if l.off == headerSize {
		return nil
	}
	return l.roll(nil)
}

// End returns where the next record goes: the tail's number and its
// written size. End is for the writer goroutine.
func (l *Log) End() (seg uint32, off int64) { return l.tail.num, l.off }

// Records returns the bytes of the segment's records (its size less its
// header).
func (si SegInfo) Records() int64 { return si.Size - headerSize }

// Tail returns the number of the segment Append writes to.
func (l *Log) Tail() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tail.num
}
