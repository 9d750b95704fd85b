package snapshot_test

import (
	"context"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
)

// TestUnfloorDropsUnlinked: a commit below the floor that is not the one
// the chain names (its author's other commit at that seq, a fork) is
// stored while the seq is a hole (Filled), then found by Unfloor, which
// removes it, counts it missing and keeps the floor; once the right
// commit is given, Unfloor ends the floor.
func TestUnfloorDropsUnlinked(t *testing.T) {
	ctx := context.Background()
	h, snap, st := installFixture(t)
	sp := h.Space()
	if err := snapshot.Install(ctx, st, sp, "s", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
		t.Fatal(err)
	}
	floor := map[keys.AuthorID]uint64{}
	for _, f := range snap.Checkpoint.Frontier {
		floor[f.Author] = f.Seq
	}
	kept := map[keys.CommitID]bool{}
	for _, c := range snap.Kept {
		kept[c.ID] = true
	}
	// A skipped commit of an author below its frontier seq, and its twin.
	var orig *commit.Commit
	var signer commit.Signer
	for _, c := range h.Commits {
		for i := range h.Authors {
			if c.Author == h.Authors[i].Author() && !kept[c.ID] && c.Seq < floor[c.Author] {
				orig, signer = c, h.Authors[i]
				break
			}
		}
		if orig != nil {
			break
		}
	}
	if orig == nil {
		t.Fatal("the fixture skips no commit below a frontier seq")
	}
	twin, err := commit.Build(orig.Header, []commit.Op{commit.Put([]byte("twin"), []byte("other"))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := st.Apply(ctx, sp, []*commit.Commit{twin}); err != nil || res.Outcomes[0].Status != store.Filled {
		t.Fatalf("the twin below the floor: %+v, %v; want Filled", res, err)
	}
	var rest []*commit.Commit
	for _, c := range h.Commits {
		if c.ID != orig.ID && floor[c.Author] >= c.Seq {
			rest = append(rest, c)
		}
	}
	if _, err := st.Apply(ctx, sp, rest); err != nil {
		t.Fatal(err)
	}
	missing, err := st.Unfloor(ctx, sp)
	if err != nil || missing != 1 {
		t.Fatalf("Unfloor with the twin in the original's place: %d missing, %v; want 1", missing, err)
	}
	if f, err := st.Floor(ctx, sp); err != nil || f == nil {
		t.Fatalf("the floor ended with a commit missing: %+v, %v", f, err)
	}
	if _, err := st.CommitByID(ctx, sp, twin.ID); err == nil {
		t.Error("the twin is still held")
	}
	if res, err := st.Apply(ctx, sp, []*commit.Commit{orig}); err != nil || res.Outcomes[0].Status != store.Filled {
		t.Fatalf("the original after the twin was removed: %+v, %v; want Filled", res, err)
	}
	if missing, err := st.Unfloor(ctx, sp); err != nil || missing != 0 {
		t.Fatalf("Unfloor with the whole history: %d missing, %v", missing, err)
	}
	if f, err := st.Floor(ctx, sp); err != nil || f != nil {
		t.Fatalf("still floored: %+v, %v", f, err)
	}
}
