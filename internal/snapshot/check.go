package snapshot

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Mismatch returns the first field of a checkpoint (commit.CheckpointFrontier
// .. commit.CheckpointStatsField) in which got differs from want, or 0 if
// they are equal: what a verifier's dispute names.
func Mismatch(got, want commit.Checkpoint) uint8 {
	switch {
	case !reflect.DeepEqual(got.Frontier, want.Frontier):
		return commit.CheckpointFrontier
	case got.View != want.View || got.Visible != want.Visible:
		return commit.CheckpointView
	case got.Cells != want.Cells:
		return commit.CheckpointCells
	case got.Kept != want.Kept:
		return commit.CheckpointKept
	case got.Causal != want.Causal:
		return commit.CheckpointCausal
	case got.ACL != want.ACL:
		return commit.CheckpointACL
	case got.Stats != want.Stats:
		return commit.CheckpointStatsField
	}
	return 0
}

// Check verifies, as a joiner does before installing them, that sections
// and kept commits are what checkpoint k names: each section decodes for
// k's frontier and hashes to its field; kept holds exactly the commits
// the kept section names, in its order; each live write of the cells is
// the op of a kept commit with that key and kind, and their op digests
// make the cells digest; the view hash and visible count recomputed from
// the cells' winners are k's; and the stats count the kept commits and
// the cells. It returns the field that fails with the error, or 0 and
// nil. The commits' signatures, and whether the signer may checkpoint,
// are the caller's to check.
func Check(k commit.Checkpoint, sec Sections, kept []*commit.Commit) (uint8, error) {
	f := k.Frontier
	if err := k.Validate(); err != nil {
		return commit.CheckpointFrontier, err
	}
	refs, err := DecodeKept(sec.Kept, f)
	if err != nil {
		return commit.CheckpointKept, err
	}
	if KeptDigest(sec.Kept) != k.Kept {
		return commit.CheckpointKept, fmt.Errorf("snapshot: the kept section does not hash to the checkpoint's")
	}
	if len(refs) != len(kept) {
		return commit.CheckpointKept, fmt.Errorf("snapshot: %d kept commits, the section names %d", len(kept), len(refs))
	}
	at := make(map[locOf]*commit.Commit, len(kept))
	for i, c := range kept {
		if r := refs[i]; c.Author != r.Author || c.Seq != r.Seq || c.ID != r.ID {
			return commit.CheckpointKept, fmt.Errorf("snapshot: kept commit %d is %s, the section names %s seq %d", i, c, r.Author.Short(), r.Seq)
		}
		at[locOf{c.Author, c.Seq}] = c
	}

	cells, err := DecodeCells(sec.Cells, f)
	if err != nil {
		return commit.CheckpointCells, err
	}
	var live []byte
	var vh view.Hash
	var visible uint64
	for _, c := range cells {
		for i, e := range c.Entries {
			if e.Erased || e.Tombstone() {
				continue
			}
			kc := at[locOf{e.Author, e.Seq}]
			if kc == nil || int(e.Op) >= len(kc.Ops) || kc.Ops[e.Op].Kind != e.Kind || !bytes.Equal(kc.Ops[e.Op].Key, c.Key) {
				return commit.CheckpointCells, fmt.Errorf("snapshot: cell %q names %s seq %d op %d, which no kept commit writes", c.Key, e.Author.Short(), e.Seq, e.Op)
			}
			if kc.Time != e.Time {
				return commit.CheckpointCells, fmt.Errorf("snapshot: cell %q dates %s seq %d at %v, its commit at %v", c.Key, e.Author.Short(), e.Seq, e.Time, kc.Time)
			}
			d := kc.OpDigest(int(e.Op))
			live = append(live, d[:]...)
			if i == 0 {
				vh.Toggle(d)
				visible++
			}
		}
	}
	if CellsDigest(sec.Cells, live) != k.Cells {
		return commit.CheckpointCells, fmt.Errorf("snapshot: the cells section does not hash to the checkpoint's")
	}
	if keys.Digest(vh) != k.View || visible != k.Visible {
		return commit.CheckpointView, fmt.Errorf("snapshot: the cells' view is %x with %d keys, the checkpoint's %x with %d", vh[:], visible, k.View, k.Visible)
	}
	if _, err := DecodeCausal(sec.Causal, f); err != nil {
		return commit.CheckpointCausal, err
	}
	if CausalDigest(sec.Causal) != k.Causal {
		return commit.CheckpointCausal, fmt.Errorf("snapshot: the causal section does not hash to the checkpoint's")
	}
	if _, err := DecodeACL(sec.ACL); err != nil {
		return commit.CheckpointACL, err
	}
	if ACLDigest(sec.ACL) != k.ACL {
		return commit.CheckpointACL, fmt.Errorf("snapshot: the acl section does not hash to the checkpoint's")
	}
	if k.Stats.Kept != uint64(len(kept)) || k.Stats.Cells != uint64(len(cells)) {
		return commit.CheckpointStatsField, fmt.Errorf("snapshot: the stats say %d kept commits and %d cells, the sections hold %d and %d", k.Stats.Kept, k.Stats.Cells, len(kept), len(cells))
	}
	return 0, nil
}
