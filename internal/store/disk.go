package store

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrDiskFull is wrapped by the error of a write refused because the disk
// holding the store is (nearly) full. The write changed nothing; it can be
// made again once space is freed.
var ErrDiskFull = errors.New("the disk is full")

// The store keeps free space for its own work, so that a full disk is an
// error on a write and never a failure inside Pebble (a WAL or MANIFEST
// write that fails is fatal to it, and a flush that fails is retried
// without end): see docs/design.md, "Faults (#10)".
const (
	minReserve  = 1 << 20   // free space kept, at least
	maxReserve  = 256 << 20 // and at most
	minMemTable = 256 << 10
	maxMemTable = 64 << 20
	// ballastName is the file of the emergency reserve, in the store's
	// directory (Pebble ignores files it did not name).
	ballastName = "loam-reserve"
	// enospcBackoff is how long a write that found the disk full waits
	// before it fails, so that Pebble's retries of a failed flush or
	// compaction (immediate, without end) cost a little, not a core.
	enospcBackoff = time.Second
)

// diskGuard keeps the store off a full disk. It is used by the applier
// goroutine, and by Pebble's OnDiskFull callback (any goroutine) through
// the atomic ballast flag.
type diskGuard struct {
	fs  vfs.FS // the file system without the OnDiskFull wrapper
	dir string
	// reserve is the free space the store keeps for Pebble's own writes
	// (flushes, compactions, the manifest): a write that would leave less
	// is refused with ErrDiskFull.
	reserve uint64
	// ballast is the size of the emergency reserve: a file that is
	// deleted when a write finds the disk full all the same (another
	// program filled it), so that Pebble's write is retried and succeeds.
	// Writes resume only once it can be made again.
	ballast   uint64
	hasBallst atomic.Bool
}

// diskSizes returns, for a file system of total bytes, the free space to
// keep, the ballast's size and Pebble's memtable size: for the reserve,
// 5% of the disk, but at least a quarter of it up to 64 MiB (a compaction
// writes its output before it deletes its input: on a small disk that is
// a large part of the data), between 1 and 256 MiB; a quarter of the
// reserve for the memtable (which bounds a flush; between 256 KiB and
// 64 MiB) and the ballast.
func diskSizes(total uint64) (reserve, ballast, memtable uint64) {
	reserve = min(max(total/20, min(total/4, 64<<20), minReserve), maxReserve)
	memtable = min(max(reserve/4, minMemTable), maxMemTable)
	return reserve, memtable, memtable
}

// newDiskGuard returns the guard of the store in dir on fs, or nil if fs
// does not report its usage (then nothing is checked).
func newDiskGuard(fs vfs.FS, dir string) (*diskGuard, vfs.DiskUsage) {
	u, err := fs.GetDiskUsage(existingParent(fs, dir))
	if err != nil || u.TotalBytes == 0 {
		return nil, vfs.DiskUsage{}
	}
	g := &diskGuard{fs: fs, dir: dir}
	g.reserve, g.ballast, _ = diskSizes(u.TotalBytes)
	if fi, err := fs.Stat(g.ballastPath()); err == nil && uint64(fi.Size()) >= g.ballast {
		g.hasBallst.Store(true)
	}
	return g, u
}

// existingParent returns dir or its nearest existing ancestor: disk usage
// is asked of a path that exists.
func existingParent(fs vfs.FS, dir string) string {
	for p := dir; ; p = fs.PathDir(p) {
		if _, err := fs.Stat(p); err == nil || p == fs.PathDir(p) {
			return p
		}
	}
}

func (g *diskGuard) ballastPath() string { return g.fs.PathJoin(g.dir, ballastName) }

func (g *diskGuard) usage() (vfs.DiskUsage, error) { return g.fs.GetDiskUsage(g.dir) }

// room reports whether the disk has n bytes free besides the reserve;
// true for a nil guard (usage unknown), and when the usage cannot be read
// for a moment.
func (g *diskGuard) room(n uint64) bool {
	if g == nil {
		return true
	}
	u, err := g.usage()
	return err != nil || u.AvailBytes >= g.reserve+n
}

// full returns the error of a write refused for lack of space.
func (g *diskGuard) full(avail uint64, what string) error {
	return fmt.Errorf("%w: %s has %s free, and the store keeps %s free for its own work: %s (free space on that disk, or move the Loam home to a larger one, then try again)",
		ErrDiskFull, g.dir, human(avail), human(g.reserve), what)
}

// Room returns an error wrapping ErrDiskFull if the disk holding the
// store has less free space than the store keeps for itself: for writers
// of other files on the same disk (blobs), so that they do not take the
// store's reserve. It is safe for concurrent use.
func (s *Store) Room() error {
	g := s.disk
	if g == nil {
		return nil
	}
	u, err := g.usage()
	if err != nil || u.AvailBytes >= g.reserve {
		return nil
	}
	return g.full(u.AvailBytes, "nothing more is written to it")
}

// Writable returns nil if a write of about need bytes would be admitted
// now (see admit), or an error wrapping ErrDiskFull if not: for writers
// that paused because the disk was full (sync sessions) to know when to
// go on. It makes nothing. It is safe for concurrent use.
func (s *Store) Writable(need uint64) error {
	g := s.disk
	if g == nil {
		return nil
	}
	u, err := g.usage()
	if err != nil {
		return nil
	}
	want := g.reserve + need
	if !g.hasBallst.Load() {
		want += g.ballast
	}
	if u.AvailBytes < want {
		return g.full(u.AvailBytes, "writes resume once there is room for the reserve again")
	}
	return nil
}

// admit checks, before a group commit of about need bytes, that the disk
// has room for it and for the reserve, and that the ballast is in place
// (making it again if there is room for that too). It returns an error
// wrapping ErrDiskFull if not.
func (g *diskGuard) admit(need uint64) error {
	u, err := g.usage()
	if err != nil {
		return nil // the usage is unknown for a moment: Pebble's own errors will tell
	}
	if !g.hasBallst.Load() {
		if u.AvailBytes < g.reserve+g.ballast+need {
			return g.full(u.AvailBytes, "writes resume once there is room for the reserve again")
		}
		if err := g.makeBallast(); err != nil {
			return g.full(u.AvailBytes, fmt.Sprintf("the reserve file could not be made: %v", err))
		}
		if u, err = g.usage(); err != nil {
			return nil
		}
	}
	if u.AvailBytes < g.reserve+need {
		return g.full(u.AvailBytes, fmt.Sprintf("this write needs about %s more", human(need)))
	}
	return nil
}

// makeBallast makes the ballast file, synced: allocated at once where the
// file system can (fallocate), else written with zeros. A partial one is
// removed.
func (g *diskGuard) makeBallast() (err error) {
	p := g.ballastPath()
	f, err := g.fs.Create(p, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			g.fs.Remove(p)
			return
		}
		g.hasBallst.Store(true)
	}()
	if f.Preallocate(0, int64(g.ballast)) == nil {
		// The blocks are allocated; writing the last byte gives the file
		// its size, which tells a ballast made whole.
		if _, err := f.WriteAt([]byte{0}, int64(g.ballast)-1); err != nil {
			return err
		}
		return f.Sync()
	}
	zeros := make([]byte, 1<<20)
	for left := g.ballast; left > 0; {
		n := min(left, uint64(len(zeros)))
		if _, err := f.Write(zeros[:n]); err != nil {
			return err
		}
		left -= n
	}
	return f.Sync()
}

// onDiskFull is Pebble's OnDiskFull callback: a write found the disk full
// although the store kept its reserve (another program filled it). It
// deletes the ballast so that the write, retried once, succeeds; writes
// are then refused until the ballast can be made again.
func (g *diskGuard) onDiskFull() {
	if g.hasBallst.Swap(false) {
		g.fs.Remove(g.ballastPath())
	}
}

// dropBallast deletes the ballast (to open on a full disk); it reports
// whether there was one.
func (g *diskGuard) dropBallast() bool {
	if _, err := g.fs.Stat(g.ballastPath()); err != nil {
		g.hasBallst.Store(false)
		return false
	}
	g.hasBallst.Store(false)
	return g.fs.Remove(g.ballastPath()) == nil
}

// openNeed returns the free space opening the store in dir read-write
// needs: Pebble flushes the write-ahead logs it replays and writes an
// options file and a manifest entry. The logs it replays hold at most the
// unflushed memtables, so at most maxLogs of the logs in the directory
// count: Pebble also keeps obsolete logs there to reuse, and counting
// them asked for room a small disk never had (a daemon on 20 MB stayed
// read-only after half the disk was freed). Open, which fails if Pebble
// finds no room, passes 3 memtables (Pebble stops writes at two full
// ones, plus the one being filled); reopen passes one, since a read-write
// open that finds no room goes back to read-only: writes are refused,
// never lost.
func openNeed(fs vfs.FS, dir string, maxLogs uint64) uint64 {
	var logs uint64
	names, err := fs.List(dir)
	if err == nil {
		for _, n := range names {
			if !strings.HasSuffix(n, ".log") {
				continue
			}
			if fi, err := fs.Stat(fs.PathJoin(dir, n)); err == nil {
				logs += uint64(fi.Size())
			}
		}
	}
	return 64<<10 + min(logs, maxLogs)
}

func human(b uint64) string {
	switch {
	case b >= 10<<30:
		return fmt.Sprintf("%d GiB", b>>30)
	case b >= 10<<20:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 10<<10:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d bytes", b)
}

// isNoSpace reports whether err says the disk is full.
func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) || vfs.IsNoSpaceError(err) }

// backoffFS makes a write that fails for lack of space wait a moment
// before it returns (see enospcBackoff).
type backoffFS struct{ vfs.FS }

func (fs backoffFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		if isNoSpace(err) {
			time.Sleep(enospcBackoff)
		}
		return nil, err
	}
	return backoffFile{f}, nil
}

func (fs backoffFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, c))
}

func (fs backoffFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, c, o...))
}

func (fs backoffFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(old, name, c))
}

func (fs backoffFS) Unwrap() vfs.FS { return fs.FS }

type backoffFile struct{ vfs.File }

func backoff(err error) error {
	if err != nil && isNoSpace(err) {
		time.Sleep(enospcBackoff)
	}
	return err
}

func (f backoffFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, backoff(err)
}

func (f backoffFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, backoff(err)
}

func (f backoffFile) Sync() error     { return backoff(f.File.Sync()) }
func (f backoffFile) SyncData() error { return backoff(f.File.SyncData()) }
func (f backoffFile) SyncTo(n int64) (bool, error) {
	full, err := f.File.SyncTo(n)
	return full, backoff(err)
}

// fatalError is what the store's Pebble logger panics with when Pebble
// reports a fatal error (after which that Pebble instance must not be
// written to again): its message and the errors among its arguments.
type fatalError struct {
	msg  string
	errs []error
}

func (e fatalError) Error() string   { return e.msg }
func (e fatalError) Unwrap() []error { return e.errs }

// admit decides whether the applier may write a group: not after Pebble
// failed a commit, not while the store is open read-only (unless it can
// be reopened read-write now), and not without room on the disk.
func (a *applier) admit(group []*request) error {
	if a.broken != nil {
		return a.broken
	}
	g := a.s.disk
	if g == nil {
		return nil
	}
	if a.s.readOnly {
		if err := a.reopen(); err != nil {
			return err
		}
	}
	need := uint64(0)
	for _, r := range group {
		for _, c := range r.commits {
			need += 3 * uint64(len(c.Bytes()))
		}
	}
	return g.admit(need)
}

// reopen opens Pebble read-write in place of the read-only instance the
// store was opened with, if the disk has room for it now.
func (a *applier) reopen() error {
	s, g := a.s, a.s.disk
	u, err := g.usage()
	if err != nil {
		return g.full(0, "the store is open read-only, and the free space cannot be read")
	}
	need := openNeed(g.fs, s.dir, s.memSize)
	if u.AvailBytes < g.reserve+g.ballast+need {
		return g.full(u.AvailBytes, "the store was opened read-only for lack of space, and writes resume once there is room")
	}
	if !g.hasBallst.Load() {
		if err := g.makeBallast(); err != nil {
			return g.full(u.AvailBytes, fmt.Sprintf("the reserve file could not be made: %v", err))
		}
	}
	// Wait for a moment without readers (never blocking them while they
	// read, so that nested readers cannot deadlock).
	var rwErr error
	swap := func() {
		s.retire()
		if err := s.db.Close(); err != nil {
			s.db = nil
			a.broken = fmt.Errorf("store: reopen %s: %w", s.dir, err)
			return
		}
		db, err := pebble.Open(s.dir, s.pebbleOptions(false))
		if err != nil {
			// Serve reads again as before.
			rwErr = err
			if db, err = pebble.Open(s.dir, s.pebbleOptions(true)); err != nil {
				s.db = nil
				a.broken = fmt.Errorf("store: reopen %s: %w", s.dir, errors.Join(rwErr, err))
				return
			}
		}
		s.db, s.readOnly = db, rwErr != nil
		if !s.readOnly {
			// The body log too, which cuts a torn tail now.
			bodies, err := openBodies(s.fs, s.dir, s.bodyLogOptions())
			if err != nil {
				a.broken = fmt.Errorf("store: reopen the commit body log for writes: %w", err)
			} else {
				s.bodies.Close()
				s.bodies = bodies
			}
		}
		s.rs = s.newReadState(s.db.NewSnapshot())
	}
	swapped := false
	for range 100 {
		if s.dbmu.TryLock() { // not while a compaction runs (usage.go)
			swapped = s.idle(swap)
			s.dbmu.Unlock()
		}
		if swapped {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	switch {
	case !swapped:
		return fmt.Errorf("%w: the store is reopening for writes now that the disk has room again; try again in a moment", ErrDiskFull)
	case a.broken != nil:
		return a.broken
	case rwErr == nil:
		a.reclaimNeeded = true // what waited while the store was read-only
		return nil
	}
	return g.full(u.AvailBytes, fmt.Sprintf("the store could not be reopened for writes: %v", rwErr))
}
