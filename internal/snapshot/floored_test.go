package snapshot_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestInstalledOnceBelowFloor: a replica installed from a checkpoint
// refuses a rewrite of a write-once key whose earlier write lies below
// its floor, as the full replica does, even when that write is no longer
// in the key's cell (a concurrent write superseded it) and the rewrite
// has not seen the one in the cell. Before the checkpoint carried the
// tracked writes, the installed replica counted the rewrite
// (TestPropertyCheckpointJoin found it: seed 17962256029681947177).
func TestInstalledOnceBelowFloor(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	h := storetest.GenHistory(r, storetest.Gen{Authors: 2, Ops: 4, Keys: 3, MaxBatch: 1})
	sp := h.Space()
	admin, writer := h.Authors[0], h.Authors[1]
	next, latest := appender(h)
	once := `{"prefix":"o/","rules":[{"key":"o/{id}","write":"anyone","once":true}]}`
	var tracked []store.OnceWrite // the writes of o/x the checkpoint must carry
	early := next(admin, []*commit.Commit{latest[writer.Author()]}, commit.Put([]byte("o/x"), []byte("1")))
	next(admin, nil, commit.SchemaOp(commit.Schema{App: "o", Version: 1, Body: []byte(once)}))
	early2 := next(writer, []*commit.Commit{early}, commit.Put([]byte("o/x"), []byte("2"))) // no rule in its past: counts, supersedes early
	for _, c := range []*commit.Commit{early, early2} {
		tracked = append(tracked, store.OnceWrite{Key: []byte("o/x"), Loc: acl.Loc{Author: c.Author, Seq: c.Seq}})
	}
	slices.SortFunc(tracked, func(a, b store.OnceWrite) int { return bytes.Compare(a.Author[:], b.Author[:]) })
	atF := len(h.Commits)
	rewrite := next(admin, nil, commit.Put([]byte("o/x"), []byte("3"))) // saw early and the rule

	full, snap, installed := atFloor(t, h, atF)
	// The acl section: no invalid commit, no cut, then the two writes of
	// o/x, each author(32) ‖ uvarint(seq) ‖ uvarint(key length) ‖ key.
	want := []byte{0x00, 0x00, 0x02}
	for _, w := range tracked {
		want = append(append(want, w.Author[:]...), byte(w.Seq), 0x03)
		want = append(want, "o/x"...)
	}
	if !bytes.Equal(snap.Sections.ACL, want) {
		t.Fatalf("acl section %x, want %x", snap.Sections.ACL, want)
	}
	for _, bad := range [][]byte{
		{0x00, 0x00, 0x00},                 // an empty list is left out, not written
		append(slices.Clone(want), 0x00),   // a byte after
		append(want[:3:3], want[3+37:]...), // two writes counted, one there
	} {
		if _, err := snapshot.DecodeACL(bad); err == nil {
			t.Errorf("acl section %x decoded", bad)
		}
	}

	for name, st := range map[string]*store.Store{"full": full, "installed": installed} {
		res, err := st.Apply(ctx, sp, []*commit.Commit{rewrite})
		if err != nil {
			t.Fatal(err)
		}
		if o := res.Outcomes[0]; o.Status != store.Revoked {
			t.Errorf("%s replica: the rewrite is %s (%v), want refused", name, o.Status, o.Err)
		}
		if e, err := st.Get(ctx, sp, []byte("o/x")); err != nil || string(e.Value) != "2" {
			t.Errorf("%s replica: o/x is %q, %v; want the writer's 2", name, e.Value, err)
		}
	}
}

// appender returns a function that appends to h a commit of ops by k, on
// k's latest commit, with deps, 1 ms after the previous one; and the
// latest commit of each author, which it keeps.
func appender(h *storetest.History) (func(k keys.DeviceKey, deps []*commit.Commit, ops ...commit.Op) *commit.Commit, map[keys.AuthorID]*commit.Commit) {
	latest, last := h.Ends()
	wall := last.Wall
	return func(k keys.DeviceKey, deps []*commit.Commit, ops ...commit.Op) *commit.Commit {
		wall += 1000
		hd := commit.Header{Space: h.Space(), Author: k.Author(), Seq: 1, Time: commit.HLC{Wall: wall}}
		if p := latest[k.Author()]; p != nil {
			hd.Seq, hd.Prev = p.Seq+1, p.ID
		}
		for _, d := range deps {
			hd.Deps = append(hd.Deps, d.ID)
		}
		slices.SortFunc(hd.Deps, func(a, b keys.CommitID) int { return bytes.Compare(a[:], b[:]) })
		c := must(commit.Build(hd, ops, k))
		latest[k.Author()] = c
		h.Commits = append(h.Commits, c)
		return c
	}, latest
}

// TestInstalledWinnerAtDead: WinnerAt on a replica installed from a
// checkpoint answers as the full replica for a tombstone and an erased
// write that were live at the floor and superseded after it (their
// commits are not kept). Before their dead rows held their time and
// kind, the installed replica skipped them: it answered the write the
// tombstone had beaten (a concurrent put) and no write where the full
// replica answered the erased one.
func TestInstalledWinnerAtDead(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	h := storetest.GenHistory(r, storetest.Gen{Authors: 2, Ops: 4, Keys: 3, MaxBatch: 1})
	sp := h.Space()
	admin, writer := h.Authors[0], h.Authors[1]
	next, latest := appender(h)
	p := next(writer, nil, commit.Put([]byte("v/k"), []byte("p")))
	tomb := next(admin, nil, commit.Del([]byte("v/k"))) // concurrent with p, later: the cell's winner
	e := next(admin, nil, commit.Put([]byte("v/e"), []byte("secret")))
	next(admin, nil, must(commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: e.Author, Seq: e.Seq, ID: e.ID, Op: 0, Key: []byte("v/e")}}})))
	atF := len(h.Commits)
	next(admin, []*commit.Commit{p, latest[writer.Author()]}, commit.Put([]byte("v/k"), []byte("c")), commit.Put([]byte("v/e"), []byte("new")))
	before := h.Commits[len(h.Commits)-1].Time
	before.Wall-- // just before the writes that supersede them

	full, _, installed := atFloor(t, h, atF)
	for _, st := range []*store.Store{full, installed} {
		if left := storetest.Deliver(t, st, sp, h.Commits[atF:], 4, nil); len(left) != 0 {
			t.Fatalf("%d commits left", len(left))
		}
	}
	for _, c := range []struct {
		key      string
		want     keys.AuthorID
		wantSeq  uint64
		del, era bool
	}{
		{"v/k", tomb.Author, tomb.Seq, true, false},
		{"v/e", e.Author, e.Seq, false, true},
	} {
		for name, st := range map[string]*store.Store{"full": full, "installed": installed} {
			w, ok, err := st.WinnerAt(ctx, sp, []byte(c.key), before)
			if err != nil || !ok || w.Author != c.want || w.Seq != c.wantSeq || w.Tombstone() != c.del || w.Erased != c.era || len(w.Value) != 0 {
				t.Errorf("%s replica: %s before its rewrite: %s seq %d (del %v, erased %v, %q), %v, %v; want seq %d, del %v, erased %v",
					name, c.key, w.Author.Short(), w.Seq, w.Tombstone(), w.Erased, w.Value, ok, err, c.wantSeq, c.del, c.era)
			}
		}
	}
}

// TestFlooredOnceRuleNeedsHistory: a write-once rule new to a replica
// installed from a checkpoint (declared after the floor) marks that it
// needs the history below the floor, as a revocation does: the writes
// stored there, which the rule must track, are not held. Before, it was
// watched from then on, and a rewrite of a key written below the floor
// counted where the full replica voids it. A rule that came with the
// snapshot does not (TestInstalledOnceBelowFloor).
func TestFlooredOnceRuleNeedsHistory(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	h := storetest.GenHistory(r, storetest.Gen{Authors: 2, Ops: 6, Keys: 3, MaxBatch: 1})
	sp := h.Space()
	admin := h.Authors[0]
	next, _ := appender(h)
	next(admin, nil, commit.Put([]byte("o/x"), []byte("1")))
	_, _, installed := atFloor(t, h, len(h.Commits))
	once := `{"prefix":"o/","rules":[{"key":"o/{id}","write":"anyone","once":true}]}`
	rule := next(admin, nil, commit.SchemaOp(commit.Schema{App: "o", Version: 1, Body: []byte(once)}))
	if res, err := installed.Apply(ctx, sp, []*commit.Commit{rule}); err != nil || res.Outcomes[0].Status != store.Applied {
		t.Fatalf("the rule: %+v, %v", res, err)
	}
	if fl, err := installed.Floor(ctx, sp); err != nil || fl == nil || !fl.NeedsHistory {
		t.Fatalf("floor %+v, %v: want NeedsHistory", fl, err)
	}
}

// atFloor fills a full replica with h's first n commits, takes its
// snapshot and installs it in a new store: the full replica, the
// snapshot and the installed replica.
func atFloor(t *testing.T, h *storetest.History, n int) (full *store.Store, snap *snapshot.Snapshot, installed *store.Store) {
	t.Helper()
	ctx := context.Background()
	sp := h.Space()
	full = storetest.TempSpace(t, h.Commits[0])
	if left := storetest.Deliver(t, full, sp, h.Commits[1:n], 4, nil); len(left) != 0 {
		t.Fatalf("%d commits left", len(left))
	}
	snap, err := snapshot.FromStore(ctx, full, sp)
	if err != nil {
		t.Fatal(err)
	}
	installed = storetest.TempStore(t)
	if err := snapshot.Install(ctx, installed, sp, "s", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
		t.Fatal(err)
	}
	return full, snap, installed
}
