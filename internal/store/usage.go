package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/keys"
)

// Usage is what the store takes on disk, from Pebble's metrics and the
// reserve file: what du of its directory shows, give or take the file
// system's rounding.
type Usage struct {
	// Tables: the sorted tables holding the rows (SpaceUsage splits them
	// by space), compacted or not yet.
	Tables int64
	// Obsolete: tables no longer needed (compacted away), not yet deleted.
	Obsolete int64
	// WAL: the write-ahead logs, those holding rows not yet in tables and
	// those kept to be reused (at most memtableStop+1 of them).
	WAL int64
	// Unflushed: the bytes of rows written to the logs and not yet in
	// tables (part of WAL): no space's figure counts them until Pebble
	// flushes them, which Compact does.
	Unflushed int64
	// Bodies: the commit body log's segment files (bodies.go), records
	// no row names any more included until they are reclaimed.
	Bodies int64
	// Reserve: the emergency reserve file (loam-reserve, see disk.go).
	Reserve int64
	// Other: Pebble's manifest and options files.
	Other int64
	// Total is the sum of the above but Unflushed.
	Total int64
}

// SpaceUsage is what one space's rows take in the store's tables,
// estimated by Pebble from the tables' index blocks (EstimateDiskUsage
// over the space's key ranges, see rangeUsage; docs/design.md "Disk that
// matches the data (#14)"). Rows not yet flushed to tables are in no
// space's figure (see Usage.Unflushed).
type SpaceUsage struct {
	// Live: the view, its cells (the visible values of the space's keys,
	// and deletions not yet compacted away) and its state row.
	Live int64
	// History: the commits as received, with their indexes (heads,
	// version vectors, grants, fork evidence, rotations): every write
	// ever made, superseded or not, until it is erased. It counts the
	// records of the space's commits in the body log exactly.
	History int64
}

// spaceRanges returns the key ranges of space sp's rows: those of the
// commit tables (0x10-0x1f), and those of the view (0x20-0x2f). Every
// table tag of those blocks is covered, including tags not used yet.
func spaceRanges(sp keys.SpaceID) (history, live [][2][]byte) {
	for tag := 0x10; tag < 0x30; tag++ {
		start := spaceKey(byte(tag), sp)
		r := [2][]byte{start, prefixEnd(start)}
		if tag < 0x20 {
			history = append(history, r)
		} else {
			live = append(live, r)
		}
	}
	return history, live
}

// withDB runs fn with the Pebble instance, outside the applier, holding
// dbmu: a reopen (disk.go) does not swap the instance meanwhile, and
// Close waits for it. fn may read s.readOnly.
func (s *Store) withDB(fn func(db *pebble.DB) error) error {
	s.dbmu.RLock()
	defer s.dbmu.RUnlock()
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	if s.db == nil {
		return errGone
	}
	return fn(s.db)
}

// Usage returns what the store takes on disk. It is cheap (metrics held in
// memory, and one stat) and safe for concurrent use.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := s.withDB(func(db *pebble.DB) error {
		m := db.Metrics()
		u = Usage{
			Tables:    int64(m.Table.Local.LiveSize + m.BlobFiles.Local.LiveSize),
			Obsolete:  int64(m.Table.Local.ObsoleteSize + m.Table.Local.ZombieSize + m.BlobFiles.Local.ObsoleteSize + m.BlobFiles.Local.ZombieSize),
			WAL:       int64(m.WAL.PhysicalSize + m.WAL.ObsoletePhysicalSize),
			Unflushed: int64(m.WAL.Size),
		}
		u.Other = max(int64(m.DiskSpaceUsage())-u.Tables-u.Obsolete-u.WAL, 0)
		return nil
	})
	if err != nil {
		return Usage{}, fmt.Errorf("store: usage: %w", err)
	}
	if g := s.disk; g != nil {
		if fi, err := g.fs.Stat(g.ballastPath()); err == nil {
			u.Reserve = fi.Size()
		}
	}
	for _, si := range s.bodies.Segments() {
		u.Bodies += si.Size
	}
	u.Total = u.Tables + u.Obsolete + u.WAL + u.Bodies + u.Reserve + u.Other
	return u, nil
}

// SpaceUsage returns what space sp's rows take in the store's tables (an
// estimate: see SpaceUsage), and its commits in the body log. It reads
// one row per key range at most, and every commit row of the space (the
// records' lengths: about 0.1 µs a commit). A space not held has no
// rows: its figures are 0.
func (s *Store) SpaceUsage(ctx context.Context, sp keys.SpaceID) (SpaceUsage, error) {
	var u SpaceUsage
	history, live := spaceRanges(sp)
	err := s.withDB(func(db *pebble.DB) error {
		for _, r := range history {
			n, err := rangeUsage(db, r[0], r[1])
			if err != nil {
				return err
			}
			u.History += n
		}
		for _, r := range live {
			n, err := rangeUsage(db, r[0], r[1])
			if err != nil {
				return err
			}
			u.Live += n
		}
		n, err := spaceBodies(ctx, db, sp)
		u.History += n
		return err
	})
	if err != nil {
		return SpaceUsage{}, fmt.Errorf("store: usage of %s: %w", sp, err)
	}
	return u, nil
}

// spaceBodies returns the bytes of the records the commit rows of space sp
// name in the body log.
func spaceBodies(ctx context.Context, db *pebble.DB, sp keys.SpaceID) (int64, error) {
	p := spaceKey(tagCommit, sp)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	var n int64
	for i, ok := 0, it.First(); ok; i, ok = i+1, it.Next() {
		if cv, err := decodeCommitValue(it.Value()); err == nil && cv.Logged {
			n += int64(cv.Place.Len) + 8
		}
		if i%4096 == 0 && ctx.Err() != nil {
			break
		}
	}
	err = errors.Join(it.Error(), it.Close(), ctx.Err())
	return n, err
}

// rangeUsage estimates what the rows in [start, end) take in the tables,
// 0 if there is none. Pebble's estimate counts the data blocks that
// overlap the range, so a range that holds rows counts up to a block
// (about 4 KiB) of its neighbours' rows at each end, and one that holds
// none would count a block too: it is looked for first (one seek).
func rangeUsage(db *pebble.DB, start, end []byte) (int64, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return 0, err
	}
	has := it.First()
	if err := it.Close(); err != nil || !has {
		return 0, err
	}
	n, err := db.EstimateDiskUsage(start, end)
	return int64(n), err
}

// CompactProgress reports a compaction's progress: Done of Total key
// ranges are compacted.
type CompactProgress struct{ Done, Total int }

// Compact flushes the rows not yet in tables and compacts the key ranges
// of space sp (nil: of the whole store), so that rows deleted or
// overwritten there free their disk space now rather than when Pebble
// would get to them. progress, if not nil, is called after each range
// (from this goroutine). Writes go on meanwhile; compactions run one at
// a time (a second call waits for the first). It returns when done,
// when ctx ends, or when the store closes (ErrClosed). A store opened
// read-only for lack of space cannot compact (ErrDiskFull). Compacting
// the whole store also reclaims the body log (ReclaimBodies) first.
func (s *Store) Compact(ctx context.Context, sp *keys.SpaceID, progress func(CompactProgress)) error {
	var reclaimErr error
	if sp == nil {
		if err := s.ReclaimBodies(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return fmt.Errorf("store: compact: %w", err)
			}
			// A segment that does not read must not keep Pebble's
			// compaction from freeing what it can.
			reclaimErr = fmt.Errorf("store: compact: the commit body log: %w", err)
		}
	}
	return errors.Join(s.compactRanges(ctx, sp, progress), reclaimErr)
}

func (s *Store) compactRanges(ctx context.Context, sp *keys.SpaceID, progress func(CompactProgress)) error {
	var ranges [][2][]byte
	if sp != nil {
		h, l := spaceRanges(*sp)
		ranges = append(h, l...)
		ranges = append(ranges, [2][]byte{spaceKey(tagMeta, *sp), prefixEnd(spaceKey(tagMeta, *sp))})
	} else {
		// The whole store, one table tag at a time, for progress.
		for tag := 0; tag < 0xff; tag++ {
			ranges = append(ranges, [2][]byte{{byte(tag)}, {byte(tag + 1)}})
		}
	}
	// One compaction at a time: another waits for it (or its ctx).
	select {
	case s.compacting <- struct{}{}:
		defer func() { <-s.compacting }()
	case <-ctx.Done():
		return fmt.Errorf("store: compact: %w", ctx.Err())
	case <-s.quit:
		return fmt.Errorf("store: compact: %w", ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with Compact
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := s.withDB(func(db *pebble.DB) error {
		if s.readOnly {
			return fmt.Errorf("%w: the store was opened read-only for lack of space: free space on that disk first", ErrDiskFull)
		}
		if err := db.Flush(); err != nil {
			return err
		}
		// Only the ranges that hold rows, so that progress counts work.
		full := ranges[:0]
		for _, r := range ranges {
			n, err := rangeUsage(db, r[0], r[1])
			if err != nil {
				return err
			}
			if n > 0 {
				full = append(full, r)
			}
		}
		for i, r := range full {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := db.Compact(ctx, r[0], r[1], true); err != nil {
				return err
			}
			if progress != nil {
				progress(CompactProgress{Done: i + 1, Total: len(full)})
			}
		}
		s.waitDeleted(ctx, db)
		return nil
	})
	if err != nil {
		select {
		case <-s.quit:
			err = ErrClosed
		default:
		}
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %v", ErrDiskFull, err)
		}
		return fmt.Errorf("store: compact: %w", err)
	}
	return nil
}

// deleteWait bounds how long Compact waits for Pebble to delete the files
// it made obsolete: a loaded disk takes seconds.
const deleteWait = 30 * time.Second

// waitDeleted waits, up to deleteWait, until Pebble has deleted the tables
// a compaction made obsolete and the logs its flush did (it does in the
// background, just after), so that the usage read after Compact shows the
// space freed. Pebble counts a log queued for deletion as gone (with its
// recycling off, see deleter), so the logs are counted on the disk: no
// more than Pebble's live ones and those it keeps to recycle (a small
// disk's, see minSizedMemTable).
func (s *Store) waitDeleted(ctx context.Context, db *pebble.DB) {
	deadline := time.Now().Add(deleteWait)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	pending := func() bool {
		onDisk := s.logFiles()
		m := db.Metrics()
		return m.Table.Local.ObsoleteSize > 0 || onDisk > m.WAL.Files+m.WAL.ObsoleteFiles
	}
	for pending() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logFiles counts the write-ahead logs in the store's directory.
func (s *Store) logFiles() int64 {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, name := range names {
		if strings.HasSuffix(name, ".log") {
			n++
		}
	}
	return n
}

// CompactSpace compacts space sp's key ranges (Compact): for the callers
// that freed rows of one space (an erase, a retention pass, a leave) and
// want the disk space back now rather than when Pebble gets to them. It
// takes as long as rewriting the space's tables: call it from a goroutine
// of its own, never from the applier (it would hold every write).
func (s *Store) CompactSpace(ctx context.Context, sp keys.SpaceID) error {
	return s.Compact(ctx, &sp, nil)
}
