package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Store is what the suite needs of an implementation.
type Store interface {
	CreateSpace(ctx context.Context, name string, genesis *commit.Commit) error
	AddSpace(ctx context.Context, name string, id keys.SpaceID) error
	Apply(ctx context.Context, sp keys.SpaceID, cs []*commit.Commit) (store.Result, error)
	Get(ctx context.Context, sp keys.SpaceID, key []byte) (view.Entry, error)
	Range(ctx context.Context, sp keys.SpaceID, q store.Query) iter.Seq2[store.KV, error]
	Conflicts(ctx context.Context, sp keys.SpaceID, key []byte) ([]view.Entry, error)
	View(ctx context.Context, sp keys.SpaceID) (store.ViewState, error)
	Heads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error)
	Forks(ctx context.Context, sp keys.SpaceID) ([]commit.Fork, error)
	Commits(ctx context.Context, sp keys.SpaceID, author keys.AuthorID, from uint64) iter.Seq2[store.StoredCommit, error]
	SyncHeads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error)
	Spaces(ctx context.Context) ([]store.SpaceInfo, error)
	SpaceByName(ctx context.Context, name string) (keys.SpaceID, error)
	Close() error
}

// TB is the part of testing.TB the helpers use, so they work under
// rapid's *rapid.T as well.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Opener opens the implementation under test on dir. Opening the same dir
// again (after Close) must see the same data.
type Opener func(t testing.TB, dir string) Store

var _ Store = (*store.Store)(nil)

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"SpacesAndNames", testSpacesAndNames},
		{"PutGetDeleteRange", testPutGetDeleteRange},
		{"Duplicate", testDuplicate},
		{"GapIsPending", testGapIsPending},
		{"BadChainAndClock", testBadChainAndClock},
		{"Unauthorized", testUnauthorized},
		{"Conflicts", testConflicts},
		{"GrantsAndInvites", testGrantsAndInvites},
		{"Fork", testFork},
		{"FutureHeldBack", testFutureHeldBack},
		{"Reopen", testReopen},
		{"ConcurrentApply", testConcurrentApply},
		{"RandomHistoryMatchesModel", testRandomHistory},
		{"RevocationCut", testRevocationCut},
		{"RevocationCycle", testRevocationCycle},
		{"OneTimeInvite", testOneTimeInvite},
		{"PrefixAndExpiry", testPrefixAndExpiry},
		{"AppRules", testAppRules},
		{"WriteOnce", testWriteOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{t: t, open: open, dir: t.TempDir(), ctx: context.Background()}
			e.st = open(t, e.dir)
			defer func() { e.st.Close() }()
			tc.fn(t, e)
		})
	}
}

type env struct {
	t    *testing.T
	open Opener
	dir  string
	ctx  context.Context
	st   Store
}

func (e *env) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.st = e.open(e.t, e.dir)
}

// writer builds the commits of one author.
type writer struct {
	t     testing.TB
	sp    keys.SpaceID
	key   commit.Signer
	seq   uint64
	head  keys.CommitID
	clock uint64
}

func seed(b byte) (s [32]byte) {
	for i := range s {
		s[i] = b
	}
	return
}

// fixture is a space with a genesis granting admin to dev and write to
// others.
type fixture struct {
	sk      keys.SpaceKey
	genesis *commit.Commit
	devs    []keys.DeviceKey
}

func newFixture(t testing.TB, n int) fixture {
	f := fixture{sk: keys.SpaceKeyFromSeed(seed(100))}
	var ops []commit.Op
	for i := range n {
		d := keys.DeviceKeyFromSeed(seed(byte(i + 1)))
		f.devs = append(f.devs, d)
		role := commit.RoleWrite
		if i == 0 {
			role = commit.RoleAdmin
		}
		ops = append(ops, commit.GrantOp(commit.Grant{Subject: d.Author(), Role: role}))
	}
	var err error
	f.genesis, err = commit.Build(commit.Header{Space: f.sk.Space(), Author: f.sk.Author(), Seq: 1, Time: commit.HLC{Wall: now()}}, ops, f.sk)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func now() uint64 { return uint64(time.Now().Add(-time.Minute).UnixMicro()) }

func (f fixture) writer(t testing.TB, i int) *writer {
	return &writer{t: t, sp: f.sk.Space(), key: f.devs[i], clock: now() + uint64(i)}
}

func (w *writer) next(deps []keys.CommitID, ops ...commit.Op) *commit.Commit {
	w.t.Helper()
	w.clock += 10
	c, err := commit.Build(commit.Header{Space: w.sp, Author: w.key.Author(), Seq: w.seq + 1, Prev: w.head, Time: commit.HLC{Wall: w.clock}, Deps: deps}, ops, w.key)
	if err != nil {
		w.t.Fatal(err)
	}
	w.seq, w.head = c.Seq, c.ID
	return c
}

func (e *env) create(f fixture) keys.SpaceID {
	e.t.Helper()
	if err := e.st.CreateSpace(e.ctx, "s", f.genesis); err != nil {
		e.t.Fatalf("CreateSpace: %v", err)
	}
	return f.sk.Space()
}

func (e *env) apply(sp keys.SpaceID, cs ...*commit.Commit) []store.Outcome {
	e.t.Helper()
	res, err := e.st.Apply(e.ctx, sp, cs)
	if err != nil {
		e.t.Fatalf("Apply: %v", err)
	}
	return res.Outcomes
}

func (e *env) mustApply(sp keys.SpaceID, cs ...*commit.Commit) {
	e.t.Helper()
	for i, o := range e.apply(sp, cs...) {
		if o.Status != store.Applied {
			e.t.Fatalf("commit %d: %s: %v", i, o.Status, o.Err)
		}
	}
}

func (e *env) get(sp keys.SpaceID, key string) string {
	e.t.Helper()
	v, err := e.st.Get(e.ctx, sp, []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return "<none>"
	}
	if err != nil {
		e.t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v.Value)
}

// want fails the test unless key's visible value in sp is value ("<none>":
// no value); why, if not "", says what it shows.
func (e *env) want(sp keys.SpaceID, key, value, why string) {
	e.t.Helper()
	got := e.get(sp, key)
	switch {
	case got == value:
	case why == "":
		e.t.Fatalf("%s = %q, want %q", key, got, value)
	default:
		e.t.Fatalf("%s = %q, want %q: %s", key, got, value, why)
	}
}

func (e *env) keys(sp keys.SpaceID, q store.Query) string {
	e.t.Helper()
	var b bytes.Buffer
	for kv, err := range e.st.Range(e.ctx, sp, q) {
		if err != nil {
			e.t.Fatalf("Range: %v", err)
		}
		fmt.Fprintf(&b, "%s=%s ", kv.Key, kv.Entry.Value)
	}
	return b.String()
}

func put(k, v string) commit.Op { return commit.Put([]byte(k), []byte(v)) }
func del(k string) commit.Op    { return commit.Del([]byte(k)) }

func testSpacesAndNames(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	if err := e.st.CreateSpace(e.ctx, "s", f.genesis); err == nil {
		t.Fatal("creating the same space twice succeeded")
	}
	other := newFixture(t, 1)
	other.sk = keys.SpaceKeyFromSeed(seed(7))
	g, _ := commit.Build(commit.Header{Space: other.sk.Space(), Author: other.sk.Author(), Seq: 1, Time: commit.HLC{Wall: now()}}, []commit.Op{commit.GrantOp(commit.Grant{Subject: f.devs[0].Author(), Role: commit.RoleAdmin})}, other.sk)
	if err := e.st.CreateSpace(e.ctx, "s", g); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("duplicate name: err = %v, want ErrNameTaken", err)
	}
	id, err := e.st.SpaceByName(e.ctx, "s")
	if err != nil || id != sp {
		t.Fatalf("SpaceByName = %v, %v", id, err)
	}
	if _, err := e.st.SpaceByName(e.ctx, "nope"); !errors.Is(err, store.ErrUnknownSpace) {
		t.Fatalf("unknown name: err = %v", err)
	}
	if _, err := e.st.Apply(e.ctx, other.sk.Space(), []*commit.Commit{g}); !errors.Is(err, store.ErrUnknownSpace) {
		t.Fatalf("apply to unknown space: err = %v", err)
	}
	infos, err := e.st.Spaces(e.ctx)
	if err != nil || len(infos) != 1 || infos[0].ID != sp || infos[0].Name != "s" {
		t.Fatalf("Spaces = %+v, %v", infos, err)
	}
	// A genesis that grants admin to nobody is refused and creates nothing.
	bad, _ := commit.Build(commit.Header{Space: other.sk.Space(), Author: other.sk.Author(), Seq: 1, Time: commit.HLC{Wall: now()}}, []commit.Op{put("k", "v")}, other.sk)
	if err := e.st.CreateSpace(e.ctx, "t", bad); err == nil {
		t.Fatal("genesis without admin grant accepted")
	}
	if infos, _ := e.st.Spaces(e.ctx); len(infos) != 1 {
		t.Fatalf("refused space was created: %+v", infos)
	}
}

func testPutGetDeleteRange(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	w := f.writer(t, 0)
	e.mustApply(sp, w.next([]keys.CommitID{f.genesis.ID}, put("a/1", "x"), put("a/2", "y"), put("b/1", "z"), put("a/1", "x2")))
	e.mustApply(sp, w.next(nil, del("a/2"), put("c", "w")))
	e.want(sp, "a/1", "x2", "the later op of a commit must win")
	e.want(sp, "a/2", "<none>", "a deleted key")
	for _, tc := range []struct {
		q    store.Query
		want string
	}{
		{store.Query{}, "a/1=x2 b/1=z c=w "},
		{store.Query{Prefix: []byte("a/")}, "a/1=x2 "},
		{store.Query{Start: []byte("a/2"), End: []byte("c")}, "b/1=z "},
		{store.Query{Limit: 2}, "a/1=x2 b/1=z "},
		{store.Query{Reverse: true, Limit: 2}, "c=w b/1=z "},
		{store.Query{Prefix: []byte("b/"), Start: []byte("a"), End: []byte("z")}, "b/1=z "},
		{store.Query{Start: []byte("z")}, ""},
	} {
		if got := e.keys(sp, tc.q); got != tc.want {
			t.Errorf("Range(%+v) = %q, want %q", tc.q, got, tc.want)
		}
	}
	v, err := e.st.View(e.ctx, sp)
	if err != nil || v.Visible != 3 {
		t.Fatalf("View = %+v, %v; want 3 visible keys", v, err)
	}
}

func testDuplicate(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	w := f.writer(t, 0)
	c := w.next([]keys.CommitID{f.genesis.ID}, put("k", "v"))
	e.mustApply(sp, c)
	before, _ := e.st.View(e.ctx, sp)
	if o := e.apply(sp, c, f.genesis); o[0].Status != store.Duplicate || o[1].Status != store.Duplicate {
		t.Fatalf("re-delivery: %v", o)
	}
	after, _ := e.st.View(e.ctx, sp)
	if before != after {
		t.Fatal("a duplicate changed the view")
	}
}

func testGapIsPending(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	w := f.writer(t, 0)
	c1 := w.next([]keys.CommitID{f.genesis.ID}, put("k", "1"))
	c2 := w.next(nil, put("k", "2"))
	c3 := w.next(nil, put("k", "3"))
	if o := e.apply(sp, c3); o[0].Status != store.Pending || !errors.Is(o[0].Err, store.ErrPending) {
		t.Fatalf("gap: %v", o)
	}
	e.want(sp, "k", "<none>", "a pending commit changed the view")
	// Out of order within one Apply: applied in causal order.
	e.mustApply(sp, c3, c2, c1)
	e.want(sp, "k", "3", "")
}

func testBadChainAndClock(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	w := f.writer(t, 0)
	e.mustApply(sp, w.next([]keys.CommitID{f.genesis.ID}, put("k", "1")))
	// Seq 2 pointing at a prev that is not seq 1.
	bad, _ := commit.Build(commit.Header{Space: sp, Author: w.key.Author(), Seq: 2, Prev: keys.CommitID{1}, Time: commit.HLC{Wall: w.clock + 5}}, []commit.Op{put("k", "2")}, w.key)
	if o := e.apply(sp, bad); o[0].Status != store.Pending || !errors.Is(o[0].Err, store.ErrPending) {
		t.Fatalf("unknown prev: %v, want pending (its chain may still arrive)", o)
	}
	// Seq 2 dated before seq 1.
	early, _ := commit.Build(commit.Header{Space: sp, Author: w.key.Author(), Seq: 2, Prev: w.head, Time: commit.HLC{Wall: w.clock - 5}}, []commit.Op{put("k", "2")}, w.key)
	if o := e.apply(sp, early); o[0].Status != store.Rejected || !errors.Is(o[0].Err, store.ErrClock) {
		t.Fatalf("time going backwards: %v", o)
	}
	heads, _ := e.st.Heads(e.ctx, sp)
	for _, h := range heads {
		if h.Author == w.key.Author() && h.Seq != 1 {
			t.Fatalf("a rejected commit moved the head to %d", h.Seq)
		}
	}
	e.want(sp, "k", "1", "after rejected commits")
}

func testUnauthorized(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	stranger := &writer{t: t, sp: sp, key: keys.DeviceKeyFromSeed(seed(99)), clock: now()}
	c := stranger.next([]keys.CommitID{f.genesis.ID}, put("k", "evil"))
	if o := e.apply(sp, c); o[0].Status != store.Rejected || !errors.Is(o[0].Err, store.ErrUnauthorized) {
		t.Fatalf("unauthorized author: %v", o)
	}
	heads, _ := e.st.Heads(e.ctx, sp)
	if len(heads) != 1 {
		t.Fatalf("an unauthorized commit was stored: heads %+v", heads)
	}
	e.want(sp, "k", "<none>", "")
}

func testConflicts(t *testing.T, e *env) {
	f := newFixture(t, 3)
	sp := e.create(f)
	a, b, c := f.writer(t, 0), f.writer(t, 1), f.writer(t, 2)
	g := []keys.CommitID{f.genesis.ID}
	ca := a.next(g, put("k", "from a"))
	cb := b.next(g, put("k", "from b"))
	e.mustApply(sp, ca, cb)
	win, _ := e.st.Get(e.ctx, sp, []byte("k"))
	conf, err := e.st.Conflicts(e.ctx, sp, []byte("k"))
	if err != nil || len(conf) != 1 {
		t.Fatalf("concurrent writes: conflicts = %v, %v; want 1", conf, err)
	}
	want := ca
	if ca.Time.Less(cb.Time) || (ca.Time == cb.Time && bytes.Compare(ca.Author[:], cb.Author[:]) < 0) {
		want = cb
	}
	if win.Author != want.Author {
		t.Fatalf("winner by %s, want the later (time, author) %s", win.Author.Short(), want.Author.Short())
	}
	// c has seen both: its write supersedes both, no conflicts remain.
	e.mustApply(sp, c.next([]keys.CommitID{f.genesis.ID, ca.ID, cb.ID}, put("k", "from c")))
	if conf, _ := e.st.Conflicts(e.ctx, sp, []byte("k")); len(conf) != 0 {
		t.Fatalf("a write that saw both left conflicts %v", conf)
	}
	e.want(sp, "k", "from c", "")
}

func testFork(t *testing.T, e *env) {
	f := newFixture(t, 2)
	sp := e.create(f)
	honest, liar := f.writer(t, 0), f.writer(t, 1)
	g := []keys.CommitID{f.genesis.ID}
	l1 := liar.next(g, put("liar/1", "ok"))
	e.mustApply(sp, l1, honest.next(g, put("honest", "1")))
	// The liar signs two different seq 2 commits.
	fork := *liar
	l2a := liar.next(nil, put("liar/2", "a"))
	l2b := fork.next(nil, put("liar/2", "b"))
	e.mustApply(sp, l2a)
	e.want(sp, "liar/2", "a", "before the fork is known")
	if o := e.apply(sp, l2b); o[0].Status != store.Forked {
		t.Fatalf("second seq 2: %v, want forked", o)
	}
	forks, err := e.st.Forks(e.ctx, sp)
	if err != nil || len(forks) != 1 || forks[0].A.Seq != 2 {
		t.Fatalf("Forks = %v, %v", forks, err)
	}
	// From the fork point on the liar's commits do not count; before it they do.
	e.want(sp, "liar/2", "<none>", "after the fork")
	e.want(sp, "liar/1", "ok", "commits before the fork still count")
	// Further commits on either branch are kept but do not count.
	e.apply(sp, liar.next(nil, put("liar/3", "a")), fork.next(nil, put("liar/3", "b")))
	e.want(sp, "liar/3", "<none>", "")
	e.want(sp, "honest", "1", "")
	// The evidence survives a reopen, and the view stays as it is.
	before, _ := e.st.View(e.ctx, sp)
	e.reopen()
	after, _ := e.st.View(e.ctx, sp)
	if before.Hash != after.Hash {
		t.Fatal("view hash changed across reopen")
	}
	if forks, _ := e.st.Forks(e.ctx, sp); len(forks) != 1 {
		t.Fatalf("fork evidence lost on reopen: %v", forks)
	}
	// A replica that gets the other branch first ends with the same view.
	e2 := e.open(t, t.TempDir())
	defer e2.Close()
	if err := e2.CreateSpace(e.ctx, "s", f.genesis); err != nil {
		t.Fatal(err)
	}
	h2 := newFixture(t, 2).writer(t, 0)
	_ = h2
	res, err := e2.Apply(e.ctx, sp, []*commit.Commit{l1, l2b, l2a})
	if err != nil || res.Outcomes[2].Status != store.Forked {
		t.Fatalf("other order: %+v %v", res.Outcomes, err)
	}
	if got, _ := e2.Get(e.ctx, sp, []byte("liar/2")); got.Value != nil {
		t.Fatalf("other replica: liar/2 = %q", got.Value)
	}
}

func testFutureHeldBack(t *testing.T, e *env) {
	f := newFixture(t, 1)
	sp := e.create(f)
	w := f.writer(t, 0)
	w.clock = uint64(time.Now().Add(store.MaxFuture + time.Hour).UnixMicro())
	if o := e.apply(sp, w.next([]keys.CommitID{f.genesis.ID}, put("k", "v"))); o[0].Status != store.Pending {
		t.Fatalf("commit dated an hour past the limit: %v, want pending", o)
	}
}

func testReopen(t *testing.T, e *env) {
	f := newFixture(t, 2)
	sp := e.create(f)
	a, b := f.writer(t, 0), f.writer(t, 1)
	g := []keys.CommitID{f.genesis.ID}
	e.mustApply(sp, a.next(g, put("x", "1")), b.next(g, put("x", "2")))
	v1, _ := e.st.View(e.ctx, sp)
	h1, _ := e.st.Heads(e.ctx, sp)
	e.reopen()
	v2, _ := e.st.View(e.ctx, sp)
	h2, _ := e.st.Heads(e.ctx, sp)
	if v1 != v2 || fmt.Sprint(h1) != fmt.Sprint(h2) {
		t.Fatalf("reopen changed state: %+v vs %+v", v1, v2)
	}
	// Writing after reopen continues the chain.
	e.mustApply(sp, a.next(nil, put("y", "3")))
	e.want(sp, "y", "3", "")
}

func testConcurrentApply(t *testing.T, e *env) {
	const writers, each = 8, 25
	f := newFixture(t, writers)
	sp := e.create(f)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := f.writer(t, i)
			deps := []keys.CommitID{f.genesis.ID}
			for j := range each {
				c := w.next(deps, put(fmt.Sprintf("w%d/%03d", i, j), "v"))
				deps = nil
				res, err := e.st.Apply(e.ctx, sp, []*commit.Commit{c})
				if err == nil && res.Outcomes[0].Status != store.Applied {
					err = fmt.Errorf("%s: %v", res.Outcomes[0].Status, res.Outcomes[0].Err)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := e.st.View(e.ctx, sp); v.Visible != writers*each {
		t.Fatalf("visible keys = %d, want %d", v.Visible, writers*each)
	}
}

func testRandomHistory(t *testing.T, e *env) {
	r := rand.New(rand.NewPCG(1, 2))
	h := GenHistory(r, Gen{Authors: 5, Ops: 300, Keys: 12, MaxBatch: 4})
	if err := e.st.AddSpace(e.ctx, "s", h.Space()); err != nil {
		t.Fatal(err)
	}
	order := append([]*commit.Commit(nil), h.Commits...)
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	if pending := Deliver(t, e.st, h.Space(), order, 7, nil); len(pending) != 0 {
		t.Fatalf("%d commits never applied", len(pending))
	}
	CheckModel(t, e.st, h.Space(), h.Expect(nil))
}

// Deliver offers commits to st in chunks of size chunk, re-offering the
// Pending ones with every later chunk and at the end, as a sync layer does.
// between, if set, runs after each chunk and may return a replacement
// store (a reopen). It returns the commits that never applied.
func Deliver(t TB, st Store, sp keys.SpaceID, cs []*commit.Commit, chunk int, between func(Store) Store) []*commit.Commit {
	t.Helper()
	ctx := context.Background()
	var pending []*commit.Commit
	offer := func(batch []*commit.Commit) {
		res, err := st.Apply(ctx, sp, batch)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		pending = pending[:0:0]
		for i, o := range res.Outcomes {
			switch o.Status {
			case store.Pending:
				pending = append(pending, batch[i])
			case store.Rejected:
				t.Fatalf("valid commit %s rejected: %v", batch[i], o.Err)
			}
		}
	}
	for len(cs) > 0 {
		n := min(chunk, len(cs))
		offer(append(append([]*commit.Commit(nil), pending...), cs[:n]...))
		cs = cs[n:]
		if between != nil {
			st = between(st)
		}
	}
	for len(pending) > 0 {
		before := len(pending)
		offer(pending)
		if len(pending) == before {
			break
		}
	}
	return pending
}

// CheckModel compares a store's view of sp with the model: every key's
// winner and conflicts, the visible key set and order, the hash and count.
func CheckModel(t TB, st Store, sp keys.SpaceID, m Model) {
	t.Helper()
	ctx := context.Background()
	v, err := st.View(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range m.Cells {
		conf, err := st.Conflicts(ctx, sp, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := want.Winner()
		got, err := st.Get(ctx, sp, []byte(k))
		switch {
		case w.Tombstone() && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("key %s: got %q (%v), want deleted", k, got.Value, err)
		case !w.Tombstone() && (err != nil || got.Version != w.Version || !bytes.Equal(got.Value, w.Value)):
			t.Fatalf("key %s: got %+v (%v), want %+v", k, got.Version, err, w.Version)
		}
		if !EqualEntries(conf, want.Conflicts()) {
			t.Fatalf("key %s: conflicts %d, want %d", k, len(conf), len(want.Conflicts()))
		}
	}
	var got []string
	for kv, err := range st.Range(ctx, sp, store.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(kv.Key))
	}
	if want := m.SortedKeys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("visible keys %v, want %v", got, want)
	}
	if v.Hash != m.Hash || v.Visible != m.Keys {
		t.Fatalf("view hash %s (%d keys), model %s (%d keys)", v.Hash, v.Visible, m.Hash, m.Keys)
	}
}

func testGrantsAndInvites(t *testing.T, e *env) {
	f := newFixture(t, 2) // dev 0 admin, dev 1 writer
	sp := e.create(f)
	admin, wr := f.writer(t, 0), f.writer(t, 1)
	g := []keys.CommitID{f.genesis.ID}
	stranger := func(b byte) *writer {
		return &writer{t: t, sp: sp, key: keys.DeviceKeyFromSeed(seed(b)), clock: now() + 100}
	}
	x, y, z := stranger(50), stranger(51), stranger(52)

	// An admin grants x: x may write once the grant is in its causal past.
	cx := admin.next(g, commit.GrantOp(commit.Grant{Subject: x.key.Author(), Role: commit.RoleWrite}))
	e.mustApply(sp, cx)
	e.mustApply(sp, x.next([]keys.CommitID{cx.ID}, put("x", "1")))
	// The grant exists, but not in y's causal past: rejected. (y is granted
	// by the admin, but y's commit does not depend on that grant.)
	cy := admin.next(nil, commit.GrantOp(commit.Grant{Subject: y.key.Author(), Role: commit.RoleWrite}))
	e.mustApply(sp, cy)
	if o := e.apply(sp, y.next(g, put("y", "1"))); o[0].Status != store.Rejected || !errors.Is(o[0].Err, store.ErrUnauthorized) {
		t.Fatalf("grant outside the causal past: %v", o)
	}
	// A writer cannot grant: its commit granting z is rejected whole (every
	// op of a commit must be allowed), and z stays a stranger.
	cz := wr.next(g, commit.GrantOp(commit.Grant{Subject: z.key.Author(), Role: commit.RoleWrite}))
	if o := e.apply(sp, cz); o[0].Status != store.Rejected || !errors.Is(o[0].Err, store.ErrUnauthorized) {
		t.Fatalf("grant by a non-admin: %v", o)
	}
	if o := e.apply(sp, z.next(g, put("z", "1"))); o[0].Status != store.Rejected {
		t.Fatalf("z wrote without a grant: %v", o)
	}

	// Invites: the admin grants an invite key write; joiners grant
	// themselves with the invite key's signature, in their own commit.
	inv := keys.DeviceKeyFromSeed(seed(60))
	ci := admin.next(nil, commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite}))
	e.mustApply(sp, ci)
	for i, b := range []byte{61, 62} {
		j := stranger(b)
		join := commit.GrantOp(commit.InviteGrant(sp, j.key.Author(), commit.RoleWrite, inv))
		e.mustApply(sp, j.next([]keys.CommitID{ci.ID}, join, put(fmt.Sprintf("joiner/%d", i), "hi")))
		e.mustApply(sp, j.next(nil, put(fmt.Sprintf("joiner/%d", i), "again")))
	}
	// An invite cannot raise the role it was given, and a forged delegation fails.
	j := stranger(63)
	up := commit.GrantOp(commit.InviteGrant(sp, j.key.Author(), commit.RoleAdmin, inv))
	if o := e.apply(sp, j.next([]keys.CommitID{ci.ID}, up, put("j", "x"))); o[0].Status != store.Rejected {
		t.Fatalf("invite raised to admin: %v", o)
	}
	forged := commit.InviteGrant(sp, j.key.Author(), commit.RoleWrite, keys.DeviceKeyFromSeed(seed(64)))
	forged.Invite = inv.Author()
	j2 := stranger(63)
	if o := e.apply(sp, j2.next([]keys.CommitID{ci.ID}, commit.GrantOp(forged), put("j", "x"))); o[0].Status != store.Rejected {
		t.Fatalf("forged invite delegation accepted: %v", o)
	}
	e.want(sp, "joiner/1", "again", "")
	// The decisions survive a reopen.
	e.reopen()
	e.mustApply(sp, x.next(nil, put("x", "2")))
}
