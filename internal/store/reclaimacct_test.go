package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/bodylog"
)

// accounting runs store.Accounting on the applier goroutine, between
// groups, and returns what it found.
func accounting(t *testing.T, st *store.Store, sp keys.SpaceID) []string {
	t.Helper()
	var out []string
	var aerr error
	ran := false
	store.SetHook(st, func(p string, _ *commit.Commit) error {
		if p == "group" && !ran {
			ran = true
			out, aerr = store.Accounting(st)
		}
		return nil
	})
	defer store.SetHook(st, nil)
	if _, err := st.Apply(context.Background(), sp, nil); err != nil {
		t.Fatal(err)
	}
	if aerr != nil {
		t.Fatal(aerr)
	}
	return out
}

// Sanity: the dead-bytes rows match the records no row names after a
// dropped batch, erases, and reclaims.
func TestBodyAccounting(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	b := newBodyStore(t, vfs.NewMem(), "db", 41, 2, store.Options{})
	cs := b.puts(r, 0, 30)
	b.apply(t, cs...)
	if d := accounting(t, b.st, b.sp); len(d) > 0 {
		t.Fatalf("after puts: %v", d)
	}
	// a dropped batch
	secret := b.writers[1].next(commit.Put([]byte("secret"), []byte("s")))
	pad := b.writers[1].next(commit.Put([]byte("pad"), make([]byte, 5000)))
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
	b.apply(t, b.puts(r, 0, 3)...)
	if d := accounting(t, b.st, b.sp); len(d) > 0 {
		t.Fatalf("after a dropped batch: %v", d)
	}
	b.apply(t, secret, pad, last)
	for i := 0; i < 10; i++ {
		b.apply(t, b.writers[0].next(eraseOf(t, cs[i*2])))
	}
	if d := accounting(t, b.st, b.sp); len(d) > 0 {
		t.Fatalf("after erases: %v", d)
	}
	if err := b.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	if d := accounting(t, b.st, b.sp); len(d) > 0 {
		t.Fatalf("after ReclaimBodies: %v", d)
	}
	fmt.Println("segments", store.BodySegments(b.st))
}

// A commit made in the middle of a group (loading a space whose view
// state says decide again: a rebuild, committed on its own) counts as
// orphans the records an earlier request of the group appended, which
// the group's batch then names.
func TestNestedCommitLeavesOrphans(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	b := newBodyStore(t, vfs.NewMem(), "db", 43, 1, store.Options{})
	b.apply(t, b.puts(r, 0, 5)...)
	// Space B, with an admin and a writer.
	skB := keys.SpaceKeyFromSeed([32]byte{44})
	spB := skB.Space()
	wkB := keys.DeviceKeyFromSeed([32]byte{44, 1})
	adminB := newAuthor(t, spB, skB)
	genB := adminB.next(commit.GrantOp(commit.Grant{Subject: skB.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: wkB.Author(), Role: commit.RoleWrite}))
	if err := b.st.CreateSpace(ctx, "b", genB); err != nil {
		t.Fatal(err)
	}
	wB := newAuthor(t, spB, wkB)
	wB.deps = []keys.CommitID{genB.ID}
	wkB2 := keys.DeviceKeyFromSeed([32]byte{44, 2})
	if _, err := b.st.Apply(ctx, spB, []*commit.Commit{adminB.next(commit.GrantOp(commit.Grant{Subject: wkB2.Author(), Role: commit.RoleWrite}))}); err != nil {
		t.Fatal(err)
	}
	wB2 := newAuthor(t, spB, wkB2)
	wB2.deps = []keys.CommitID{adminB.prev}
	if _, err := b.st.Apply(ctx, spB, []*commit.Commit{wB.next(commit.Put([]byte("k"), []byte("v")))}); err != nil {
		t.Fatal(err)
	}
	// A revocation whose decision fails after its commit: B's view state
	// says decide again, and B is not cached.
	failed := false
	store.SetHook(b.st, func(p string, _ *commit.Commit) error {
		if p == "rebuild" && !failed {
			failed = true
			return errors.New("injected")
		}
		return nil
	})
	if _, err := b.st.Apply(ctx, spB, []*commit.Commit{adminB.next(commit.RevokeOp(commit.Revoke{Author: wkB.Author(), LastSeq: 0}))}); err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Fatal("no rebuild")
	}
	if d := accounting(t, b.st, b.sp); len(d) > 0 {
		t.Fatalf("before: %v", d)
	}
	// One group: A's request appends its records (past the 4 KiB chunk),
	// then B's request loads B, which decides it again and commits.
	hold, held := make(chan struct{}), make(chan struct{})
	first, armed, done := true, false, make(chan struct{})
	var found []string
	var aerr error
	// Both hooks run on the applier goroutine.
	store.SetHook(b.st, func(p string, _ *commit.Commit) error {
		switch {
		case p == "group" && first:
			first = false
			close(held)
			<-hold
		case p == "group":
			armed = true
		}
		return nil
	})
	store.SetReclaimHook(b.st, func() {
		if armed { // right after the group's commit, before any reclaim
			armed = false
			found, aerr = store.Accounting(b.st)
			close(done)
		}
	})
	blocker := b.st.Submit(b.sp, nil)
	<-held
	tA := b.st.Submit(b.sp, b.puts(r, 0, 12))
	tB := b.st.Submit(spB, []*commit.Commit{wB2.next(commit.Put([]byte("k2"), []byte("v2")))})
	segsBefore := store.BodySegments(b.st)
	close(hold)
	for _, tk := range []store.Ticket{blocker, tA, tB} {
		if _, err := tk.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Second): // nothing counted dead, no reclaim: check from a group
		store.SetReclaimHook(b.st, nil)
		store.SetHook(b.st, nil)
		found = accounting(t, b.st, b.sp)
	}
	store.SetReclaimHook(b.st, nil)
	store.SetHook(b.st, nil)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if len(found) > 0 {
		t.Errorf("after the group, records its rows name are counted dead: %v", found)
	}
	// Nothing was erased, forgotten or superseded: no segment is due.
	accounting(t, b.st, b.sp)
	t.Logf("segments before the group %v, after %v", segsBefore, store.BodySegments(b.st))
}

// Crashes amid groups, erases and reclaims; after the reopen and some
// writes, every segment's dead-bytes row counts exactly the bytes of its
// records no row names.
func TestCrashAccounting(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { crashAccounting(t, seed) })
	}
}

func crashAccounting(t *testing.T, seed uint64) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 99))
	fs := vfs.NewCrashableMem()
	b := newBodyStore(t, fs, "db", 51, 2, store.Options{})
	points := []string{"group", "stored", "bodies synced", "reclaim"}
	point := points[r.IntN(len(points))]
	crashAt := 1 + r.IntN(8)
	unsynced := r.IntN(101)
	var mu sync.Mutex // the reclaim point runs after a request's reply
	var crashed *vfs.MemFS
	var atCrash string
	n := 0
	at := func(p string) {
		mu.Lock()
		defer mu.Unlock()
		if crashed != nil || p != point {
			return
		}
		if n++; n < crashAt {
			return
		}
		atCrash = store.BodyEnd(b.st)
		crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rand.New(rand.NewPCG(seed, 17))})
	}
	store.SetHook(b.st, func(p string, c *commit.Commit) error { at(p); return nil })
	store.SetReclaimHook(b.st, func() { at("reclaim") })
	isCrashed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return crashed != nil
	}
	var all, acked []*commit.Commit
	var ops []string
	for g := 0; g < 10 && !isCrashed(); g++ {
		cs := b.puts(r, 0, 3+r.IntN(12))
		b.apply(t, cs...)
		ops = append(ops, fmt.Sprint("puts ", len(cs)))
		all = append(all, cs...)
		if !isCrashed() {
			acked = append(acked, cs...)
		}
		if r.IntN(2) == 0 {
			b.apply(t, b.writers[0].next(eraseOf(t, all[r.IntN(len(all))])))
			ops = append(ops, "erase")
		}
		if r.IntN(3) == 0 {
			if err := b.st.ReclaimBodies(ctx); err != nil {
				t.Fatal(err)
			}
			ops = append(ops, "reclaimbodies")
		} else {
			ops = append(ops, "-")
		}
	}
	store.SetHook(b.st, nil)
	store.SetReclaimHook(b.st, nil)
	b.st.Close() // the applier is done: crashed is the test's now
	if crashed == nil {
		t.Logf("no crash at %q #%d: nothing to check", point, crashAt)
		return
	}
	st, err := store.Open("db", store.WithBodySegments(store.Options{FS: crashed}, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	b.st = st
	t.Cleanup(func() { st.Close() })
	t.Logf("crash at %q #%d, %d%% unsynced kept", point, crashAt, unsynced)
	t.Logf("ops %v", ops)
	t.Logf("at the crash: %s; after: %s", atCrash, store.BodyEnd(st))
	for _, c := range acked {
		if _, err := st.CommitByID(ctx, b.sp, c.ID); err != nil {
			t.Errorf("acked commit lost: %v", err)
		}
	}
	accounting(t, st, b.sp) // its empty group commits the crash's orphans
	if d := accounting(t, st, b.sp); len(d) > 0 {
		t.Fatalf("crash at %q #%d (%d%% unsynced kept): %v", point, crashAt, unsynced, d)
	}
}

// One segment per turn, "goes on only when no request waits": once the
// applier has reclaimed a segment and more are due, a request that waits
// is served before the next segment.
func TestRequestBeforeReclaim(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	b := newBodyStore(t, vfs.NewMem(), "db", 45, 1, store.Options{})
	cs := b.puts(r, 0, 600)
	for i := 0; i < len(cs); i += 50 {
		b.apply(t, cs[i:i+50]...)
	}
	// One erase naming a record in each segment but the tail: all due at once.
	var targets []commit.EraseTarget
	seen := map[uint32]bool{}
	tail := store.BodySegments(b.st)[len(store.BodySegments(b.st))-1].Seg
	for _, c := range cs {
		seg, err := store.CommitSegment(b.st, b.sp, c.Author, c.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if seg != tail && !seen[seg] {
			seen[seg] = true
			targets = append(targets, commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: 0, Key: c.Ops[0].Key})
		}
	}
	er, err := commit.EraseOp(commit.Erase{Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d segments due", len(targets))
	// Each round: the applier is held as it starts a reclaim turn while a
	// request is queued; count the turns it takes before that request.
	var mu sync.Mutex
	turns, served, arm := 0, -1, true
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	store.SetReclaimHook(b.st, func() {
		mu.Lock()
		defer mu.Unlock()
		if arm {
			arm, turns = false, 0
			held <- struct{}{}
			mu.Unlock()
			<-hold
			mu.Lock()
		}
		turns++
	})
	store.SetHook(b.st, func(p string, _ *commit.Commit) error {
		mu.Lock()
		defer mu.Unlock()
		if p == "group" && served < 0 {
			served, arm = turns, true // and hold the next turn, for the next round
		}
		return nil
	})
	defer func() {
		mu.Lock()
		arm = false
		mu.Unlock()
		close(hold) // let a held turn go
	}()
	b.apply(t, b.writers[0].next(er)) // its commit makes every segment due
	var got []int
	for range 10 {
		<-held
		mu.Lock()
		served = -1
		mu.Unlock()
		next := b.st.Submit(b.sp, nil) // queued (the channel is buffered) while the applier is held
		hold <- struct{}{}
		if _, err := next.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got = append(got, served)
		mu.Unlock()
	}
	for _, n := range got {
		if n > 1 {
			t.Fatalf("reclaim turns before each waiting request was served: %v (want 1: the turn under way when it came)", got)
		}
	}
}

// ReclaimBodies (loam compact) on a disk without room to copy a due
// segment's live records leaves it, and says so (ErrDiskFull). It failed
// before: it returned nil.
func TestReclaimBodiesSaysNoRoom(t *testing.T) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(-1)
	r := rand.New(rand.NewPCG(61, 62))
	b := newBodyStore(t, budgetFS{FS: vfs.NewMem(), left: &left}, "db", 37, 1, store.Options{})
	cs := b.puts(r, 0, 60)
	b.apply(t, cs...)
	seg, err := store.CommitSegment(b.st, b.sp, cs[1].Author, cs[1].Seq)
	if err != nil {
		t.Fatal(err)
	}
	left.Store(4 << 10)
	b.apply(t, b.writers[0].next(eraseOf(t, cs[1])))
	err = b.st.ReclaimBodies(ctx)
	for _, si := range store.BodySegments(b.st) {
		if si.Seg == seg && !errors.Is(err, store.ErrDiskFull) {
			t.Fatalf("ReclaimBodies returned %v, and segment %d, with the erased record, is still there", err, seg)
		}
	}
}

// A due segment left for lack of room is reclaimed once the disk has room
// again: after the next commit (or, without one, in a while). It failed
// before: the segment waited for a commit that counted dead bytes.
func TestSkippedForRoomRetried(t *testing.T) {
	var left atomic.Int64
	left.Store(-1)
	r := rand.New(rand.NewPCG(61, 62))
	b := newBodyStore(t, budgetFS{FS: vfs.NewMem(), left: &left}, "db", 37, 1, store.Options{})
	cs := b.puts(r, 0, 60)
	b.apply(t, cs...)
	seg, err := store.CommitSegment(b.st, b.sp, cs[1].Author, cs[1].Seq)
	if err != nil {
		t.Fatal(err)
	}
	left.Store(4 << 10)
	b.apply(t, b.writers[0].next(eraseOf(t, cs[1])))
	left.Store(-1) // room again
	b.apply(t, b.puts(r, 0, 1)...)
	deadline := time.Now().Add(5 * time.Second) // less than the timer's 10 s: the commit must do it
	for slices.ContainsFunc(store.BodySegments(b.st), func(si bodylog.SegInfo) bool { return si.Seg == seg }) {
		if time.Now().After(deadline) {
			t.Fatalf("segment %d, with the erased record, is still there 5 s after the disk had room again and a write", seg)
		}
		time.Sleep(5 * time.Millisecond) // polls the segments
	}
}

// the copies are not. A power cut then: rows name records that are gone.
func TestNoSyncReclaimPowerCut(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(71, 72))
	fs := vfs.NewCrashableMem()
	b := newBodyStore(t, fs, "db", 53, 1, store.Options{NoSync: true})
	cs := b.puts(r, 0, 60)
	b.apply(t, cs...)
	var inFirst []*commit.Commit // in segment 1, synced when the log rolled past it
	for _, c := range cs[2:] {
		if seg, _ := store.CommitSegment(b.st, b.sp, c.Author, c.Seq); seg == 1 {
			inFirst = append(inFirst, c)
		}
	}
	// Durable before the reclaim: a power cut now keeps them.
	b.apply(t, b.puts(r, 0, 30)...)                     // rolls the log again
	if err := b.st.Compact(ctx, nil, nil); err != nil { // flushes Pebble's memtable: the rows are durable
		t.Fatal(err)
	}
	before := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	st0, err := store.Open("db", store.WithBodySegments(store.Options{FS: before}, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range inFirst {
		if _, err := st0.CommitByID(ctx, b.sp, c.ID); err != nil {
			t.Fatalf("before the reclaim: %v", err)
		}
	}
	st0.Close()
	b.apply(t, b.writers[0].next(eraseOf(t, cs[1]))) // in segment 1: reclaimed at once
	if err := b.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	for _, si := range store.BodySegments(b.st) {
		if si.Seg == 1 {
			t.Fatal("segment 1 not removed")
		}
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	st, err := store.Open("db", store.WithBodySegments(store.Options{FS: crashed}, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range inFirst {
		if _, err := st.CommitByID(ctx, b.sp, c.ID); err != nil {
			t.Fatalf("a commit of segment 1 (synced), after its reclaim and a power cut: %v", err)
		}
	}
}

// applyChecked applies cs and runs store.Accounting right after the
// group's commit, before any reclaim can hide a miscount.
func applyChecked(t *testing.T, st *store.Store, sp keys.SpaceID, cs ...*commit.Commit) []string {
	t.Helper()
	var found []string
	var aerr error
	armed, done := false, make(chan struct{})
	d := done // before the hooks: the reclaim hook clears done
	// Both hooks run on the applier goroutine.
	store.SetHook(st, func(p string, _ *commit.Commit) error {
		if p == "group" && !armed {
			armed = true
		}
		return nil
	})
	store.SetReclaimHook(st, func() {
		if armed && done != nil {
			found, aerr = store.Accounting(st)
			close(done)
			done = nil
		}
	})
	defer store.SetHook(st, nil)
	defer store.SetReclaimHook(st, nil)
	if _, err := st.Apply(context.Background(), sp, cs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d:
	case <-time.After(time.Second):
		t.Log("no reclaim after the group: checked from the next group")
		return accounting(t, st, sp)
	}
	if aerr != nil {
		t.Fatal(aerr)
	}
	return found
}

// A commit stored and erased in one request, its record appended before
// the erase (past the 4 KiB chunk): counted once.
func TestSupersededInBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := newBodyStore(t, vfs.NewMem(), "db", 47, 1, store.Options{})
	b.apply(t, b.puts(r, 0, 30)...)
	c := b.writers[0].next(commit.Put([]byte("s"), make([]byte, 5000)))
	er := b.writers[0].next(eraseOf(t, c))
	if d := applyChecked(t, b.st, b.sp, c, er); len(d) > 0 {
		t.Fatal(d)
	}
	old := b.puts(r, 0, 1)[0]
	b.apply(t, old)
	er2 := b.writers[0].next(eraseOf(t, old))
	er3c := b.writers[0].next(commit.Put([]byte("pad"), make([]byte, 5000)))
	if d := applyChecked(t, b.st, b.sp, er2, er3c); len(d) > 0 {
		t.Fatal(d)
	}
}
