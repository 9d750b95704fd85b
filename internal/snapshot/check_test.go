package snapshot_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/snapshot"
)

// TestPropertyCheckFindsTheField: a snapshot taken from a store passes
// Check; any byte of a section changed, a kept commit dropped, or a field
// of the checkpoint changed fails Check, naming that section's or that
// field's number; and Mismatch names the field that differs.
func TestPropertyCheckFindsTheField(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		h, r := drawHistory(rt)
		st := deliver(rt, r, h.Space(), shuffled(r, h.Commits))
		s, err := snapshot.FromStore(ctx, st, h.Space())
		if err != nil {
			rt.Fatal(err)
		}
		if field, err := snapshot.Check(s.Checkpoint, s.Sections, s.Kept); field != 0 || err != nil {
			rt.Fatalf("an honest snapshot fails Check: field %d: %v", field, err)
		}

		sec := s.Sections
		parts := []struct {
			b     *[]byte
			field uint8
		}{
			{&sec.Kept, commit.CheckpointKept},
			{&sec.Cells, commit.CheckpointCells},
			{&sec.Causal, commit.CheckpointCausal},
			{&sec.ACL, commit.CheckpointACL},
		}
		p := parts[rapid.IntRange(0, 3).Draw(rt, "section")]
		b := slices.Clone(*p.b)
		i := rapid.IntRange(0, len(b)-1).Draw(rt, "byte")
		b[i] ^= byte(rapid.IntRange(1, 255).Draw(rt, "xor"))
		*p.b = b
		if field, err := snapshot.Check(s.Checkpoint, sec, s.Kept); field != p.field || err == nil {
			rt.Fatalf("a changed byte %d of section %d: field %d: %v", i, p.field, field, err)
		}

		if len(s.Kept) > 0 {
			j := rapid.IntRange(0, len(s.Kept)-1).Draw(rt, "dropped")
			fewer := slices.Delete(slices.Clone(s.Kept), j, j+1)
			if field, err := snapshot.Check(s.Checkpoint, s.Sections, fewer); field != commit.CheckpointKept || err == nil {
				rt.Fatalf("a kept commit dropped: field %d: %v", field, err)
			}
		}

		k := s.Checkpoint
		field := uint8(rapid.IntRange(int(commit.CheckpointView), int(commit.CheckpointStatsField)).Draw(rt, "field"))
		switch field {
		case commit.CheckpointView:
			k.Visible++
		case commit.CheckpointCells:
			k.Cells[0] ^= 1
		case commit.CheckpointKept:
			k.Kept[0] ^= 1
		case commit.CheckpointCausal:
			k.Causal[0] ^= 1
		case commit.CheckpointACL:
			k.ACL[0] ^= 1
		case commit.CheckpointStatsField:
			k.Stats.Cells++
		}
		if got, err := snapshot.Check(k, s.Sections, s.Kept); got != field || err == nil {
			rt.Fatalf("field %d changed: Check says field %d: %v", field, got, err)
		}
		if got := snapshot.Mismatch(k, s.Checkpoint); got != field {
			rt.Fatalf("field %d changed: Mismatch says %d", field, got)
		}
		if got := snapshot.Mismatch(s.Checkpoint, s.Checkpoint); got != 0 {
			rt.Fatalf("Mismatch of equal checkpoints: %d", got)
		}
		f := slices.Clone(s.Checkpoint.Frontier)
		f[0].ID[0] ^= 1
		k = s.Checkpoint
		k.Frontier = f
		if got := snapshot.Mismatch(k, s.Checkpoint); got != commit.CheckpointFrontier || bytes.Equal(f[0].ID[:], s.Checkpoint.Frontier[0].ID[:]) {
			rt.Fatalf("a frontier ID changed: Mismatch says %d", got)
		}
	})
}
