package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// quotaFS is a memory file system of a fixed size: a write past it fails
// with ENOSPC after writing what fits, as a disk does. lie makes it
// report plenty of room all the same (another program fills the disk
// between the store's check and its write), and failLog makes writes to
// Pebble's log fail with ENOSPC until the reserve or a filler is removed (the log's
// preallocated space aside: the disk is full at the moment it writes).
type quotaFS struct {
	*vfs.MemFS
	size    uint64
	lie     atomic.Bool
	failLog atomic.Bool
	mu      sync.Mutex       // serializes writes, so that two cannot both fit
	pre     map[string]int64 // bytes preallocated per file (allocated beyond its size); guarded by mu
}

func newQuotaFS(size uint64) *quotaFS {
	return &quotaFS{MemFS: vfs.NewMem(), size: size, pre: map[string]int64{}}
}

// used sums the space every file takes: its size, or what was
// preallocated for it if more. Callers hold mu.
func (q *quotaFS) used() uint64 {
	var n uint64
	var walk func(dir string)
	walk = func(dir string) {
		names, _ := q.MemFS.List(dir)
		for _, name := range names {
			p := q.PathJoin(dir, name)
			fi, err := q.MemFS.Stat(p)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				walk(p)
				continue
			}
			n += uint64(max(fi.Size(), q.pre[p]))
		}
	}
	walk("/")
	return n
}

// avail is the free space. Callers hold mu.
func (q *quotaFS) avail() uint64 { return q.size - min(q.used(), q.size) }

func (q *quotaFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	q.mu.Lock()
	u := vfs.DiskUsage{TotalBytes: q.size, AvailBytes: q.avail()}
	q.mu.Unlock()
	if q.lie.Load() {
		u.AvailBytes = q.size / 2
	}
	u.UsedBytes = u.TotalBytes - u.AvailBytes
	return u, nil
}

// fill writes a file taking all but leave bytes of the free space, as
// another program would; it returns the file's name.
func (q *quotaFS) fill(t *testing.T, leave uint64) string {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	name := fmt.Sprintf("/filler-%d", time.Now().UnixNano())
	delete(q.pre, name)
	f, err := q.MemFS.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if a := q.avail(); a > leave {
		if _, err := f.Write(make([]byte, a-leave)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return name
}

func (q *quotaFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &quotaFile{File: f, q: q, name: q.PathJoin("/", name)}, nil
}

func (q *quotaFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	q.forget(name)
	f, err := q.MemFS.Create(name, c)
	return q.wrap(name, f, err)
}

func (q *quotaFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	f, err := q.MemFS.OpenReadWrite(name, c, o...)
	return q.wrap(name, f, err)
}

func (q *quotaFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	q.mu.Lock()
	q.pre[q.PathJoin("/", name)] = q.pre[q.PathJoin("/", old)]
	delete(q.pre, q.PathJoin("/", old))
	q.mu.Unlock()
	f, err := q.MemFS.ReuseForWrite(old, name, c)
	return q.wrap(name, f, err)
}

func (q *quotaFS) Remove(name string) error {
	q.forget(name)
	if base := q.PathBase(name); base == "loam-reserve" || strings.HasPrefix(base, "filler-") {
		// Room made on purpose. (Pebble removes obsolete files of its
		// own at any moment: those must not end the test's full disk,
		// or a write could miss it.)
		q.failLog.Store(false)
	}
	return q.MemFS.Remove(name)
}

func (q *quotaFS) Rename(old, name string) error {
	q.mu.Lock()
	q.pre[q.PathJoin("/", name)] = q.pre[q.PathJoin("/", old)]
	delete(q.pre, q.PathJoin("/", old))
	q.mu.Unlock()
	return q.MemFS.Rename(old, name)
}

func (q *quotaFS) forget(name string) {
	q.mu.Lock()
	delete(q.pre, q.PathJoin("/", name))
	q.mu.Unlock()
}

func (q *quotaFS) Unwrap() vfs.FS { return q.MemFS }

type quotaFile struct {
	vfs.File
	q    *quotaFS
	name string
}

var errNoSpace = &os.PathError{Op: "write", Path: "quota", Err: syscall.ENOSPC}

// room returns how many bytes of a write of n at off fit: what it writes
// within the space the file holds (its size or what was preallocated),
// and beyond that what is free. Callers hold mu.
func (f *quotaFile) room(off int64, n int) int {
	fi, err := f.File.Stat()
	if err != nil {
		return 0
	}
	held := max(fi.Size(), f.q.pre[f.name])
	free := int64(f.q.avail())
	return int(min(int64(n), max(0, held+free-off)))
}

func (f *quotaFile) Write(p []byte) (int, error) {
	f.q.mu.Lock()
	defer f.q.mu.Unlock()
	if f.q.failLog.Load() && strings.HasSuffix(f.name, ".log") {
		return 0, errNoSpace
	}
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	if fit := f.room(fi.Size(), len(p)); fit < len(p) {
		n, _ := f.File.Write(p[:fit])
		return n, errNoSpace
	}
	return f.File.Write(p)
}

func (f *quotaFile) WriteAt(p []byte, off int64) (int, error) {
	f.q.mu.Lock()
	defer f.q.mu.Unlock()
	if f.q.failLog.Load() && strings.HasSuffix(f.name, ".log") {
		return 0, errNoSpace
	}
	if f.room(off, len(p)) < len(p) {
		return 0, errNoSpace
	}
	return f.File.WriteAt(p, off)
}

// Preallocate reserves space as fallocate does: the file keeps its size
// and later writes within the preallocated bytes need no more.
func (f *quotaFile) Preallocate(off, n int64) error {
	f.q.mu.Lock()
	defer f.q.mu.Unlock()
	fi, err := f.File.Stat()
	if err != nil {
		return err
	}
	held := max(fi.Size(), f.q.pre[f.name])
	if grow := off + n - held; grow > 0 {
		if uint64(grow) > f.q.avail() {
			return errNoSpace
		}
		f.q.pre[f.name] = off + n
	}
	return nil
}

// eventually retries write until it succeeds, for up to 10 s: once space
// is freed, a compaction still running may hold some of it for a moment.
// Every failure must be ErrDiskFull.
func eventually(t *testing.T, what string, write func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := write()
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrDiskFull) || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond) // re-check interval
	}
}

// openWithin opens the store on fs, failing the test if that takes more
// than 30 seconds (a full disk once made Open spin without end).
func openWithin(t *testing.T, fs vfs.FS, o store.Options) *store.Store {
	t.Helper()
	o.FS = fs
	type opened struct {
		st  *store.Store
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		st, err := store.Open("db", o)
		ch <- opened{st, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("open: %v", r.err)
		}
		t.Cleanup(func() { r.st.Close() })
		return r.st
	case <-time.After(30 * time.Second):
		t.Fatal("open did not return within 30 s")
	}
	return nil
}

// TestDiskFull: on a small disk, writes are acknowledged until the store's
// reserve is reached, then refused with ErrDiskFull and a message saying
// to free space; nothing acknowledged is lost. Filled to the last byte by
// another program, the store opens anyway (read-only), serves reads and
// refuses writes, and takes writes again once space is freed. A write
// that finds the disk full after the store's check (ENOSPC injected in
// Pebble's write) succeeds through the emergency reserve, and writes are
// then refused until the reserve can be made again.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	const size = 16 << 20
	q := newQuotaFS(size)
	spare := q.fill(t, size-4<<20) // another program's file, deleted to free space
	st := openWithin(t, q, store.Options{})
	sk := keys.SpaceKeyFromSeed([32]byte{7})
	sp := sk.Space()
	dev := keys.DeviceKeyFromSeed([32]byte{8})
	genesis := newAuthor(t, sp, sk).next(commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleAdmin}))
	if err := st.CreateSpace(ctx, "s", genesis); err != nil {
		t.Fatal(err)
	}
	w := newAuthor(t, sp, dev)
	w.deps = []keys.CommitID{genesis.ID}
	var acked []string
	rnd := rand.New(rand.NewPCG(1, 2))
	put := func(st *store.Store) error {
		t.Helper()
		key := fmt.Sprintf("k%05d", len(acked))
		val := make([]byte, 16<<10)
		for i := range val {
			val[i] = byte(rnd.Uint32()) // incompressible, as most values are to Pebble
		}
		c := w.next(commit.Put([]byte(key), val))
		res, err := st.Apply(ctx, sp, []*commit.Commit{c})
		if err != nil {
			w.seq, w.prev, w.deps = c.Seq-1, c.Prev, c.Deps // not written: build it again
			return err
		}
		if o := res.Outcomes[0]; o.Status != store.Applied {
			t.Fatalf("%s: %s %v", key, o.Status, o.Err)
		}
		acked = append(acked, key)
		return nil
	}
	checkAcked := func(st *store.Store, when string) {
		t.Helper()
		for _, k := range acked {
			if _, err := st.Get(ctx, sp, []byte(k)); err != nil {
				t.Fatalf("%s: acknowledged %s: %v", when, k, err)
			}
		}
	}
	wantFull := func(err error, when string) {
		t.Helper()
		if !errors.Is(err, store.ErrDiskFull) {
			t.Fatalf("%s: err = %v, want ErrDiskFull", when, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "free space") || !strings.Contains(msg, "db") {
			t.Fatalf("%s: the message does not say where to free space: %q", when, msg)
		}
	}

	var err error
	for err == nil {
		err = put(st)
	}
	wantFull(err, "filling the disk")
	if len(acked) < 100 {
		t.Fatalf("only %d writes of 16 KiB fit on a disk of %d MiB", len(acked), size>>20)
	}
	t.Logf("%d writes acknowledged, then %v", len(acked), err)
	checkAcked(st, "full")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Another program takes the last byte; the store opens all the same.
	filler := q.fill(t, 0)
	st = openWithin(t, q, store.Options{})
	checkAcked(st, "reopened on a full disk")
	wantFull(put(st), "writing to a full disk")

	// Space is freed: the next write succeeds.
	for _, f := range []string{filler, spare} {
		if err := q.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "after freeing space", func() error { return put(st) })
	checkAcked(st, "after freeing space")

	// The disk fills between the store's check and its write: Pebble's
	// write finds it full, the emergency reserve is dropped and the write
	// succeeds; then writes are refused until the reserve can be made.
	filler = q.fill(t, 0)
	q.lie.Store(true)
	q.failLog.Store(true)
	if err := put(st); err != nil {
		t.Fatalf("a write that found the disk full despite the check: %v", err)
	}
	if _, err := q.Stat("db/loam-reserve"); err == nil {
		t.Fatal("the emergency reserve is still there after a write found the disk full")
	}
	q.lie.Store(false)
	filler2 := q.fill(t, 0)
	wantFull(put(st), "with the emergency reserve used")
	for _, f := range []string{filler, filler2} {
		if err := q.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "after freeing space again", func() error { return put(st) })
	if _, err := q.Stat("db/loam-reserve"); err != nil {
		t.Fatalf("the emergency reserve was not made again: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openWithin(t, q, store.Options{})
	checkAcked(st, "at the end")
}

// TestDiskFullOpensReadOnly: a store whose disk has no byte free and no
// emergency reserve left (Pebble could not write its options file, let
// alone flush its log) opens read-only: reads work, writes fail with
// ErrDiskFull, and once space is freed the next write reopens it
// read-write and succeeds.
func TestDiskFullOpensReadOnly(t *testing.T) {
	ctx := context.Background()
	q := newQuotaFS(16 << 20)
	st := openWithin(t, q, store.Options{})
	sk := keys.SpaceKeyFromSeed([32]byte{7})
	genesis := newAuthor(t, sk.Space(), sk).next(commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}))
	if err := st.CreateSpace(ctx, "s", genesis); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove("db/loam-reserve"); err != nil {
		t.Fatal(err)
	}
	filler := q.fill(t, 0)
	st = openWithin(t, q, store.Options{})
	if _, err := st.Space(ctx, sk.Space()); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	if err := st.AddSpace(ctx, "other", keys.SpaceKeyFromSeed([32]byte{9}).Space()); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want ErrDiskFull", err)
	}
	if err := q.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a write once space was freed", func() error {
		return st.AddSpace(ctx, "other", keys.SpaceKeyFromSeed([32]byte{9}).Space())
	})
	if _, err := st.Space(ctx, sk.Space()); err != nil {
		t.Fatalf("read after reopening: %v", err)
	}
}
