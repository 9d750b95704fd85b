package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// installFixture returns a history, a store holding its first half, that
// store's snapshot, and an empty store.
func installFixture(t *testing.T) (*storetest.History, *snapshot.Snapshot, *store.Store) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	h := storetest.GenHistory(r, storetest.Gen{Authors: 3, Ops: 120, Keys: 10, MaxBatch: 2})
	sp := h.Space()
	part := storetest.TempStore(t)
	if err := part.AddSpace(context.Background(), "s", sp); err != nil {
		t.Fatal(err)
	}
	if left := storetest.Deliver(t, part, sp, h.Commits[:len(h.Commits)/2], 16, nil); len(left) != 0 {
		t.Fatalf("%d commits left", len(left))
	}
	snap, err := snapshot.FromStore(context.Background(), part, sp)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Kept) >= len(h.Commits)/2 {
		t.Fatalf("the fixture skips nothing: %d kept of %d", len(snap.Kept), len(h.Commits)/2)
	}
	return h, snap, storetest.TempStore(t)
}

// TestInstallRefuses: a snapshot that does not match its checkpoint is
// not installed, and the error names the field; a space held already,
// or a name taken, is refused; a refused install leaves nothing.
func TestInstallRefuses(t *testing.T) {
	ctx := context.Background()
	h, snap, st := installFixture(t)
	sp := h.Space()
	k := snap.Checkpoint

	bad := snap.Sections
	bad.Cells = bytes.Clone(bad.Cells)
	bad.Cells[len(bad.Cells)-1] ^= 1
	err := snapshot.Install(ctx, st, sp, "s", keys.CommitID{}, k, bad, snap.Kept)
	if err == nil || !strings.Contains(err.Error(), "field 3") {
		t.Fatalf("a damaged cells section: %v, want a refusal naming field 3", err)
	}
	if _, err := st.Space(ctx, sp); !errors.Is(err, store.ErrUnknownSpace) {
		t.Fatalf("after a refused install the space is held: %v", err)
	}
	leftNothing(t, st, sp, "a refused install")

	if err := st.AddSpace(ctx, "taken", keys.SpaceKeyFromSeed([32]byte{9}).Space()); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Install(ctx, st, sp, "taken", keys.CommitID{}, k, snap.Sections, snap.Kept); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("a name taken: %v", err)
	}
	if err := snapshot.Install(ctx, st, sp, "s", keys.CommitID{}, k, snap.Sections, snap.Kept); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Install(ctx, st, sp, "s2", keys.CommitID{}, k, snap.Sections, snap.Kept); err == nil || !strings.Contains(err.Error(), "already held") {
		t.Fatalf("installing a space held: %v", err)
	}
}

// TestInstalledSkipsAndForgets: a floored store says a skipped commit is
// not found, below the checkpoint; Forget removes its floor with the
// rest.
func TestInstalledSkipsAndForgets(t *testing.T) {
	ctx := context.Background()
	h, snap, st := installFixture(t)
	sp := h.Space()
	if err := snapshot.Install(ctx, st, sp, "s", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
		t.Fatal(err)
	}
	kept := map[keys.CommitID]bool{}
	for _, c := range snap.Kept {
		kept[c.ID] = true
	}
	heads := map[keys.CommitID]bool{}
	for _, f := range snap.Checkpoint.Frontier {
		heads[f.ID] = true
	}
	var skippedHead, skipped *commit.Commit
	for _, c := range h.Commits[:len(h.Commits)/2] {
		switch {
		case kept[c.ID]:
		case heads[c.ID]:
			skippedHead = c
		default:
			skipped = c
		}
	}
	if skipped == nil {
		t.Fatal("the fixture skips no commit")
	}
	if _, err := st.CommitByID(ctx, sp, skipped.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a skipped commit: %v, want ErrNotFound", err)
	}
	if skippedHead != nil {
		_, err := st.CommitByID(ctx, sp, skippedHead.ID)
		if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrBelowFloor) || errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("a frontier head not held: %v, want not found below the checkpoint", err)
		}
	}
	if err := st.Forget(ctx, sp); err != nil {
		t.Fatal(err)
	}
	leftNothing(t, st, sp, "Forget")
}

// leftNothing fails t if st holds anything of sp: its floor, heads,
// cells or commits.
func leftNothing(t *testing.T, st *store.Store, sp keys.SpaceID, what string) {
	t.Helper()
	ctx := context.Background()
	if fl, err := st.Floor(ctx, sp); err != nil || fl != nil {
		t.Fatalf("after %s: floor %+v, %v", what, fl, err)
	}
	if hs, err := st.Heads(ctx, sp); err != nil || len(hs) != 0 {
		t.Fatalf("after %s: %d heads, %v", what, len(hs), err)
	}
	for row := range st.Cells(ctx, sp) {
		t.Fatalf("after %s: cell %q", what, row.Key)
	}
	for sc := range st.AllCommits(ctx, sp) {
		t.Fatalf("after %s: commit %s seq %d", what, sc.Author.Short(), sc.Seq)
	}
}

// TestFlooredRevocationNeedsHistory: a revocation after F makes a full
// replica decide the space again from its whole history, which a floored
// store does not hold: it keeps its decision and says it needs the
// history (step 4 of the plan decides it).
func TestFlooredRevocationNeedsHistory(t *testing.T) {
	ctx := context.Background()
	h, snap, st := installFixture(t)
	sp := h.Space()
	if err := snapshot.Install(ctx, st, sp, "s", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
		t.Fatal(err)
	}
	atF := &storetest.History{SpaceKey: h.SpaceKey, Authors: h.Authors, Commits: h.Commits[:len(h.Commits)/2]}
	rev := appendByAdmin(atF, commit.RevokeOp(commit.Revoke{Author: h.Authors[1].Author(), LastSeq: 1}))
	res, err := st.Apply(ctx, sp, []*commit.Commit{rev})
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Outcomes[0]; o.Status != store.Applied {
		t.Fatalf("the revocation: %s: %v", o.Status, o.Err)
	}
	fl, err := st.Floor(ctx, sp)
	if err != nil || fl == nil || !fl.NeedsHistory {
		t.Fatalf("floor %+v, %v: want NeedsHistory", fl, err)
	}
	if _, err := st.View(ctx, sp); err != nil {
		t.Fatalf("the view after: %v", err)
	}
}
