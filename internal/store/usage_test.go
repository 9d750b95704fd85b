package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// usageSpace opens a store in dir on fs with one space whose admin w
// writes.
func usageSpace(t *testing.T, fs vfs.FS, dir string) (*store.Store, keys.SpaceID, *author) {
	t.Helper()
	st, err := store.Open(dir, store.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sk := keys.SpaceKeyFromSeed([32]byte{17})
	sp := sk.Space()
	dev := keys.DeviceKeyFromSeed([32]byte{18})
	genesis := newAuthor(t, sp, sk).next(commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleAdmin}))
	if err := st.CreateSpace(context.Background(), "s", genesis); err != nil {
		t.Fatal(err)
	}
	w := newAuthor(t, sp, dev)
	w.deps = []keys.CommitID{genesis.ID}
	return st, sp, w
}

// putRandom writes n commits of one put each of a random 1 KiB value to
// one of keys keys.
func putRandom(t *testing.T, st *store.Store, sp keys.SpaceID, w *author, r *rand.Rand, n, keys int) {
	for range n {
		val := make([]byte, 1<<10)
		for i := range val {
			val[i] = byte(r.Uint32())
		}
		c := w.next(commit.Put(fmt.Appendf(nil, "k%04d", r.IntN(keys)), val))
		if _, err := st.Apply(context.Background(), sp, []*commit.Commit{c}); err != nil {
			t.Error(err)
			return
		}
	}
}

// TestSpaceUsage: a space's live bytes follow its visible values and its
// history bytes every write; Compact flushes the rows not yet in tables
// (Unflushed is 0 after it) and reports its progress to the end; the
// whole store compacts too. On a file system that reports no usage there
// is no reserve file.
func TestSpaceUsage(t *testing.T) {
	for _, fsName := range []string{"disk", "mem"} {
		t.Run(fsName, func(t *testing.T) {
			ctx := context.Background()
			fs, dir := vfs.Default, t.TempDir()
			if fsName == "mem" {
				fs = vfs.NewMem()
			}
			st, sp, w := usageSpace(t, fs, dir)
			r := rand.New(rand.NewPCG(1, 2))
			putRandom(t, st, sp, w, r, 400, 40) // 400 KiB written, 40 KiB live
			var last store.CompactProgress
			if err := st.Compact(ctx, &sp, func(p store.CompactProgress) { last = p }); err != nil {
				t.Fatal(err)
			}
			if last.Total == 0 || last.Done != last.Total {
				t.Fatalf("last progress %+v", last)
			}
			u, err := st.SpaceUsage(ctx, sp)
			if err != nil {
				t.Fatal(err)
			}
			if u.History < 400<<10 || u.Live < 40<<10 || u.Live > 200<<10 {
				t.Fatalf("space usage %+v: want history ≥ 400 KiB, live between 40 and 200 KiB", u)
			}
			if other, err := st.SpaceUsage(ctx, keys.SpaceKeyFromSeed([32]byte{99}).Space()); err != nil || other != (store.SpaceUsage{}) {
				t.Fatalf("a space not held: %+v, %v", other, err)
			}
			su, err := st.Usage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if su.Unflushed != 0 || su.Tables+su.Bodies < u.Live+u.History/2 || su.Total < su.Tables+su.Reserve {
				t.Fatalf("store usage %+v after compaction, space %+v", su, u)
			}
			if (fsName == "mem") != (su.Reserve == 0) {
				t.Fatalf("reserve %d on %s", su.Reserve, fsName)
			}
			if err := st.Compact(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCompactWhileWriting: compactions run beside writes, and Close
// during one ends it (ErrClosed, or done) without a panic or a race;
// after Close, Compact and Usage fail with ErrClosed.
func TestCompactWhileWriting(t *testing.T) {
	ctx := context.Background()
	st, sp, w := usageSpace(t, vfs.Default, t.TempDir())
	r := rand.New(rand.NewPCG(3, 4))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		putRandom(t, st, sp, w, r, 300, 30)
	}()
	for range 3 {
		if err := st.Compact(ctx, &sp, nil); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	compacted := make(chan error, 1)
	go func() { compacted <- st.Compact(ctx, nil, nil) }()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-compacted; err != nil && !errors.Is(err, store.ErrClosed) {
		t.Fatalf("compaction during Close: %v", err)
	}
	if err := st.Compact(ctx, &sp, nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Compact after Close: %v", err)
	}
	if _, err := st.Usage(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Usage after Close: %v", err)
	}
}

// slowLogRemoval is a disk whose removal of a write-ahead log takes a
// while, as on a loaded machine: Pebble deletes a flushed log in the
// background, after the flush.
type slowLogRemoval struct {
	vfs.FS
	delay time.Duration
}

func (fs slowLogRemoval) Remove(name string) error {
	if strings.HasSuffix(name, ".log") {
		time.Sleep(fs.delay) // the disk's slowness, not synchronization
	}
	return fs.FS.Remove(name)
}

func (fs slowLogRemoval) Unwrap() vfs.FS { return fs.FS }

// TestCompactWaitsForLogs: once Compact returns, the log its flush made
// obsolete is gone from the disk, however slowly the disk deletes it.
// Before this was so, Compact waited for the tables only (Pebble counts
// a log queued for deletion as deleted): loam compact reported, and
// TestSmallStoreDisk measured in CI, 28 MB of flushed logs still there.
func TestCompactWaitsForLogs(t *testing.T) {
	dir := t.TempDir()
	st, sp, w := usageSpace(t, slowLogRemoval{vfs.Default, 300 * time.Millisecond}, dir)
	putRandom(t, st, sp, w, rand.New(rand.NewPCG(3, 4)), 2000, 100_000) // 2 MiB
	if err := st.Compact(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil {
			size += fi.Size()
		}
	}
	if len(logs) != 1 || size > 1<<20 {
		t.Fatalf("after Compact: %d logs of %d bytes in all (%v); want the one live log, empty", len(logs), size, logs)
	}
}
