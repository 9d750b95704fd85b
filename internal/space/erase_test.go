package space_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// replicate applies every commit f's store holds to st (a batch in any
// order applies in causal order).
func replicate(t *testing.T, f *fixture, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	cs := storetest.StoredCommits(t, f.st, f.sk.Space())
	res, err := st.Apply(ctx, f.sk.Space(), cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o.Status != store.Applied && o.Status != store.Duplicate {
			t.Fatalf("commit %d: %v %v", i, o.Status, o.Err)
		}
	}
}

func newReplica(t *testing.T, f *fixture) *store.Store {
	t.Helper()
	st := storetest.TempStore(t)
	if err := st.AddSpace(context.Background(), "test", f.sk.Space()); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestErase: an erase drops the payloads of every write to a key (the
// superseded ones too) in the store that writes it, in a replica that held
// them and in one that receives the commits erased; the view hash is the
// same everywhere, the log still verifies, and a read says who erased the
// key. A member who neither wrote the key nor administers it is refused.
func TestErase(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	wk, w := f.writer(t)
	_, bo := f.writer(t)
	for _, v := range []string{"first photo", "second photo"} {
		if _, err := w.Commit(ctx, []commit.Op{commit.Put([]byte("photo"), []byte(v)), commit.Put([]byte("kept"), []byte(v))}); err != nil {
			t.Fatal(err)
		}
	}
	held := newReplica(t, f)
	replicate(t, f, held)

	_, err := bo.Erase(ctx, []byte("photo"), false)
	if !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("bo erases another's writes: %v, want acl.ErrDenied", err)
	}
	if n, err := w.Erase(ctx, []byte("photo"), false); err != nil || n != 2 {
		t.Fatalf("erase: %d writes, %v; want 2", n, err)
	}
	replicate(t, f, held)
	fresh := newReplica(t, f)
	replicate(t, f, fresh)

	want, err := f.st.View(ctx, f.sk.Space())
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*store.Store{"writer": f.st, "held": held, "fresh": fresh} {
		e, err := st.Get(ctx, f.sk.Space(), []byte("photo"))
		if err != nil || !e.Erased || e.Value != nil {
			t.Fatalf("%s: photo: %+v, %v; want erased", name, e, err)
		}
		by, ok, err := st.Erasure(ctx, f.sk.Space(), e.Author, e.Seq, e.Op)
		if err != nil || !ok || by.By != wk.Author() {
			t.Fatalf("%s: erasure of photo: %+v %v %v", name, by, ok, err)
		}
		if kept, err := st.Get(ctx, f.sk.Space(), []byte("kept")); err != nil || string(kept.Value) != "second photo" {
			t.Fatalf("%s: kept: %q, %v", name, kept.Value, err)
		}
		if v, err := st.View(ctx, f.sk.Space()); err != nil || v.Hash != want.Hash || v.Visible != 1 {
			t.Fatalf("%s: view %+v, %v; want hash %s with 1 visible key", name, v, err, want.Hash)
		}
		for sc, err := range st.Commits(ctx, f.sk.Space(), wk.Author(), 1) {
			if err != nil {
				t.Fatal(err)
			}
			c, err := commit.Decode(sc.Bytes)
			if err != nil {
				t.Fatalf("%s: an erased commit does not decode: %v", name, err)
			}
			for i, o := range c.Ops {
				if o.Kind == commit.KindPut && string(o.Key) == "photo" && !o.Erased {
					t.Fatalf("%s: seq %d op %d still holds %q", name, c.Seq, i, o.Payload)
				}
			}
		}
	}
	for name, st := range map[string]*store.Store{"writer": f.st, "held": held, "fresh": fresh} {
		if _, err := space.VerifyLog(ctx, st, f.sk.Space()); err != nil {
			t.Fatalf("%s: the log does not verify after the erase: %v", name, err)
		}
	}
	if _, err := w.Erase(ctx, []byte("photo"), false); !errors.Is(err, space.ErrNothingToErase) {
		t.Fatalf("erase twice: %v, want ErrNothingToErase", err)
	}
}

// TestEraseSuperseded: an edit's old values are erased, the live one
// stays.
func TestEraseSuperseded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	_, w := f.writer(t)
	for _, v := range []string{"helo", "hello", "hello!"} {
		if _, err := w.Commit(ctx, []commit.Op{commit.Put([]byte("chat/msg/1"), []byte(v))}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.EraseWith(ctx, []byte("chat/msg/1"), space.EraseOptions{Superseded: true}); err != nil || n != 2 {
		t.Fatalf("erase the superseded: %d, %v; want 2", n, err)
	}
	if e, err := f.st.Get(ctx, f.sk.Space(), []byte("chat/msg/1")); err != nil || e.Erased || string(e.Value) != "hello!" {
		t.Fatalf("the live value: %+v, %v", e, err)
	}
	ws, err := f.st.Writes(ctx, f.sk.Space(), []byte("chat/msg/1"), false)
	if err != nil || len(ws) != 3 {
		t.Fatalf("writes: %+v, %v", ws, err)
	}
	if _, err := w.EraseWith(ctx, []byte("chat/msg/1"), space.EraseOptions{Superseded: true}); !errors.Is(err, space.ErrNothingToErase) {
		t.Fatalf("again: %v", err)
	}
}

// TestRetention: under live-only the payloads of superseded and deleted
// writes are dropped here, the live values and the view hash stay; under
// keep-history or a duration not yet passed, nothing is dropped; a writer
// cannot set the policy.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	_, w := f.writer(t)
	for i := range 3 {
		if _, err := w.Commit(ctx, []commit.Op{
			commit.Put([]byte("doc"), fmt.Appendf(nil, "version %d", i)),
			commit.Put(fmt.Appendf(nil, "note/%d", i), []byte("kept")),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, []commit.Op{commit.Del([]byte("note/0"))}); err != nil {
		t.Fatal(err)
	}
	sp := f.sk.Space()
	later := time.Now().Add(time.Second)
	drop := func() int {
		t.Helper()
		res, err := f.st.DropSuperseded(ctx, sp, later, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Erased)
	}
	if n := drop(); n != 3 {
		t.Fatalf("dropped %d with no policy check in the store; want 3 (DropSuperseded does what it is asked)", n)
	}
	before, _ := f.st.View(ctx, sp)
	if err := w.SetRetention(ctx, commit.Retention{Mode: commit.LiveOnly}); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("a writer sets the retention: %v", err)
	}
	for _, r := range []commit.Retention{{Mode: commit.RetainFor, After: time.Hour}, {Mode: commit.LiveOnly}} {
		if err := f.sp.SetRetention(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, err := f.sp.Retention(ctx); err != nil || got != r {
			t.Fatalf("retention %v, %v; want %v", got, err, r)
		}
	}
	if e, err := f.st.Get(ctx, sp, []byte("doc")); err != nil || string(e.Value) != "version 2" {
		t.Fatalf("the live value: %q, %v", e.Value, err)
	}
	if after, _ := f.st.View(ctx, sp); after.Hash != before.Hash {
		t.Fatal("dropping superseded payloads changed the view hash")
	}
	for sc, err := range f.st.AllCommits(ctx, sp) {
		if err != nil {
			t.Fatal(err)
		}
		c, _ := commit.Decode(sc.Bytes)
		for _, o := range c.Ops {
			if o.Kind == commit.KindPut && string(o.Key) == "doc" && !o.Erased && string(o.Payload) != "version 2" {
				t.Fatalf("%q kept", o.Payload)
			}
			if string(o.Key) == "note/0" && o.Kind == commit.KindPut && !o.Erased {
				t.Fatal("the deleted note's value kept")
			}
		}
	}
	if n := drop(); n != 0 {
		t.Fatalf("dropped %d again", n)
	}
	if _, err := space.VerifyLog(ctx, f.st, sp); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionReachesOldWrites: superseded writes too young to drop that
// come first in key order do not stop a pass from dropping older ones
// (the index is in key order, not time order).
func TestRetentionReachesOldWrites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	_, w := f.writer(t)
	put := func(key string, v string) {
		t.Helper()
		if _, err := w.Commit(ctx, []commit.Op{commit.Put([]byte(key), []byte(v))}); err != nil {
			t.Fatal(err)
		}
	}
	put("z", "old")
	put("z", "new") // "old" is superseded, and older than the cut
	zNew, err := f.st.Get(ctx, f.sk.Space(), []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	cut := time.UnixMicro(int64(zNew.Time.Wall) + 1) // the writer's later commits are dated after
	for i := range 8 {
		put(fmt.Sprintf("a%d", i), "young")
		put(fmt.Sprintf("a%d", i), "younger")
	}
	res, err := f.st.DropSuperseded(ctx, f.sk.Space(), cut, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Erased) != 1 {
		t.Fatalf("dropped %d writes older than the cut, want the 1 under z", len(res.Erased))
	}
}

// TestEraseLostWrite: a replica that holds a write without its payload and
// without an erase that counts (here: the writer's erase has not reached
// it) shows the key, says its value is not held here, and can erase it: the
// erase takes the key out of its view and of the writer's.
func TestEraseLostWrite(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	wk, w := f.writer(t)
	if _, err := w.Commit(ctx, []commit.Op{commit.Put([]byte("photo"), []byte("oops"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Erase(ctx, []byte("photo"), false); err != nil {
		t.Fatal(err)
	}
	var withoutErase []*commit.Commit
	for _, c := range storetest.StoredCommits(t, f.st, f.sk.Space()) {
		if c.Author != wk.Author() || c.Seq != 2 {
			withoutErase = append(withoutErase, c)
		}
	}
	lost := newReplica(t, f)
	if _, err := lost.Apply(ctx, f.sk.Space(), withoutErase); err != nil {
		t.Fatal(err)
	}
	admin, err := space.Open(ctx, lost, f.sk.Space(), f.dev, commit.NewClock())
	if err != nil {
		t.Fatal(err)
	}
	e, err := admin.Get(ctx, []byte("photo"))
	if err != nil || !e.Lost || !e.Visible() {
		t.Fatalf("photo on the replica without the erase: %+v, %v; want visible, its value lost", e, err)
	}
	var ee *space.ErasedError
	if err := admin.Erasure(ctx, []byte("photo"), e); !errors.As(err, &ee) || !ee.Lost {
		t.Fatalf("reading the lost value: %v, want an ErasedError saying it is lost", err)
	}
	if n, err := admin.Erase(ctx, []byte("photo"), false); err != nil || n != 1 {
		t.Fatalf("erasing the lost write: %d writes, %v; want 1", n, err)
	}
	res, err := f.st.Apply(ctx, f.sk.Space(), storetest.StoredCommits(t, lost, f.sk.Space()))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o.Status != store.Applied && o.Status != store.Duplicate {
			t.Fatalf("commit %d back at the writer: %v %v", i, o.Status, o.Err)
		}
	}
	for name, st := range map[string]*store.Store{"writer": f.st, "lost": lost} {
		v, err := st.View(ctx, f.sk.Space())
		if err != nil || v.Visible != 0 {
			t.Errorf("%s: view %+v, %v; want no visible key", name, v, err)
		}
		if e, err := st.Get(ctx, f.sk.Space(), []byte("photo")); err != nil || !e.Erased || e.Lost {
			t.Errorf("%s: photo %+v, %v; want erased", name, e, err)
		}
	}
}
