package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// twoPiecesSpaces opens a store in memory holding spaces a and b (seeds 7
// and 9), each with its puts but the last (all if all), deciding every
// revocation from the whole space in pieces of 4 KiB.
func twoPiecesSpaces(t *testing.T, all bool) (*store.Store, *piecesSpace, *piecesSpace) {
	t.Helper()
	a, b := seededPiecesSpace(t, 7), seededPiecesSpace(t, 9)
	st, err := store.Open("db", store.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store.SetFullRedecide(st, true)
	store.SetPieceBytes(st, 4<<10)
	for i, p := range []*piecesSpace{a, b} {
		if err := st.CreateSpace(context.Background(), fmt.Sprint("s", i), p.genesis); err != nil {
			t.Fatal(err)
		}
		puts := p.puts
		if !all {
			puts = puts[:len(puts)-1]
		}
		p.apply(t, st, puts...)
	}
	return st, a, b
}

// heldGroup returns a hook point handler that holds the applier in its
// n-th group until release is closed, and a channel closed once it does:
// requests submitted meanwhile make the next group together.
func heldGroup(n int32) (hold func(), entered, release chan struct{}) {
	var groups atomic.Int32
	entered, release = make(chan struct{}), make(chan struct{})
	return func() {
		if groups.Add(1) == n {
			close(entered)
			<-release
		}
	}, entered, release
}

// TestTwoRebuildsOneFails: a group stores revocations in two spaces and
// the first rebuild fails after writing a piece (the applier is broken,
// its space states dropped). The second space's rebuild read its dropped
// state and the process died of a nil pointer; now the applier answers,
// refuses further writes saying why, and serves reads.
func TestTwoRebuildsOneFails(t *testing.T) {
	ctx := context.Background()
	st, a, b := twoPiecesSpaces(t, true)
	hold, entered, release := heldGroup(1)
	var pieces atomic.Int32
	store.SetHook(st, func(point string, _ *commit.Commit) error {
		switch point {
		case "group":
			hold()
		case "piece":
			if pieces.Add(1) == 1 {
				return errInjected
			}
		}
		return nil
	})
	first := st.Submit(a.sp, []*commit.Commit{a.puts[0]}) // already held: a group of its own
	<-entered
	ra := st.Submit(a.sp, []*commit.Commit{a.revoke})
	rb := st.Submit(b.sp, []*commit.Commit{b.revoke})
	close(release)
	for _, tk := range []store.Ticket{first, ra, rb} {
		if _, err := tk.Wait(ctx); err != nil {
			t.Fatalf("a request of the groups: %v (their commits are durable; the re-decision's failure is not theirs)", err)
		}
	}
	if _, err := st.Apply(ctx, a.sp, []*commit.Commit{a.after}); err == nil {
		t.Fatal("a write after a half-built rebuild was taken")
	}
	if _, err := st.View(ctx, b.sp); err != nil {
		t.Fatalf("reading space b: %v", err)
	}
}

// TestHalfBuiltNotPublished: space a's revocation is stored but its
// rebuild fails before any piece (the flag stays). The next group holds a
// write to a, whose load rebuilds a and fails after a piece (the applier
// is broken), and a write to space b. The applier applied b's request
// again and committed it, publishing a's half-built view with it; now b's
// write is refused and readers keep a's view from before the rebuild.
func TestHalfBuiltNotPublished(t *testing.T) {
	ctx := context.Background()
	st, a, b := twoPiecesSpaces(t, false)
	hold, entered, release := heldGroup(2)
	var rebuilds, pieces atomic.Int32
	store.SetHook(st, func(point string, _ *commit.Commit) error {
		switch point {
		case "rebuild":
			if rebuilds.Add(1) == 1 {
				return errInjected // before any piece: a stays flagged
			}
		case "group":
			hold()
		case "piece":
			if pieces.Add(1) == 5 {
				return errInjected
			}
		}
		return nil
	})
	// The revocation depends on the last two puts: the last one comes with it.
	if _, err := st.Apply(ctx, a.sp, []*commit.Commit{a.puts[len(a.puts)-1], a.revoke}); err != nil {
		t.Fatal(err)
	}
	before, err := st.View(ctx, a.sp) // the revocation stored, not decided
	if err != nil {
		t.Fatal(err)
	}
	first := st.Submit(b.sp, []*commit.Commit{b.puts[0]}) // already held: a group of its own
	<-entered
	ra := st.Submit(a.sp, []*commit.Commit{a.after})
	rb := st.Submit(b.sp, []*commit.Commit{b.puts[len(b.puts)-1]})
	close(release)
	first.Wait(ctx)
	if _, err := ra.Wait(ctx); err == nil {
		t.Fatal("space a's write was taken although its rebuild failed half-way")
	}
	if _, err := rb.Wait(ctx); err == nil {
		t.Fatal("space b's write was taken by a broken applier")
	}
	if pieces.Load() < 5 {
		t.Fatalf("the rebuild wrote %d pieces: the test did not reach a half-built view", pieces.Load())
	}
	v, err := st.View(ctx, a.sp)
	if err != nil {
		t.Fatal(err)
	}
	if v.Hash != before.Hash {
		t.Errorf("a reader sees space a's view %s (%d keys); want the view before its rebuild, %s (%d keys)", v.Hash, v.Visible, before.Hash, before.Visible)
	}
}

// TestGainsBeforeConversion: a store upgraded from before session 11
// (gains rows by author ID) answers Store.Gains (a checkpoint's causal
// section) before the applier first loads the space: the same rows as
// before the upgrade, not none.
func TestGainsBeforeConversion(t *testing.T) {
	ctx := context.Background()
	h := storetest.GenHistory(rand.New(rand.NewPCG(16, 17)), storetest.Gen{Authors: 6, Ops: 200, Keys: 15, MaxBatch: 2})
	sp, dir := h.Space(), t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddSpace(ctx, "s", sp); err != nil {
		t.Fatal(err)
	}
	mustApplyAll(t, st, sp, h.Commits)
	count := func() int {
		n := 0
		for _, err := range st.Gains(ctx, sp) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	want := count()
	if err := store.WriteOldGains(st, sp); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = store.Open(dir, store.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := count(); got != want || want == 0 {
		t.Fatalf("Gains after the upgrade, before a write: %d rows, want %d", got, want)
	}
}

// TestHalfBuiltOpenOnFullDisk: a power cut between two pieces of a rebuilt
// view, then an Open on a disk with not a byte free (read-only: the
// rebuild cannot be finished). Open served the half-built view (32 keys,
// against 159 before and 125 after); now it fails saying to free space,
// and once there is room it opens with the rebuilt view.
func TestHalfBuiltOpenOnFullDisk(t *testing.T) {
	ctx := context.Background()
	p := newPiecesSpace(t)
	fs := vfs.NewCrashableMem()
	st := p.open(t, fs, 4<<10)
	var crashed *vfs.MemFS
	pieces := 0
	store.SetHook(st, func(point string, _ *commit.Commit) error {
		if point == "piece" {
			if pieces++; pieces == 5 {
				crashed = fs.CrashClone(vfs.CrashCloneCfg{})
			}
		}
		return nil
	})
	p.apply(t, st, p.revoke)
	store.SetHook(st, nil)
	after, err := st.View(ctx, p.sp)
	if err != nil {
		t.Fatal(err)
	}
	if crashed == nil {
		t.Fatalf("the rebuild wrote %d pieces: no cut between two", pieces)
	}
	q := &quotaFS{MemFS: crashed, pre: map[string]int64{}}
	q.mu.Lock()
	q.size = q.used() // not a byte free
	q.mu.Unlock()
	if again, err := store.Open("db", store.Options{FS: q}); err == nil {
		v, _ := again.View(ctx, p.sp)
		again.Close()
		t.Fatalf("Open on a full disk served a half-built view (%d keys)", v.Visible)
	} else if !strings.Contains(err.Error(), "half rebuilt") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("Open on a full disk: %v; want it to say the view is half rebuilt and to free space", err)
	}
	q.mu.Lock()
	q.size = 1 << 40
	q.mu.Unlock()
	again := openWithin(t, q, store.Options{})
	v, err := again.View(ctx, p.sp)
	if err != nil {
		t.Fatal(err)
	}
	if v.Hash != after.Hash {
		t.Fatalf("after freeing space: view %s (%d keys), want the rebuilt one %s (%d keys)", v.Hash, v.Visible, after.Hash, after.Visible)
	}
}
