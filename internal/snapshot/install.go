package snapshot

import (
	"context"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Install checks a snapshot against its checkpoint k (Check) and installs
// it in st as the space sp under name, floored at k's frontier
// (store.InstallSnapshot). c is the checkpoint commit's ID (zero if the
// snapshot is installed without one, as in tests). The kept commits must
// be verified (commit.Verify) by the caller, and k's signer's right to
// checkpoint checked. A snapshot that fails a check is not installed and
// the error names the field.
func Install(ctx context.Context, st *store.Store, sp keys.SpaceID, name string, c keys.CommitID, k commit.Checkpoint, sec Sections, kept []*commit.Commit) error {
	if field, err := Check(k, sec, kept); err != nil {
		return fmt.Errorf("snapshot: install: field %d: %w", field, err)
	}
	f := k.Frontier
	cells, err := DecodeCells(sec.Cells, f)
	if err != nil {
		return err
	}
	gains, err := DecodeCausal(sec.Causal, f)
	if err != nil {
		return err
	}
	d, err := DecodeACL(sec.ACL)
	if err != nil {
		return err
	}
	in := &store.Install{
		Name: name, Checkpoint: c, Frontier: f, Kept: kept,
		Cells: make([]store.CellRow, len(cells)), Gains: gains,
		Cuts: make(map[keys.AuthorID]uint64, len(d.Cuts)), Invalid: d.Invalid, Once: d.Once,
		View: k.View, Visible: k.Visible,
	}
	for i, cl := range cells {
		live := make([]view.Entry, len(cl.Entries))
		for j, e := range cl.Entries {
			live[j] = e.Entry
			if e.Erased {
				in.Erasures = append(in.Erasures, store.ErasureOf{Author: e.Author, Seq: e.Seq, Op: e.Op, Erasure: e.Erasure})
			}
		}
		in.Cells[i] = store.CellRow{Key: cl.Key, Cell: view.Cell{Live: live}}
	}
	for _, l := range d.Cuts {
		in.Cuts[l.Author] = l.Seq
	}
	return st.InstallSnapshot(ctx, sp, in)
}
