package space_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// justBefore returns the greatest time before h.
func justBefore(h commit.HLC) commit.HLC {
	if h.Logical > 0 {
		return commit.HLC{Wall: h.Wall, Logical: h.Logical - 1}
	}
	return commit.HLC{Wall: h.Wall - 1, Logical: ^uint32(0)}
}

// TestWinnerAt: WinnerAt returns the write a key showed as of a time,
// from its live writes (two devices' concurrent writes: the view's winner
// of the two), its superseded ones (their values read from their
// commits), a superseded tombstone, and a write whose payload retention
// dropped (erased, no value); nothing before the first write.
func TestWinnerAt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	_, a := f.writer(t)
	bk, _ := f.writer(t)
	other := newReplica(t, f)
	replicate(t, f, other)
	b, err := space.Open(ctx, other, f.sk.Space(), bk, commit.NewClock())
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("board/vote/p/idt")
	write := func(sp *space.Space, st *store.Store, op commit.Op) view.Entry {
		t.Helper()
		if _, err := sp.Commit(ctx, []commit.Op{op}); err != nil {
			t.Fatal(err)
		}
		// The greatest write held is the cell's winner, the one just
		// written.
		e, ok, err := st.WinnerAt(ctx, f.sk.Space(), key, commit.HLC{Wall: ^uint64(0)})
		if err != nil || !ok {
			t.Fatalf("WinnerAt after a write: %v, %v", ok, err)
		}
		return e
	}
	a1 := write(a, f.st, commit.Put(key, []byte("a1")))
	b1 := write(b, other, commit.Put(key, []byte("b1"))) // concurrent with a1
	replicate(t, &fixture{st: other, sk: f.sk}, f.st)
	shown, err := f.sp.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if conflicts, err := f.sp.Conflicts(ctx, key); err != nil || len(conflicts) != 1 {
		t.Fatalf("conflicts: %v, %v; want a1 and b1 live", conflicts, err)
	}
	a2 := write(a, f.st, commit.Put(key, []byte("a2")))
	del := write(a, f.st, commit.Del(key))
	a3 := write(a, f.st, commit.Put(key, []byte("a3")))
	first := a1
	if b1.Version.Compare(a1.Version) < 0 {
		first = b1
	}
	check := func(name string, at commit.HLC, want *view.Entry) {
		t.Helper()
		got, ok, err := f.sp.WinnerAt(ctx, key, at)
		switch {
		case err != nil:
			t.Fatalf("%s: %v", name, err)
		case want == nil && ok:
			t.Fatalf("%s: %+v, want none", name, got)
		case want == nil:
		case !ok || got.Version != want.Version || string(got.Value) != string(want.Value) || got.Kind != want.Kind || got.Erased != want.Erased:
			t.Fatalf("%s: %+v (%v), want %+v", name, got, ok, *want)
		}
	}
	check("before any write", justBefore(first.Time), nil)
	check("at the first write", first.Time, &first)
	check("both concurrent writes", justBefore(a2.Time), &shown)
	check("at a2", a2.Time, &a2)
	check("the delete", justBefore(a3.Time), &del)
	check("at a3", a3.Time, &a3)
	check("long after", commit.HLC{Wall: ^uint64(0)}, &a3)

	// Retention drops the superseded payloads: a2 is read back erased.
	if _, err := f.st.DropSuperseded(ctx, f.sk.Space(), time.Now().Add(time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.sp.WinnerAt(ctx, key, a2.Time)
	if err != nil || !ok || got.Version != a2.Version || !got.Erased || got.Value != nil {
		t.Fatalf("a2 after retention: %+v, %v, %v; want it erased", got, ok, err)
	}
}

// TestWinnerAtManyRewrites: a key written 300 times by one device (puts,
// a delete every 40th write, many in one clock tick so that walls tie and
// the logical part decides) reads back, as of each write's time and
// just before it, that write and the one before it. WinnerAt reads the
// commits of the latest rows first and stops at an earlier wall: the
// answer must be the same as reading them all.
func TestWinnerAtManyRewrites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{NoSync: true})
	w, _ := f.writer(t)
	// A clock whose wall moves one microsecond every fifth reading.
	base, readings := time.Now(), 0
	sp, err := space.Open(ctx, f.st, f.sk.Space(), w, commit.NewClockAt(func() time.Time {
		readings++
		return base.Add(time.Duration(readings/5) * time.Microsecond)
	}))
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("board/vote/p/many")
	type write struct {
		time commit.HLC
		del  bool
		val  string
	}
	var ws []write
	for i := range 300 {
		op, w := commit.Put(key, fmt.Appendf(nil, "v%d", i)), write{val: fmt.Sprintf("v%d", i)}
		if i%40 == 39 {
			op, w = commit.Del(key), write{del: true}
		}
		c, err := sp.Commit(ctx, []commit.Op{op})
		if err != nil {
			t.Fatal(err)
		}
		w.time = c.Time
		ws = append(ws, w)
	}
	ties := 0
	for i := 1; i < len(ws); i++ {
		if ws[i].time.Wall == ws[i-1].time.Wall {
			ties++
		}
	}
	if ties == 0 {
		t.Fatal("no two writes share a wall time: the logical part never decides")
	}
	check := func(at commit.HLC, want int) {
		t.Helper()
		got, ok, err := sp.WinnerAt(ctx, key, at)
		switch {
		case err != nil:
			t.Fatal(err)
		case want < 0:
			if ok {
				t.Fatalf("before the first write: %+v, want none", got)
			}
		case !ok || got.Time != ws[want].time || got.Tombstone() != ws[want].del || !ws[want].del && string(got.Value) != ws[want].val:
			t.Fatalf("as of write %d: %+v (%v), want %+v", want, got, ok, ws[want])
		}
	}
	for i, w := range ws {
		check(w.time, i)
		check(justBefore(w.time), i-1)
	}
	t.Logf("%d writes, %d of them in the same wall tick as the one before", len(ws), ties)
}
