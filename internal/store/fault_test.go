package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// author builds the commits of one key in one space.
type author struct {
	t    testing.TB
	sp   keys.SpaceID
	key  commit.Signer
	seq  uint64
	prev keys.CommitID
	wall uint64
	deps []keys.CommitID // of the next commit
}

func newAuthor(t testing.TB, sp keys.SpaceID, key commit.Signer) *author {
	return &author{t: t, sp: sp, key: key, wall: uint64(time.Now().Add(-time.Minute).UnixMicro())}
}

// next builds the author's next commit.
func (a *author) next(ops ...commit.Op) *commit.Commit {
	a.t.Helper()
	a.wall++
	c, err := commit.Build(commit.Header{Space: a.sp, Author: a.key.Author(), Seq: a.seq + 1, Prev: a.prev, Time: commit.HLC{Wall: a.wall}, Deps: a.deps}, ops, a.key)
	if err != nil {
		a.t.Fatal(err)
	}
	a.seq, a.prev, a.deps = c.Seq, c.ID, nil
	return c
}

// events collects the store's Notify events.
type events struct {
	mu  sync.Mutex
	evs []store.Event
}

func (e *events) notify(ev store.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

// stored reports whether an event announced commit id as stored.
func (e *events) stored(id keys.CommitID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		for _, c := range ev.Stored {
			if c.ID == id {
				return true
			}
		}
	}
	return false
}

// faultSpace is a store on a memory file system holding one space whose
// genesis makes admin an admin and the writers writers.
type faultSpace struct {
	st      *store.Store
	ev      *events
	sp      keys.SpaceID
	admin   *author
	writers []*author
}

func newFaultSpace(t *testing.T, writers int) *faultSpace {
	t.Helper()
	ctx := context.Background()
	f := &faultSpace{ev: &events{}}
	st, err := store.Open("db", store.Options{FS: vfs.NewMem(), Notify: f.ev.notify})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	sk := keys.SpaceKeyFromSeed([32]byte{1})
	f.sp = sk.Space()
	dev := func(i byte) keys.DeviceKey { return keys.DeviceKeyFromSeed([32]byte{2, i}) }
	ops := []commit.Op{commit.GrantOp(commit.Grant{Subject: dev(0).Author(), Role: commit.RoleAdmin})}
	for i := range writers {
		ops = append(ops, commit.GrantOp(commit.Grant{Subject: dev(byte(i + 1)).Author(), Role: commit.RoleWrite}))
	}
	genesis := newAuthor(t, f.sp, sk).next(ops...)
	if err := st.CreateSpace(ctx, "s", genesis); err != nil {
		t.Fatal(err)
	}
	f.admin = newAuthor(t, f.sp, dev(0))
	f.admin.deps = []keys.CommitID{genesis.ID}
	for i := range writers {
		w := newAuthor(t, f.sp, dev(byte(i+1)))
		w.deps = []keys.CommitID{genesis.ID}
		f.writers = append(f.writers, w)
	}
	return f
}

// inOneGroup submits the requests so that the applier takes them in one
// group: it holds the applier on a request of its own until all are
// queued. The hook h applies to that group.
func (f *faultSpace) inOneGroup(t *testing.T, h func(point string, c *commit.Commit) error, reqs ...[]*commit.Commit) []store.Ticket {
	t.Helper()
	hold, held := make(chan struct{}), make(chan struct{})
	first := true
	store.SetHook(f.st, func(point string, c *commit.Commit) error {
		if point == "group" && first {
			first = false
			close(held)
			<-hold
			return nil
		}
		if first {
			return nil
		}
		return h(point, c)
	})
	t.Cleanup(func() { store.SetHook(f.st, nil) })
	blocker := f.st.Submit(f.sp, []*commit.Commit{f.admin.next(commit.Put([]byte("blocker"), []byte("x")))})
	<-held
	var ts []store.Ticket
	for _, cs := range reqs {
		ts = append(ts, f.st.Submit(f.sp, cs))
	}
	close(hold)
	if _, err := blocker.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ts
}

var errInjected = errors.New("injected storage failure")

// TestStorageErrorInGroupIsTruthful: a storage error while one request of
// a group is being applied fails that request only: nothing of it is
// stored (not half its rows), and the other requests of the group are
// stored, answered Applied and announced.
func TestStorageErrorInGroupIsTruthful(t *testing.T) {
	ctx := context.Background()
	f := newFaultSpace(t, 3)
	cs := []*commit.Commit{
		f.writers[0].next(commit.Put([]byte("k0"), []byte("v0"))),
		f.writers[1].next(commit.Put([]byte("k1"), []byte("v1"))),
		f.writers[2].next(commit.Put([]byte("k2"), []byte("v2"))),
	}
	bad := cs[1]
	ts := f.inOneGroup(t, func(point string, c *commit.Commit) error {
		if point == "stored" && c.ID == bad.ID {
			return errInjected
		}
		return nil
	}, cs[:1], cs[1:2], cs[2:])
	for i, tk := range ts {
		res, err := tk.Wait(ctx)
		if cs[i] == bad {
			if !errors.Is(err, errInjected) {
				t.Errorf("request %d (the failing one): err = %v, want the injected error", i, err)
			}
			continue
		}
		if err != nil || res.Outcomes[0].Status != store.Applied {
			t.Errorf("request %d: %+v, %v; want Applied", i, res.Outcomes, err)
		}
		if !f.ev.stored(cs[i].ID) {
			t.Errorf("request %d: its commit was not announced", i)
		}
	}
	if _, err := f.st.CommitByID(ctx, f.sp, bad.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed request's commit is stored (err %v): a failed request must leave nothing behind", err)
	}
	heads, err := f.st.Heads(ctx, f.sp)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(heads, func(h store.Head) bool { return h.Author == bad.Author }) {
		t.Errorf("the failed request's author has a head: %v", heads)
	}
	for i, want := range []bool{true, false, true} {
		_, err := f.st.Get(ctx, f.sp, fmt.Appendf(nil, "k%d", i))
		if got := err == nil; got != want {
			t.Errorf("k%d visible = %v (%v), want %v", i, got, err, want)
		}
	}
	// The failed writer can try again, and nothing of the first try is in
	// its way.
	f.writers[1].seq, f.writers[1].prev, f.writers[1].deps = 0, keys.CommitID{}, bad.Deps
	again := f.writers[1].next(commit.Put([]byte("k1"), []byte("again")))
	if res, err := f.st.Apply(ctx, f.sp, []*commit.Commit{again}); err != nil || res.Outcomes[0].Status != store.Applied {
		t.Fatalf("retry: %+v, %v", res.Outcomes, err)
	}
}

// TestRebuildErrorAfterCommitIsTruthful: when deciding a space again
// fails after a group commit made its requests durable, their writers are
// told what is durable (no error), the commits are announced, and the
// decision is made again on the next request.
func TestRebuildErrorAfterCommitIsTruthful(t *testing.T) {
	ctx := context.Background()
	f := newFaultSpace(t, 2)
	voided := f.writers[1].next(commit.Put([]byte("k1"), []byte("v1")))
	if res, err := f.st.Apply(ctx, f.sp, []*commit.Commit{voided}); err != nil || res.Outcomes[0].Status != store.Applied {
		t.Fatalf("%+v, %v", res.Outcomes, err)
	}
	revoke := f.admin.next(commit.RevokeOp(commit.Revoke{Author: f.writers[1].key.Author(), LastSeq: 0}))
	other := f.writers[0].next(commit.Put([]byte("k0"), []byte("v0")))
	failed := false
	ts := f.inOneGroup(t, func(point string, c *commit.Commit) error {
		if point == "rebuild" && !failed {
			failed = true
			return errInjected
		}
		return nil
	}, []*commit.Commit{revoke}, []*commit.Commit{other})
	for i, c := range []*commit.Commit{revoke, other} {
		res, err := ts[i].Wait(ctx)
		if err != nil || res.Outcomes[0].Status != store.Applied {
			t.Errorf("%s: %+v, %v; want Applied: it is durable", c, res.Outcomes, err)
		}
		if _, err := f.st.CommitByID(ctx, f.sp, c.ID); err != nil {
			t.Errorf("%s is not stored: %v", c, err)
		}
		if !f.ev.stored(c.ID) {
			t.Errorf("%s was not announced", c)
		}
	}
	if !failed {
		t.Fatal("the rebuild was never attempted")
	}
	// The next request decides the space again: the revoked writer's
	// commit stops counting.
	if res, err := f.st.Apply(ctx, f.sp, []*commit.Commit{f.writers[0].next(commit.Put([]byte("k2"), []byte("v2")))}); err != nil || res.Outcomes[0].Status != store.Applied {
		t.Fatalf("next request: %+v, %v", res.Outcomes, err)
	}
	if _, err := f.st.Get(ctx, f.sp, []byte("k1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked writer's k1 is still visible (%v): the space was not decided again", err)
	}
	voids, err := f.st.Voided(ctx, f.sp)
	if err != nil || len(voids) != 1 {
		t.Errorf("voided %v, %v; want the revoked writer's commit", voids, err)
	}
}

// TestForkedAuthorsCommitsAreNotApplied: once its author is known to have
// forked, a commit on its main chain is stored but does not count, and
// the store says so (Forked, ErrForked) instead of Applied; so is a
// commit applied in the same group as the fork evidence that voids it.
func TestForkedAuthorsCommitsAreNotApplied(t *testing.T) {
	ctx := context.Background()
	f := newFaultSpace(t, 1)
	w := f.writers[0]
	c1 := w.next(commit.Put([]byte("a"), []byte("1")))
	twin := *w
	twin.seq, twin.prev, twin.deps = 0, keys.CommitID{}, c1.Deps
	twin.wall += 10
	c1b := twin.next(commit.Put([]byte("a"), []byte("other")))
	c2 := w.next(commit.Put([]byte("b"), []byte("2")))

	// c1 and c2 applied with the evidence c1b in one request.
	res, err := f.st.Apply(ctx, f.sp, []*commit.Commit{c1, c2, c1b})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o.Status != store.Forked || !errors.Is(o.Err, store.ErrForked) {
			t.Errorf("commit %d: %s (%v); want forked, wrapping ErrForked: it does not count", i, o.Status, o.Err)
		}
	}
	// A later commit on the main chain.
	c3 := w.next(commit.Put([]byte("c"), []byte("3")))
	res, err = f.st.Apply(ctx, f.sp, []*commit.Commit{c3})
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Outcomes[0]; o.Status != store.Forked || !errors.Is(o.Err, store.ErrForked) {
		t.Errorf("a later commit of the forked author: %s (%v); want forked, wrapping ErrForked", o.Status, o.Err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := f.st.Get(ctx, f.sp, []byte(k)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s is visible (%v): a forked author's writes do not count", k, err)
		}
	}
}
