package store

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// walChunk is how far ahead of its writes a write-ahead log is allocated.
//
// Pebble preallocates each log to 110% of the memtable size (70 MiB with
// the 64 MiB memtable of a large disk) when it creates it, and creates one
// per memtable, which starts at 256 KiB and doubles: a store holding
// 10 MB had half a dozen logs and 590 MB allocated. Allocating 1 MiB ahead
// keeps what preallocation is for (an fdatasync that needs no block
// allocation for most appends; BenchmarkPutDurable is unchanged, see
// docs/benchmarks.md) while a log takes at most 1 MiB more than it holds.
const walChunk = 1 << 20

// minSizedMemTable is the memtable size from which the store sizes
// Pebble's logs itself (walFS, deleter): 8 MiB, a disk of 128 MB or more
// (diskSizes). On a smaller disk the logs Pebble preallocates are small
// (110% of a memtable of a sixteenth of the disk at most) and the full-disk
// recovery counts on them: a store closed on a full disk frees their
// unused blocks as it next opens, which is the room the daemon's own
// files take when it starts again there (TestDaemonFullDisk); with logs
// allocated as written and deleted once flushed, a flush took that room
// and the daemon could not start, one run in two.
const minSizedMemTable = 8 << 20

// walFS allocates Pebble's write-ahead logs walChunk ahead of their writes
// instead of as Pebble asks (see walChunk), and deletes what Pebble
// archives (see deleter). dir is the store's directory.
type walFS struct {
	vfs.FS
	dir string
	// room reports whether the disk has room for n more bytes besides the
	// store's reserve (diskGuard.room); nil when the disk's usage is not
	// known. A log is not allocated ahead on a disk without room: the
	// allocation would take the space a full disk's recovery needs (the
	// reserve file dropped to reopen the store, the daemon's own files).
	room func(n uint64) bool
}

func (fs walFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &walFile{File: f, room: fs.room}, nil
}

func (fs walFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs walFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, name, c)
	return fs.wrap(name, f, err)
}

func (fs walFS) Unwrap() vfs.FS { return fs.FS }

// walFile is a log written by Pebble (sequentially, by one goroutine, as
// its syncing file does).
type walFile struct {
	vfs.File
	room  func(n uint64) bool // see walFS.room
	off   int64               // bytes written
	alloc int64               // bytes allocated from 0
}

// Preallocate ignores Pebble's requests: Write allocates.
func (*walFile) Preallocate(int64, int64) error { return nil }

func (f *walFile) Write(p []byte) (int, error) {
	if end := f.off + int64(len(p)); end > f.alloc {
		n := (end - f.alloc + walChunk - 1) / walChunk * walChunk
		// An allocation that fails (a file system without fallocate, or
		// a full disk) leaves the write to fail or not by itself.
		if (f.room == nil || f.room(uint64(n))) && f.File.Preallocate(f.alloc, n) == nil {
			f.alloc += n
		}
	}
	n, err := f.File.Write(p)
	f.off += int64(n)
	return n, err
}

// deleter is Pebble's cleaner: it deletes Pebble's obsolete files, as
// its default cleaner does, and also turns its log recycling off. Pebble
// keeps up to MemTableStopWritesThreshold+1 obsolete logs to write over,
// each as large as the largest it wrote (up to a memtable, 64 MiB on a
// large disk), and keeps them for good: 243 MB of logs after writing
// 100 MB. Writing over a recycled log spares the metadata update of an
// append at each fsync; walChunk spares most of it too
// (BenchmarkPutDurable). Pebble recycles no log for a cleaner that needs
// the files' contents, a mark only its ArchiveCleaner can carry: deleter
// is an ArchiveCleaner whose archiving walFS turns into deleting (see
// walFS.Rename).
type deleter struct{ pebble.ArchiveCleaner }

func (deleter) String() string { return "delete" }

// archiveDir is the directory ArchiveCleaner moves files into.
const archiveDir = "archive"

func (fs walFS) isArchive(dir string) bool {
	return filepath.Clean(dir) == filepath.Clean(fs.PathJoin(fs.dir, archiveDir))
}

// MkdirAll does not make the archive directory (see deleter).
func (fs walFS) MkdirAll(dir string, perm os.FileMode) error {
	if fs.isArchive(dir) {
		return nil
	}
	return fs.FS.MkdirAll(dir, perm)
}

// Rename deletes a file moved into the archive directory (see deleter).
func (fs walFS) Rename(old, name string) error {
	if fs.isArchive(fs.PathDir(name)) {
		return fs.FS.Remove(old)
	}
	return fs.FS.Rename(old, name)
}
