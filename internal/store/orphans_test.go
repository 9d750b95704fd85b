package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// eraseOf returns an erase op of op 0 of c.
func eraseOf(t *testing.T, c *commit.Commit) commit.Op {
	t.Helper()
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: 0, Key: c.Ops[0].Key}}})
	if err != nil {
		t.Fatal(err)
	}
	return er
}

// reclaimAndClose reclaims the body log, compacts and closes st, and
// fails t if a file of dir (on fs) still holds marker.
func reclaimAndClose(t *testing.T, st *store.Store, fs vfs.FS, dir string, marker []byte) {
	t.Helper()
	ctx := context.Background()
	if err := st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if fs == vfs.Default {
		if held := filesHolding(t, dir, marker); len(held) > 0 {
			t.Fatalf("after the erase, ReclaimBodies, Compact and Close the erased payload is in %v", held)
		}
		return
	}
	bodies := fs.PathJoin(dir, "bodies")
	names, err := fs.List(bodies)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		f, err := fs.Open(fs.PathJoin(bodies, n))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		b := make([]byte, st.Size())
		_, err = f.ReadAt(b, 0)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, marker) {
			t.Fatalf("after the erase, ReclaimBodies, Compact and Close the erased payload is in %s", n)
		}
	}
}

// TestOrphanOfDroppedBatch: a request fails after its batch appended a
// commit's record (a storage error on a later commit of it); the batch
// is dropped, the commit is stored again later in a new record, then
// erased. The first record, which no row ever named, must not keep the
// payload. It failed before (the review of bodylog2, D1): such a record
// was counted nowhere, so no reclaim looked at its segment.
func TestOrphanOfDroppedBatch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(21, 22))
	b := newBodyStore(t, vfs.Default, dir, 31, 2, store.Options{})
	marker := fmt.Appendf(nil, "orphaned-payload-%x", r.Uint64())
	secret := b.writers[1].next(commit.Put([]byte("secret"), marker))
	pad := b.writers[1].next(commit.Put([]byte("pad"), make([]byte, 5000))) // past a 4 KiB chunk: secret's record is appended
	last := b.writers[1].next(commit.Put([]byte("x"), []byte("y")))
	injected := errors.New("injected")
	store.SetHook(b.st, func(p string, c *commit.Commit) error {
		if p == "stored" && c != nil && c.ID == last.ID {
			return injected
		}
		return nil
	})
	if _, err := b.st.Apply(ctx, b.sp, []*commit.Commit{secret, pad, last}); !errors.Is(err, injected) {
		t.Fatalf("want the injected error, got %v", err)
	}
	store.SetHook(b.st, nil)
	if len(filesHolding(t, filepath.Join(dir, "bodies"), marker)) == 0 {
		t.Fatal("the dropped batch appended no record of the payload: the test shows nothing")
	}
	b.apply(t, b.puts(r, 0, 30)...)
	b.apply(t, secret, pad, last)
	b.apply(t, b.puts(r, 0, 40)...)
	b.apply(t, b.writers[1].next(eraseOf(t, secret)))
	reclaimAndClose(t, b.st, vfs.Default, dir, marker)
}

// TestOrphanOfCrash: the power fails after the body log synced a group's
// records and before Pebble committed its rows; reopened, the store is
// given the same commits again (they were not acknowledged) and one is
// erased. The records the crash left, which no row names, must not keep
// the payload: on open, what lies past the log's end as the last commit
// set it is counted dead. It failed before (D1).
func TestOrphanOfCrash(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	fs := vfs.NewCrashableMem()
	b := newBodyStore(t, fs, "db", 33, 2, store.Options{})
	b.apply(t, b.puts(r, 0, 20)...)
	marker := fmt.Appendf(nil, "crash-orphan-%x", r.Uint64())
	secret := b.writers[1].next(commit.Put([]byte("secret"), marker))
	var crashed *vfs.MemFS
	store.SetHook(b.st, func(p string, c *commit.Commit) error {
		if p == "bodies synced" && crashed == nil {
			crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
		}
		return nil
	})
	b.apply(t, secret)
	store.SetHook(b.st, nil)
	b.st.Close()
	st, err := store.Open("db", store.WithBodySegments(store.Options{FS: crashed}, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	b.st = st
	b.apply(t, b.puts(r, 0, 40)...) // rolls the tail past the orphan
	b.apply(t, secret)
	b.apply(t, b.writers[1].next(eraseOf(t, secret)))
	reclaimAndClose(t, st, crashed, "db", marker)
}

// TestReaderDuringReclaim: a reader of one commit (CommitByID) has read
// its row when the commit's segment is reclaimed (an erase of another
// commit in it, then ReclaimBodies); the segment must stay until the
// reader has read the body. It failed before (D2): the reader let go of
// its read state between the row and the body, the segment was removed,
// and the read failed with ErrCorrupt.
func TestReaderDuringReclaim(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(25, 26))
	b := newBodyStore(t, vfs.NewMem(), "db", 35, 1, store.Options{})
	cs := b.puts(r, 0, 60)
	b.apply(t, cs...)
	var target, other *commit.Commit
	for i := 0; i+1 < len(cs) && target == nil; i++ {
		s1, err1 := store.CommitSegment(b.st, b.sp, cs[i].Author, cs[i].Seq)
		s2, err2 := store.CommitSegment(b.st, b.sp, cs[i+1].Author, cs[i+1].Seq)
		if err1 == nil && err2 == nil && s1 == s2 && s1 != store.BodySegments(b.st)[len(store.BodySegments(b.st))-1].Seg {
			target, other = cs[i], cs[i+1]
		}
	}
	if target == nil {
		t.Fatal("no two commits in one segment before the tail")
	}
	erase := b.writers[0].next(eraseOf(t, other))
	var once atomic.Bool
	store.SetReadHook(b.st, func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		if _, err := b.st.Apply(ctx, b.sp, []*commit.Commit{erase}); err != nil {
			t.Error(err)
		}
		if err := b.st.ReclaimBodies(ctx); err != nil {
			t.Error(err)
		}
	})
	got, err := b.st.CommitByID(ctx, b.sp, target.ID)
	store.SetReadHook(b.st, nil)
	if !once.Load() {
		t.Fatal("the read hook was not called")
	}
	if err != nil {
		t.Fatalf("a reader amid a reclaim of its commit's segment: %v", err)
	}
	if !bytes.Equal(got, target.Bytes()) {
		t.Fatal("the commit reads back with other bytes")
	}
}

// TestReaderAfterErase: a reader whose read state was published after an
// erase and before the reclaim that renames the erased record's segment
// still reads every commit it iterates: the segment is removed only once
// no read state from before the renaming is held (the review's T1).
func TestReaderAfterErase(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	b := newBodyStore(t, vfs.NewMem(), "db", 15, 1, store.Options{})
	cs := b.puts(r, 0, 60)
	b.apply(t, cs...)
	secret := cs[len(cs)-2] // in the tail: only ReclaimBodies reclaims it
	b.apply(t, b.writers[0].next(eraseOf(t, secret)))
	next, stop := iter.Pull2(b.st.Commits(ctx, b.sp, secret.Author, cs[len(cs)-4].Seq))
	defer stop()
	if _, err, ok := next(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := b.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	for i := len(cs) - 3; i < len(cs); i++ {
		sc, err, ok := next()
		if !ok {
			t.Fatalf("the reader stopped before commit %d", cs[i].Seq)
		}
		if err != nil {
			t.Fatalf("the reader's commit %d: %v", cs[i].Seq, err)
		}
		if sc.ID != cs[i].ID || (cs[i] != secret && !bytes.Equal(sc.Bytes, cs[i].Bytes())) {
			t.Fatalf("commit %d reads back as another", sc.Seq)
		}
	}
}

// budgetFS lets the body log's segments take only so many more bytes
// (ENOSPC past them) and reports the disk's free space to match: the
// store's reserve (64 MiB on its 1 GiB disk) and what is left.
type budgetFS struct {
	vfs.FS
	left *atomic.Int64 // < 0: unlimited
	lie  bool          // report the disk half free whatever is left
}

func (fs budgetFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	if err != nil || !strings.HasSuffix(name, ".seg") {
		return f, err
	}
	return budgetFile{File: f, left: fs.left}, nil
}

func (fs budgetFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err != nil || !strings.Contains(name, ".seg") {
		return f, err
	}
	return budgetFile{File: f, left: fs.left}, nil
}

func (fs budgetFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	const total, reserve = 1 << 30, 64 << 20
	free := uint64(total / 2)
	if l := fs.left.Load(); l >= 0 && !fs.lie {
		free = reserve + uint64(l)
	}
	return vfs.DiskUsage{TotalBytes: total, AvailBytes: free, UsedBytes: total - free}, nil
}

type budgetFile struct {
	vfs.File
	left *atomic.Int64
}

func (f budgetFile) WriteAt(p []byte, off int64) (int, error) {
	if l := f.left.Load(); l >= 0 {
		if int64(len(p)) > l {
			return 0, syscall.ENOSPC
		}
		f.left.Add(-int64(len(p)))
	}
	return f.File.WriteAt(p, off)
}

func (f budgetFile) Write(p []byte) (int, error) {
	if l := f.left.Load(); l >= 0 {
		if int64(len(p)) > l {
			return 0, syscall.ENOSPC
		}
		f.left.Add(-int64(len(p)))
	}
	return f.File.Write(p)
}

// TestReclaimLeavesRoom: on a disk with room for 4 KiB more, an erase is
// taken, and the reclaim it makes due (copying a 16 KiB segment's live
// records) waits for room rather than failing a write of the body log,
// which would stop the applier: a small write after it is taken. It
// failed before (D3: "a 243-byte write refused ... no space left on
// device").
func TestReclaimLeavesRoom(t *testing.T) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(-1)
	r := rand.New(rand.NewPCG(61, 62))
	var reclaims atomic.Int64
	b := newBodyStore(t, budgetFS{FS: vfs.NewMem(), left: &left}, "db", 37, 1, store.Options{})
	cs := b.puts(r, 0, 60)
	b.apply(t, cs...)
	left.Store(4 << 10)
	store.SetReclaimHook(b.st, func() { reclaims.Add(1) })
	b.apply(t, b.writers[0].next(eraseOf(t, cs[1]))) // in the first segment
	// The applier looks at the log after it answered: once it has, the
	// next request comes after that look.
	deadline := time.Now().Add(10 * time.Second)
	for reclaims.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the applier never looked at the log after the erase")
		}
		time.Sleep(time.Millisecond)
	}
	small := b.writers[0].next(commit.Put([]byte("tiny"), []byte("x")))
	if _, err := b.st.Apply(ctx, b.sp, []*commit.Commit{small}); err != nil {
		t.Fatalf("a %d-byte write refused with room for %d bytes left: %v", len(small.Bytes()), left.Load(), err)
	}
	// Once there is room, the erased record goes.
	left.Store(-1)
	if err := b.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	for _, si := range store.BodySegments(b.st) {
		if seg, _ := store.CommitSegment(b.st, b.sp, cs[0].Author, cs[0].Seq); seg == si.Seg && si.Seg == 1 {
			t.Fatal("the first segment, with the erased record, was not reclaimed once there was room")
		}
	}
}

// TestBrokenApplierIdle: an erased record waits in the tail (reclaimed
// after 100 ms here), then the body log fails a write and the applier
// stops writing; once the tail's time has passed, the applier must not
// look at the log again and again. It failed before (D4: hundreds of
// thousands of looks a second, a core at 100%).
func TestBrokenApplierIdle(t *testing.T) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(-1)
	r := rand.New(rand.NewPCG(63, 64))
	b := newBodyStore(t, budgetFS{FS: vfs.NewMem(), left: &left, lie: true}, "db", 39, 1, store.WithTailAfter(store.Options{}, 100*time.Millisecond))
	cs := b.puts(r, 0, 5)
	b.apply(t, cs...)
	var reclaims atomic.Int64
	store.SetReclaimHook(b.st, func() { reclaims.Add(1) })
	b.apply(t, b.writers[0].next(eraseOf(t, cs[len(cs)-1]))) // in the tail
	left.Store(0)
	if _, err := b.st.Apply(ctx, b.sp, b.puts(r, 0, 1)); !errors.Is(err, store.ErrDiskFull) || !strings.Contains(err.Error(), "body log") {
		t.Fatalf("a write to a body log that cannot write: %v, want the log's failure", err)
	}
	time.Sleep(300 * time.Millisecond) // past the tail's time: a window to count in, not a wait for an event
	before := reclaims.Load()
	time.Sleep(300 * time.Millisecond)
	if n := reclaims.Load() - before; n > 5 {
		t.Fatalf("the stopped applier looked at the body log %d times in 300 ms", n)
	}
}

// TestFullDiskTornTailOpensReadOnly: a store whose disk is full and whose
// body log has a torn tail (a power cut amid an append) opens read-only,
// as it did before the log, and serves reads; once the disk has room the
// store takes writes again and the torn bytes are gone. It failed before
// (the review's R4): the log cut the tail at open, which wrote, and Open
// failed with ErrDiskFull.
func TestFullDiskTornTailOpensReadOnly(t *testing.T) {
	ctx := context.Background()
	q := newQuotaFS(16 << 20)
	st := openWithin(t, q, store.Options{})
	sk := keys.SpaceKeyFromSeed([32]byte{7})
	sp := sk.Space()
	a := newAuthor(t, sp, sk)
	genesis := a.next(commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}))
	if err := st.CreateSpace(ctx, "s", genesis); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := q.List("db/bodies")
	if err != nil {
		t.Fatal(err)
	}
	var tail string
	for _, n := range names {
		if strings.HasSuffix(n, ".seg") {
			tail = n
		}
	}
	f, err := q.OpenReadWrite("db/bodies/"+tail, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	torn := []byte{0, 0, 4, 0, 1, 2, 3, 4, 5, 6} // a record's length and a few of its bytes
	if _, err := f.WriteAt(torn, fi.Size()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := q.Remove("db/loam-reserve"); err != nil {
		t.Fatal(err)
	}
	filler := q.fill(t, 0)
	st, err = store.Open("db", store.Options{FS: q})
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	defer st.Close()
	if _, err := st.CommitByID(ctx, sp, genesis.ID); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	put := a.next(commit.Put([]byte("k"), []byte("v")))
	if _, err := st.Apply(ctx, sp, []*commit.Commit{put}); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("a write on a full disk: %v, want ErrDiskFull", err)
	}
	if err := q.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, sp, []*commit.Commit{put}); err != nil {
		t.Fatalf("a write once the disk has room: %v", err)
	}
	for _, c := range []*commit.Commit{genesis, put} {
		b, err := st.CommitByID(ctx, sp, c.ID)
		if err != nil || !bytes.Equal(b, c.Bytes()) {
			t.Fatalf("commit %s after the reopen: %v", c, err)
		}
	}
}
