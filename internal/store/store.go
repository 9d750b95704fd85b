package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/bodylog"
	"github.com/loamdb/loam/internal/view"
)

// Errors of the store. Wrapped errors say what to do.
var (
	ErrClosed       = errors.New("store is closed")
	ErrUnknownSpace = errors.New("unknown space")
	ErrNameTaken    = errors.New("space name already in use")
	ErrNotFound     = errors.New("key not found")
	ErrUnauthorized = errors.New("author has no grant for this commit")
	ErrRevoked      = errors.New("commit does not count")
	ErrForked       = errors.New("author forked: its commits from the fork on do not count")
	ErrClock        = errors.New("commit time is not after its author's previous commit")
	ErrWrongSpace   = errors.New("commit belongs to another space")
	ErrGenesis      = errors.New("invalid genesis commit")
	ErrCorrupt      = errors.New("store: corrupt data")
)

// Options configure a Store.
type Options struct {
	// FS is the file system; nil means the operating system's. Tests use
	// vfs.NewMem() to run the same store in memory.
	FS vfs.FS
	// CacheSize is Pebble's block cache in bytes (default 64 MiB).
	CacheSize int64
	// NoSync skips fsync on commit. Only for benchmarks that measure
	// everything but the disk; never in production.
	NoSync bool
	// Notify, if set, is called on the applier goroutine after each durable
	// group commit, once per request that stored anything, in apply order.
	// It MUST NOT block, do I/O (read the Store included) or call back into
	// the Store: the event carries what changed; work on it elsewhere.
	Notify func(Event)
	// Unseal, if set, opens the sealed op payload of a private space's
	// commit of key epoch epoch, returning the plaintext op (see
	// commit.DecodeSealedOp) and true, or false if this node holds no read
	// key for that epoch or the payload does not open. It is called on the
	// applier goroutine and MUST NOT block or call back into the Store.
	// Without it (a seeder) sealed ops are ignored by the view.
	Unseal func(sp keys.SpaceID, epoch uint64, payload []byte) (commit.Op, bool)
	// Rotated, if set, is given the payload of each rotate op of a commit
	// that counts, when the commit is applied to the view (so before any
	// commit that depends on it), on the applier goroutine: a member learns
	// a new epoch's read key before the epoch's sealed ops need it. genesis
	// says the op is in the space's genesis commit (which makes a space
	// private). It MUST NOT block, do I/O or call back into the Store; the
	// payloads are kept (Rotations) for what it did not save.
	Rotated func(sp keys.SpaceID, genesis bool, payload []byte)
	// bodyLog tunes the body log, and bodyChunk the bytes of records a
	// batch appends at a time (this package's tests make both small).
	bodyLog   bodylog.Options
	bodyChunk int
	tailAfter time.Duration // see reclaimTailAfter
	// Now is the wall clock that commits dated in the future are held
	// back against (MaxFuture); nil means time.Now. Tests skew it.
	Now func() time.Time
}

// Event tells Notify what one request changed, once it is durable.
type Event struct {
	Space   keys.SpaceID
	Changes []Change         // visible changes, in apply order
	Stored  []*commit.Commit // commits newly stored (applied, kept as forked, or revoked)
	Voided  []keys.CommitID  // those of Stored that do not count
	Forks   []commit.Fork    // fork evidence newly found
	// Redecided: the space's authorization was decided again (see
	// Result.Redecided); the heads sync announces may have changed.
	Redecided bool
	Erased    []ErasedOp // ops whose payloads were erased (Result.Erased)
}

// Store is the durable state of all spaces of one node.
type Store struct {
	// db is Pebble: the applier writes and reads it directly; readers
	// read the snapshot rs, taken after the applier's last commit (see
	// readstate.go). db is replaced only by the applier (reopen), when no
	// reader holds a read state.
	db *pebble.DB
	// bodies is the commit body log (bodies.go): the applier appends,
	// syncs and removes; readers read. It is opened with the store and
	// closed after Pebble.
	bodies    *bodylog.Log
	bodyOpts  bodylog.Options // Options.bodyLog
	bodyChunk int             // Options.bodyChunk, or bodyChunk
	tailAfter time.Duration   // Options.tailAfter, or reclaimTailAfter
	// rmu guards rs, retired and the read states' counts; it is never
	// held across a read.
	rmu     sync.Mutex
	rs      *readState              // nil once closed, or after a failed reopen
	retired int                     // retired read states still held by readers
	held    map[*readState]struct{} // those read states
	// released wakes the applier when a reader let go of a retired read
	// state (reclaim.go). Buffered, 1.
	released chan struct{}
	gen      uint64 // the generation of the last read state published
	// drained, set by Close, is closed once retired is 0: Close waits
	// for the reads in progress before it closes the database.
	drained chan struct{}
	dir     string
	fs      vfs.FS // what Pebble writes through
	cache   *pebble.Cache
	lock    *pebble.Lock // the directory lock, held across reopens
	memSize uint64       // Pebble's memtable size
	disk    *diskGuard   // nil when the file system does not report its usage
	// readOnly: Pebble was opened read-only because the disk had no room
	// to open it read-write; the applier reopens it once there is. Set
	// by Open, then by the applier holding dbmu.
	readOnly bool
	// dbmu is held (read) by the work that uses db outside the applier
	// and its readers (usage.go), and (write) while db is replaced or
	// closed.
	dbmu sync.RWMutex
	// compacting holds a token while a compaction runs (usage.go).
	compacting chan struct{}

	sync    *pebble.WriteOptions
	notify  func(Event)
	unseal  func(keys.SpaceID, uint64, []byte) (commit.Op, bool) // Options.Unseal
	rotated func(keys.SpaceID, bool, []byte)                     // Options.Rotated
	now     func() time.Time                                     // Options.Now

	// hook, if set by this package's tests (export_test.go) before the
	// requests it concerns are submitted, is called by the applier at
	// named points (see fault); a non-nil error is injected there as a
	// storage failure.
	// They are atomic: a test sets them while the applier may be
	// reclaiming (which comes after a request's reply).
	hook        atomic.Pointer[func(point string, c *commit.Commit) error]
	readHook    atomic.Pointer[func()] // tests: SetReadHook
	reclaimHook atomic.Pointer[func()] // tests: SetReclaimHook
	// batchSeen, if set by this package's tests before use, is called by
	// the applier with each batch it is about to commit (the benchmarks
	// count its bytes by row kind).
	batchSeen func(b *pebble.Batch)
	// fullRedecide, set by this package's tests before use, makes every
	// re-decision decide the whole space (redecide.go).
	fullRedecide bool
	// reference, set by this package's tests before use, makes the whole
	// path rebuild as it did before it streamed (replay.go).
	reference *reference
	// pieceBytes, set by this package's tests before use, is the size at
	// which a rebuild commits a piece of its view (rebuild.go); 0: the
	// default.
	pieceBytes int
	fromCut    atomic.Int64 // re-decisions made from the cut (redecide.go)

	reqs chan *request // to the applier
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the applier has exited

	closeOnce sync.Once
}

// Open opens or creates the store in dir.
//
// A store whose disk has no room to open it read-write (Pebble replays
// its log and writes on open) is opened read-only: reads work, writes
// fail with ErrDiskFull, and the first write once there is room reopens
// it read-write.
func Open(dir string, o Options) (*Store, error) {
	if o.CacheSize == 0 {
		o.CacheSize = 64 << 20
	}
	// The OS file system as it is: Pebble would wrap a nil FS with disk-
	// health checks, whose goroutine wakes every few hundred milliseconds
	// of an idle daemon (#16) to report slow writes to no one.
	if o.FS == nil {
		o.FS = vfs.Default
	}
	s := &Store{
		dir:      dir,
		fs:       o.FS,
		memSize:  maxMemTable,
		sync:     pebble.Sync,
		notify:   o.Notify,
		unseal:   o.Unseal,
		rotated:  o.Rotated,
		now:      o.Now,
		reqs:     make(chan *request, 256),
		released: make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		// One compaction at a time (usage.go).
		compacting: make(chan struct{}, 1),
	}
	if o.NoSync {
		s.sync = pebble.NoSync
	}
	if s.bodyChunk = o.bodyChunk; s.bodyChunk == 0 {
		s.bodyChunk = bodyChunk
	}
	if s.tailAfter = o.tailAfter; s.tailAfter == 0 {
		s.tailAfter = reclaimTailAfter
	}
	if s.now == nil {
		s.now = time.Now
	}
	_, statErr := o.FS.Stat(dir)
	exists := statErr == nil
	var u vfs.DiskUsage
	if s.disk, u = newDiskGuard(o.FS, dir); s.disk != nil {
		_, _, s.memSize = diskSizes(u.TotalBytes)
		s.fs = backoffFS{vfs.OnDiskFull(o.FS, s.disk.onDiskFull)}
		if need := openNeed(o.FS, dir, 3*s.memSize); exists && u.AvailBytes < need {
			if s.disk.dropBallast() {
				if u2, err := s.disk.usage(); err == nil {
					u = u2
				}
			}
			s.readOnly = u.AvailBytes < need
		}
	}
	if s.memSize >= minSizedMemTable { // sizing.go
		s.fs = walFS{FS: s.fs, dir: dir, room: s.disk.room}
	}
	fail := func(err error) (*Store, error) {
		if s.lock != nil {
			s.lock.Close()
		}
		if isNoSpace(err) {
			return nil, fmt.Errorf("store: open %s: %w: %v (free space on that disk, or move the Loam home to a larger one)", dir, ErrDiskFull, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	if !s.readOnly {
		if err := o.FS.MkdirAll(dir, 0o755); err != nil {
			return fail(err)
		}
	}
	var err error
	if s.lock, err = pebble.LockDirectory(dir, o.FS); err != nil {
		return fail(err)
	}
	s.bodyOpts = o.bodyLog
	if s.bodies, err = openBodies(s.fs, dir, s.bodyLogOptions()); err != nil {
		return fail(err)
	}
	s.cache = pebble.NewCache(o.CacheSize)
	if s.db, err = pebble.Open(dir, s.pebbleOptions(s.readOnly)); err != nil {
		s.cache.Unref()
		s.bodies.Close()
		return fail(err)
	}
	s.publish()
	go s.applier()
	if err := s.finishRebuilds(); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return s, nil
}

// finishRebuilds decides again, before Open returns, every space whose
// view state says a crash came between storing commits and deciding them
// (the rebuild or redecide flag): a rebuild that committed part of its
// view in pieces (rebuild.go) left cells of the new view beside cells of
// the old one, which readers must not see. Loading the space decides it
// (load). A space that fails to load is left as it is (its view is
// whole, if stale: the next request for it tries again), but for a space
// whose view is half rebuilt (pieced): readers would see it, so Open
// fails, saying why (a disk too full to write, most likely).
func (s *Store) finishRebuilds() error {
	var e err0
	var flagged []keys.SpaceID
	pieced := map[keys.SpaceID]bool{}
	p := []byte{tagViewState}
	for k, v := range s.scan(context.Background(), p, false, &e) {
		vs, err := decodeViewState(v)
		if err == nil && len(k) == 1+keys.Size && (vs.rebuild || vs.redecide) {
			sp := keys.SpaceID(k[1:])
			flagged = append(flagged, sp)
			pieced[sp] = vs.pieced
		}
	}
	for _, sp := range flagged {
		if _, err := s.Apply(context.Background(), sp, nil); err != nil && pieced[sp] {
			return fmt.Errorf("space %s was half rebuilt when loam stopped, and finishing it failed: %w (if the disk is full, free space on it; then start loam again)", sp, err)
		}
	}
	return nil
}

// pebbleOptions returns the options Pebble is opened with.
func (s *Store) pebbleOptions(readOnly bool) *pebble.Options {
	po := &pebble.Options{
		FS:           s.fs,
		Cache:        s.cache,
		Lock:         s.lock,
		MemTableSize: s.memSize,
		Logger:       quietLogger{},
		ReadOnly:     readOnly,
	}
	po.Experimental.CompactionScheduler = newQuietScheduler() // one per open (scheduler.go)
	// Fewer rewrites of what a sync writes in bulk (#16, docs/design.md
	// "Bytes written per commit"): L0 is compacted at 8 files deep
	// instead of 4, into files of 8 MiB instead of 2, and the base level
	// holds 256 MiB instead of 64, so a row reaches its last level through
	// fewer compactions. BenchmarkManyAuthors at 1,000 authors x 200:
	// 1,126 -> 640 bytes compacted per commit.
	po.L0CompactionThreshold = 8
	po.L0StopWritesThreshold = 24
	po.LBaseMaxBytes = 256 << 20
	po.TargetFileSizes[0] = 8 << 20
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if s.memSize >= minSizedMemTable {
		po.Cleaner = deleter{} // sizing.go
	}
	po.EnsureDefaults()
	return po
}

// Close stops the applier after the requests it is working on and closes
// Pebble. Requests still queued fail with ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.done
		s.rmu.Lock()
		s.retire() // readers still reading close theirs
		s.drained = make(chan struct{})
		if s.retired == 0 {
			close(s.drained)
		}
		s.rmu.Unlock()
		// New reads fail with ErrClosed; those in progress end soon (a
		// read holds no lock, a caller may be slow to close an iterator).
		// Closing the database under them fails ("leaked snapshots")
		// after every write was answered (CI: a CLI exited 1 so).
		select {
		case <-s.drained:
		case <-time.After(closeWaitReads):
		}
		s.dbmu.Lock() // compactions end: quit cancels them
		if s.db != nil {
			err = s.db.Close()
		}
		s.dbmu.Unlock()
		s.cache.Unref()
		err = errors.Join(err, s.bodies.Close(), s.lock.Close())
	})
	return err
}

// closeWaitReads bounds how long Close waits for the reads in progress.
const closeWaitReads = 10 * time.Second

// quietLogger keeps Pebble's messages out of the node's output. A fatal
// error panics with a fatalError: the applier recovers it (see commit)
// and stops writing; elsewhere it ends the process, as Pebble requires.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(string, ...any) {}

func (quietLogger) Fatalf(f string, a ...any) {
	var errs []error
	for _, x := range a {
		if e, ok := x.(error); ok {
			errs = append(errs, e)
		}
	}
	panic(fatalError{msg: fmt.Sprintf(f, a...), errs: errs})
}

// SpaceInfo describes a space held by this node.
type SpaceInfo struct {
	ID      keys.SpaceID
	Name    string    // local name, unique on this node
	Created time.Time // when this node first stored the space
}

type metaJSON struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Spaces lists the spaces held, in ID order.
func (s *Store) Spaces(ctx context.Context) ([]SpaceInfo, error) {
	var out []SpaceInfo
	var e err0
	for k, v := range s.scan(ctx, []byte{tagMeta}, false, &e) {
		info, err := decodeMeta(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	if e.err != nil {
		return nil, fmt.Errorf("store: spaces: %w", e.err)
	}
	return out, nil
}

// err0 collects the error of a scan.
type err0 struct{ err error }

func decodeMeta(k, v []byte) (SpaceInfo, error) {
	var m metaJSON
	if len(k) != 1+keys.Size || json.Unmarshal(v, &m) != nil {
		return SpaceInfo{}, fmt.Errorf("%w: space metadata row", ErrCorrupt)
	}
	var info SpaceInfo
	copy(info.ID[:], k[1:])
	info.Name, info.Created = m.Name, m.Created
	return info, nil
}

// Space returns the description of one space.
func (s *Store) Space(ctx context.Context, id keys.SpaceID) (SpaceInfo, error) {
	k := spaceKey(tagMeta, id)
	v, err := s.get(k)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return SpaceInfo{}, fmt.Errorf("%w %s", ErrUnknownSpace, id)
		}
		return SpaceInfo{}, err
	}
	return decodeMeta(k, v)
}

// SpaceByName resolves a local name.
func (s *Store) SpaceByName(ctx context.Context, name string) (keys.SpaceID, error) {
	v, err := s.get(nameKey(name))
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return keys.SpaceID{}, fmt.Errorf("%w %q", ErrUnknownSpace, name)
		}
		return keys.SpaceID{}, err
	}
	if len(v) != keys.Size {
		return keys.SpaceID{}, fmt.Errorf("%w: name row", ErrCorrupt)
	}
	return keys.SpaceID(v), nil
}

// get returns a copy of the value of k.
func (s *Store) get(k []byte) ([]byte, error) {
	r, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release(r)
	v, closer, err := r.snap.Get(k)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// scan yields the rows with the given prefix; keys and values are only valid
// during the iteration step. Errors land in e.
func (s *Store) scan(ctx context.Context, prefix []byte, reverse bool, e *err0) iter.Seq2[[]byte, []byte] {
	return s.scanRange(ctx, prefix, prefixEnd(prefix), reverse, e)
}

func (s *Store) scanRange(ctx context.Context, lower, upper []byte, reverse bool, e *err0) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		r, err := s.acquire()
		if err != nil {
			e.err = err
			return
		}
		defer s.release(r)
		it, err := r.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			e.err = err
			return
		}
		defer it.Close()
		valid := it.First
		step := it.Next
		if reverse {
			valid, step = it.Last, it.Prev
		}
		for ok := valid(); ok; ok = step() {
			if err := ctx.Err(); err != nil {
				e.err = err
				return
			}
			v, err := it.ValueAndErr()
			if err != nil {
				e.err = err
				return
			}
			if !yield(it.Key(), v) {
				return
			}
		}
		e.err = it.Error()
	}
}

// Get returns the visible entry of key. A key that was never written or
// whose winner is a tombstone is ErrNotFound.
func (s *Store) Get(ctx context.Context, sp keys.SpaceID, key []byte) (view.Entry, error) {
	c, err := s.cell(sp, key)
	if err != nil {
		return view.Entry{}, err
	}
	w, ok := c.Winner()
	if !ok || w.Tombstone() {
		return view.Entry{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return w, nil
}

// Conflicts returns the concurrent writes to key that lost to the winner.
func (s *Store) Conflicts(ctx context.Context, sp keys.SpaceID, key []byte) ([]view.Entry, error) {
	c, err := s.cell(sp, key)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return c.Conflicts(), err
}

func (s *Store) cell(sp keys.SpaceID, key []byte) (view.Cell, error) {
	c, ok, err := s.storedCell(cellKey(sp, key))
	if err == nil && !ok {
		return view.Cell{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return c, err
}

// storedCell reads the cell row at k (a cellKey); ok is false when there
// is none.
func (s *Store) storedCell(k []byte) (c view.Cell, ok bool, err error) {
	v, err := s.get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return view.Cell{}, false, nil
	}
	if err != nil {
		return view.Cell{}, false, fmt.Errorf("store: get: %w", err)
	}
	if c, err = view.DecodeCell(v); err != nil {
		return view.Cell{}, false, fmt.Errorf("%w: cell %q: %v", ErrCorrupt, k[1+keys.Size:], err)
	}
	return c, true, nil
}

// Query selects a key range of a view. Nil fields do not restrict (an
// empty End, not nil, ends before every key). The daemon's API and its
// client (internal/api) carry it as GET …/keys' parameters.
type Query struct {
	Prefix  []byte
	Start   []byte // inclusive
	End     []byte // exclusive
	Limit   int    // 0: no limit
	Reverse bool
}

// KV is one visible key with its winning write.
type KV struct {
	Key   []byte
	Entry view.Entry
}

// Range yields the visible keys of q in key order (reversed with Reverse).
// Keys and values are copies the caller may keep. Deleted keys are skipped.
func (s *Store) Range(ctx context.Context, sp keys.SpaceID, q Query) iter.Seq2[KV, error] {
	lower := cellKey(sp, q.Prefix)
	upper := prefixEnd(lower)
	if q.Start != nil {
		if k := cellKey(sp, q.Start); bytes.Compare(k, lower) > 0 {
			lower = k
		}
	}
	if q.End != nil {
		if k := cellKey(sp, q.End); bytes.Compare(k, upper) < 0 {
			upper = k
		}
	}
	skip := 1 + keys.Size
	return func(yield func(KV, error) bool) {
		if bytes.Compare(lower, upper) >= 0 {
			return
		}
		var e err0
		n := 0
		for k, v := range s.scanRange(ctx, lower, upper, q.Reverse, &e) {
			c, err := view.DecodeCell(v)
			if err != nil {
				yield(KV{}, fmt.Errorf("%w: cell %q: %v", ErrCorrupt, k[skip:], err))
				return
			}
			w, _ := c.Winner()
			if w.Tombstone() {
				continue
			}
			w.Value = bytes.Clone(w.Value)
			if !yield(KV{Key: bytes.Clone(k[skip:]), Entry: w}, nil) {
				return
			}
			if n++; q.Limit > 0 && n >= q.Limit {
				return
			}
		}
		if e.err != nil {
			yield(KV{}, fmt.Errorf("store: range: %w", e.err))
		}
	}
}

// ViewState summarizes a space's view.
type ViewState struct {
	Hash     view.Hash
	Visible  int64      // number of visible keys
	MaxTime  commit.HLC // the latest commit time applied
	rebuild  bool       // a fork was found; the view must be rebuilt
	redecide bool       // a revocation or an invite use arrived: authorization must be decided again
	pieced   bool       // a rebuild committed part of the new view (rebuild.go): it must be finished before any read
}

func (v ViewState) encode() []byte {
	b := make([]byte, 0, 32+8+8+4+1)
	b = append(b, v.Hash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(v.Visible))
	b = binary.BigEndian.AppendUint64(b, v.MaxTime.Wall)
	b = binary.BigEndian.AppendUint32(b, v.MaxTime.Logical)
	var f byte
	if v.rebuild {
		f |= 1
	}
	if v.redecide {
		f |= 2
	}
	if v.pieced {
		f |= 4
	}
	return append(b, f)
}

func decodeViewState(b []byte) (ViewState, error) {
	if len(b) != 53 {
		return ViewState{}, fmt.Errorf("%w: view state row", ErrCorrupt)
	}
	var v ViewState
	copy(v.Hash[:], b)
	v.Visible = int64(binary.BigEndian.Uint64(b[32:]))
	v.MaxTime.Wall = binary.BigEndian.Uint64(b[40:])
	v.MaxTime.Logical = binary.BigEndian.Uint32(b[48:])
	v.rebuild, v.redecide, v.pieced = b[52]&1 != 0, b[52]&2 != 0, b[52]&4 != 0
	return v, nil
}

// View returns the space's view hash, visible key count and latest time.
func (s *Store) View(ctx context.Context, sp keys.SpaceID) (ViewState, error) {
	v, err := s.get(spaceKey(tagViewState, sp))
	if errors.Is(err, pebble.ErrNotFound) {
		return ViewState{}, fmt.Errorf("%w %s", ErrUnknownSpace, sp)
	}
	if err != nil {
		return ViewState{}, err
	}
	return decodeViewState(v)
}

var _ io.Closer = (*Store)(nil)
