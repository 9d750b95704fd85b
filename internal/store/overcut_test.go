package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// revokedSpace opens a store holding a space whose admin granted x write
// and then revoked it after x's first commit. It returns the store, the
// space, x's key and x's commit at the cut.
func revokedSpace(t *testing.T, dir string, fs vfs.FS) (*store.Store, keys.SpaceID, keys.DeviceKey, *commit.Commit) {
	t.Helper()
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{7})
	x := keys.DeviceKeyFromSeed([32]byte{8})
	id := sk.Space()
	at := time.Now().Add(-time.Hour)
	tm := func(i int) commit.HLC {
		return commit.HLC{Wall: uint64(at.Add(time.Duration(i) * time.Second).UnixMicro())}
	}
	genesis, err := commit.Build(commit.Header{Space: id, Author: sk.Author(), Seq: 1, Time: tm(0)},
		[]commit.Op{commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin}), commit.GrantOp(commit.Grant{Subject: x.Author(), Role: commit.RoleWrite})}, sk)
	if err != nil {
		t.Fatal(err)
	}
	x1, err := commit.Build(commit.Header{Space: id, Author: x.Author(), Seq: 1, Time: tm(1), Deps: []keys.CommitID{genesis.ID}},
		[]commit.Op{commit.Put([]byte("x/1"), []byte("kept"))}, x)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := commit.Build(commit.Header{Space: id, Author: sk.Author(), Seq: 2, Prev: genesis.ID, Time: tm(2), Deps: []keys.CommitID{x1.ID}},
		[]commit.Op{commit.RevokeOp(commit.Revoke{Author: x.Author(), LastSeq: 1})}, sk)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, store.Options{FS: fs, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateSpace(ctx, "s", genesis); err != nil {
		t.Fatal(err)
	}
	if res, err := st.Apply(ctx, id, []*commit.Commit{x1, rev}); err != nil || res.Outcomes[1].Status != store.Applied {
		t.Fatalf("setup: %v %v", res.Outcomes, err)
	}
	return st, id, x, x1
}

// xChain builds n commits of x after prev, each with a payload of size.
func xChain(t *testing.T, id keys.SpaceID, x keys.DeviceKey, prev *commit.Commit, n, size int, tag string) []*commit.Commit {
	t.Helper()
	var out []*commit.Commit
	for i := range n {
		c, err := commit.Build(commit.Header{Space: id, Author: x.Author(), Seq: prev.Seq + 1, Prev: prev.ID, Time: commit.HLC{Wall: prev.Time.Wall + 1}},
			[]commit.Op{commit.Put(fmt.Appendf(nil, "x/%s/%d", tag, i), bytes.Repeat([]byte{1}, size))}, x)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
		prev = c
	}
	return out
}

func statuses(res store.Result) map[store.Status]int {
	out := map[store.Status]int{}
	for _, o := range res.Outcomes {
		out[o.Status]++
	}
	return out
}

// TestOverCutBound: a revoked author's commits past its cut are kept up to
// the bound in commits and in bytes, then dropped; the count survives a
// reopen; commits already held stay duplicates; and the first evidence of
// a fork is kept whatever is held.
func TestOverCutBound(t *testing.T) {
	ctx := context.Background()
	t.Run("commits", func(t *testing.T) {
		st, id, x, x1 := revokedSpace(t, t.TempDir(), nil)
		cs := xChain(t, id, x, x1, store.MaxOverCut+10, 10, "n")
		res, err := st.Apply(ctx, id, cs)
		if err != nil {
			t.Fatal(err)
		}
		if got := statuses(res); got[store.Revoked] != store.MaxOverCut || got[store.Dropped] != 10 {
			t.Fatalf("outcomes %v, want %d revoked and 10 dropped", got, store.MaxOverCut)
		}
		if !errors.Is(res.Outcomes[len(cs)-1].Err, store.ErrOverCut) {
			t.Fatalf("dropped with %v", res.Outcomes[len(cs)-1].Err)
		}
		again, err := st.Apply(ctx, id, cs[store.MaxOverCut-2:])
		if err != nil {
			t.Fatal(err)
		}
		if got := statuses(again); got[store.Duplicate] != 2 || got[store.Dropped] != 10 {
			t.Fatalf("given again: %v", got)
		}
		// The first evidence of a fork is kept even past the bound.
		fork := xChain(t, id, x, x1, 2, 11, "fork")
		res, err = st.Apply(ctx, id, fork)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcomes[0].Status != store.Forked || res.Outcomes[1].Status != store.Dropped {
			t.Fatalf("fork past the bound: %v", res.Outcomes)
		}
		if fs, _ := st.Forks(ctx, id); len(fs) != 1 {
			t.Fatalf("%d forks held", len(fs))
		}
	})
	t.Run("bytes", func(t *testing.T) {
		fs := vfs.NewMem()
		st, id, x, x1 := revokedSpace(t, "s", fs)
		const size = 60 << 10
		cs := xChain(t, id, x, x1, 300, size, "b")
		res, err := st.Apply(ctx, id, cs[:100])
		if err != nil {
			t.Fatal(err)
		}
		if got := statuses(res); got[store.Revoked] != 100 {
			t.Fatalf("first 100: %v", got)
		}
		st.Close() // the count is read again from the rows
		st2, err := store.Open("s", store.Options{FS: fs, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		res, err = st2.Apply(ctx, id, cs[100:])
		if err != nil {
			t.Fatal(err)
		}
		got := statuses(res)
		kept := 100 + got[store.Revoked]
		if got[store.Dropped] == 0 || kept*(size+200) < store.MaxOverCutBytes-2*size || kept*size > store.MaxOverCutBytes {
			t.Fatalf("kept %d commits of %d KiB (%v), want about %d MiB", kept, size>>10, got, store.MaxOverCutBytes>>20)
		}
		sh, err := st2.SyncHeads(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range sh {
			if h.Author == x.Author() && h.Seq != 1 {
				t.Fatalf("announces x at %d, want its cut 1", h.Seq)
			}
		}
	})
}

// TestForkedTailWithheld: a forked author's commits from its fork on are
// withheld from sync like a revoked tail, whether or not they were voided
// by a revocation first: every store holding the evidence announces the
// author at the seq before the fork.
func TestForkedTailWithheld(t *testing.T) {
	ctx := context.Background()
	st, id, x, x1 := revokedSpace(t, t.TempDir(), nil)
	past := xChain(t, id, x, x1, 2, 10, "past")
	fork := xChain(t, id, x, x1, 3, 10, "fork")
	if _, err := st.Apply(ctx, id, append(past, fork...)); err != nil {
		t.Fatal(err)
	}
	sh, err := st.SyncHeads(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range sh {
		if h.Author == x.Author() && (h.Seq != 1 || h.ID != x1.ID) {
			t.Fatalf("announces x at %d, want 1", h.Seq)
		}
	}
	for sc, err := range st.Commits(ctx, id, x.Author(), 1) {
		if err != nil {
			t.Fatal(err)
		}
		if sc.Withheld != (sc.Seq > 1) {
			t.Fatalf("seq %d withheld=%v", sc.Seq, sc.Withheld)
		}
	}
}

// TestSidewaysNeedsItsPast: a commit kept off the main chain (fork
// evidence, or a forked author's other branch) is stored only once its
// prev and deps are, like a main-chain commit.
func TestSidewaysNeedsItsPast(t *testing.T) {
	ctx := context.Background()
	st, id, x, x1 := revokedSpace(t, t.TempDir(), nil)
	missing := keys.CommitID{0xab}
	build := func(prev *commit.Commit, deps []keys.CommitID, tag string) *commit.Commit {
		c, err := commit.Build(commit.Header{Space: id, Author: x.Author(), Seq: prev.Seq + 1, Prev: prev.ID, Deps: deps, Time: commit.HLC{Wall: prev.Time.Wall + 1}},
			[]commit.Op{commit.Put([]byte("x/"+tag), []byte("1"))}, x)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	main2 := build(x1, nil, "main")
	evidence := build(x1, []keys.CommitID{missing}, "evidence") // names a dep nobody holds
	res, err := st.Apply(ctx, id, []*commit.Commit{main2, evidence})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[1].Status != store.Pending {
		t.Fatalf("evidence without its deps: %v", res.Outcomes[1])
	}
	fork := build(x1, nil, "fork") // evidence with its past: kept
	branch := build(fork, []keys.CommitID{missing}, "branch")
	res, err = st.Apply(ctx, id, []*commit.Commit{fork, branch})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[0].Status != store.Forked || res.Outcomes[1].Status != store.Pending {
		t.Fatalf("evidence with its past, then the branch without its deps: %v", res.Outcomes)
	}
	if _, err := st.CommitByID(ctx, id, branch.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the branch commit without its deps is held: %v", err)
	}
}
