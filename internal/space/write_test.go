package space_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

var faultSeed = flag.Uint64("fault.seed", 0, "seed of TestNoSelfForkUnderStorageErrors (0: random)")

// TestNoSelfForkUnderStorageErrors: concurrent writers to one space while
// the disk fills and frees at random moments, so that group commits fail
// between commits prepared and commits applied, and some writers give up
// waiting (their contexts end). The device never forks
// itself: no fork evidence, the log verifies, every acknowledged write is
// visible, and once the disk has room again the device's writes count.
// Replay a failure with -fault.seed=N.
func TestNoSelfForkUnderStorageErrors(t *testing.T) {
	seed := testkit.Seed(t, *faultSeed, "fault.seed")
	rnd := rand.New(rand.NewPCG(seed, 0))

	ctx := context.Background()
	fs := vfs.NewMem()
	room := vfs.DiskUsage{TotalBytes: 16 << 20, AvailBytes: 16 << 20, UsedBytes: 0}
	full := vfs.DiskUsage{TotalBytes: 16 << 20, AvailBytes: 0, UsedBytes: 16 << 20}
	fs.TestingSetDiskUsage(room)
	f := newFixture(t, store.Options{FS: fs})

	const writers, writes = 16, 40
	var (
		mu     sync.Mutex
		acked  = map[string]string{}
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	stop := make(chan struct{})
	flips := make(chan time.Duration, 64)
	for range cap(flips) {
		flips <- time.Duration(rnd.IntN(2000)) * time.Microsecond
	}
	close(flips)
	var flipper sync.WaitGroup
	flipper.Add(1)
	go func() {
		defer flipper.Done()
		isFull := false
		for d := range flips {
			select {
			case <-stop:
				return
			case <-time.After(d): // the disk fills and frees at random moments
			}
			isFull = !isFull
			if isFull {
				fs.TestingSetDiskUsage(full)
			} else {
				fs.TestingSetDiskUsage(room)
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				key := fmt.Sprintf("w%02d/%02d", w, i)
				wctx, cancel := ctx, context.CancelFunc(func() {})
				if (w+i)%5 == 0 { // some writers give up after a moment
					wctx, cancel = context.WithTimeout(ctx, time.Duration(w*i%7)*100*time.Microsecond)
				}
				_, err := f.sp.Commit(wctx, []commit.Op{commit.Put([]byte(key), []byte(key))})
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked[key] = key
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	flipper.Wait()
	fs.TestingSetDiskUsage(room)
	t.Logf("%d writes acknowledged, %d failed", len(acked), failed.Load())

	forks, err := f.st.Forks(ctx, f.sk.Space())
	if err != nil {
		t.Fatal(err)
	}
	if len(forks) > 0 {
		t.Errorf("the device forked itself: %d fork evidence pairs, the first at seq %d", len(forks), forks[0].A.Seq)
	}
	if _, err := space.VerifyLog(ctx, f.st, f.sk.Space()); err != nil {
		t.Errorf("VerifyLog: %v", err)
	}
	for k, v := range acked {
		e, err := f.sp.Get(ctx, []byte(k))
		if err != nil || !bytes.Equal(e.Value, []byte(v)) {
			t.Errorf("acknowledged %s: %q, %v", k, e.Value, err)
		}
	}
	// Later writes count.
	for i := range 3 {
		key := fmt.Appendf(nil, "after/%d", i)
		if _, err := f.sp.Commit(ctx, []commit.Op{commit.Put(key, key)}); err != nil {
			t.Fatalf("a write after the disk has room again: %v", err)
		}
		if e, err := f.sp.Get(ctx, key); err != nil || !bytes.Equal(e.Value, key) {
			t.Fatalf("a write after the disk has room again is not visible: %q, %v", e.Value, err)
		}
	}
	if failed.Load() == 0 {
		t.Log("no write failed: the disk never filled during a write")
	}
}

// TestCommitHonoursContext: with the store stalled (its applier blocked),
// a write whose context ends returns at once with the context's error, as
// does one still queued behind the commits in flight; the queued one is
// never written, and once the store moves again the write path goes on:
// later writes count, the log verifies, no fork.
func TestCommitHonoursContext(t *testing.T) {
	ctx := context.Background()
	stall := make(chan struct{})
	var stalled atomic.Bool
	f := newFixture(t, store.Options{Notify: func(store.Event) {
		if stalled.Load() {
			<-stall // the applier waits here, after its commit
		}
	}})
	stalled.Store(true)
	first := make(chan error, 1)
	go func() {
		_, err := f.sp.Commit(ctx, []commit.Op{commit.Put([]byte("first"), []byte("1"))})
		first <- err
	}()
	// Fill the commits in flight, then one write waits in the queue.
	var waiting []error
	for i, key := range []string{"second", "third", "queued"} {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		start := time.Now()
		_, err := f.sp.Commit(wctx, []commit.Op{commit.Put([]byte(key), []byte(key))})
		cancel()
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("write %d returned %s after its context ended", i, took)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write %q with the store stalled: %v, want context.DeadlineExceeded", key, err)
		}
		waiting = append(waiting, err)
	}
	if msg := waiting[2].Error(); !strings.Contains(msg, "nothing was written") {
		t.Errorf("a write cancelled in the queue: %q, want it to say nothing was written", msg)
	}
	stalled.Store(false)
	close(stall)
	if err := <-first; err != nil {
		t.Fatalf("the first write: %v", err)
	}
	if _, err := f.sp.Commit(ctx, []commit.Op{commit.Put([]byte("after"), []byte("a"))}); err != nil {
		t.Fatalf("a write after the store moved again: %v", err)
	}
	for _, k := range []string{"first", "after"} {
		if _, err := f.sp.Get(ctx, []byte(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if _, err := f.sp.Get(ctx, []byte("queued")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the write cancelled while queued was written: %v", err)
	}
	if forks, err := f.st.Forks(ctx, f.sk.Space()); err != nil || len(forks) > 0 {
		t.Errorf("forks: %v, %v", forks, err)
	}
	if _, err := space.VerifyLog(ctx, f.st, f.sk.Space()); err != nil {
		t.Errorf("VerifyLog: %v", err)
	}
}

// TestWritesThatDoNotCountAreErrors: a write the store keeps but does not
// count is an error that says why and what to do, not a success: by a
// device revoked since it last read the grants, and by a device that has
// forked (its key used in two homes).
func TestWritesThatDoNotCountAreErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	t.Run("revoked", func(t *testing.T) {
		dev, sp := f.writer(t)
		// Revoked by the admin; this device has not heard (nothing feeds
		// its Observe here), so the store is the first to know.
		if _, err := f.sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: dev.Author(), LastSeq: 0})}); err != nil {
			t.Fatal(err)
		}
		_, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte("r"), []byte("1"))})
		if !errors.Is(err, space.ErrReadOnly) || !errors.Is(err, store.ErrRevoked) || !strings.Contains(err.Error(), "ask an admin") {
			t.Fatalf("a write by a revoked device: %v; want ErrReadOnly and store.ErrRevoked, saying to ask an admin", err)
		}
		if _, err := f.st.Get(ctx, f.sk.Space(), []byte("r")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the revoked device's write is visible: %v", err)
		}
	})

	t.Run("forked", func(t *testing.T) {
		dev, sp := f.writer(t)
		c1, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte("x"), []byte("1"))})
		if err != nil {
			t.Fatal(err)
		}
		// The same key writes seq 1 again elsewhere.
		twin, err := commit.Build(commit.Header{Space: c1.Space, Author: c1.Author, Seq: 1, Time: commit.HLC{Wall: c1.Time.Wall + 1}, Deps: c1.Deps},
			[]commit.Op{commit.Put([]byte("x"), []byte("elsewhere"))}, dev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Apply(ctx, f.sk.Space(), []*commit.Commit{twin}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // the store says so first, then the write path knows
			_, err = sp.Commit(ctx, []commit.Op{commit.Put([]byte("y"), []byte("2"))})
			if !errors.Is(err, space.ErrForked) || !errors.Is(err, space.ErrReadOnly) || !strings.Contains(err.Error(), "device.key") {
				t.Fatalf("write %d by a forked device: %v; want ErrForked and ErrReadOnly, saying what to do", i, err)
			}
		}
		if _, err := f.st.Get(ctx, f.sk.Space(), []byte("y")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the forked device's write is visible: %v", err)
		}
	})
}

// TestObserveReadsNothing: Observe runs on the store's applier goroutine
// and must not read the store (nor hold its lock across a read): given an
// event that changes grants and a decision, it only records that they
// must be read again, which the next writer does. Here the store is
// closed when Observe runs, so a read would fail or panic.
func TestObserveReadsNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	other := dev(t)
	c, err := f.sp.Commit(ctx, []commit.Op{commit.GrantOp(commit.Grant{Subject: other.Author(), Role: commit.RoleWrite})})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f.sp.Observe(store.Event{Space: f.sk.Space(), Stored: []*commit.Commit{c}, Redecided: true})
	}()
	select {
	case p := <-done:
		if p != nil {
			t.Fatalf("Observe read the store: %v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Observe blocked")
	}
}
