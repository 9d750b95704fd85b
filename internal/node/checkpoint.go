package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
)

// ErrCheckpointPrivate refuses a checkpoint of a private space: its
// snapshot's cells would carry the keys in the clear (docs/plans/
// checkpoints.md §2; sealing them is later work).
var ErrCheckpointPrivate = errors.New("a private space cannot be checkpointed yet")

// Checkpoint is a checkpoint this node made or holds the snapshot of.
type Checkpoint struct {
	ID       keys.CommitID
	Author   keys.AuthorID
	Frontier []commit.FrontierHead
	Stats    commit.CheckpointStats
	// Bytes is what a fresh joiner downloads to install it: the kept
	// commits and the sections.
	Bytes uint64
}

// Checkpoint makes a checkpoint of space ref at this node's heads (#14):
// it computes the snapshot of the space from the store, writes the
// checkpoint op (this device must be an admin of the whole space), and
// keeps the snapshot's parts on disk to serve them to fresh joiners over
// /loam/snapshot/1. It refuses private spaces.
func (n *Node) Checkpoint(ctx context.Context, ref string) (Checkpoint, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return Checkpoint{}, err
	}
	if private, err := n.isPrivate(ctx, id); err != nil {
		return Checkpoint{}, err
	} else if private {
		return Checkpoint{}, fmt.Errorf("%w: %s is private (fresh members of a private space download its whole history)", ErrCheckpointPrivate, ref)
	}
	sp, err := n.openSpace(ctx, id)
	if err != nil {
		return Checkpoint{}, err
	}
	if role, err := n.st.Role(ctx, id, n.dev.Author()); err != nil {
		return Checkpoint{}, err
	} else if role != commit.RoleAdmin {
		return Checkpoint{}, fmt.Errorf("%w: making a checkpoint of %s needs admin of the whole space, and this device has %s (ask an admin to make it)", ErrNotAdmin, ref, roleName(role))
	}
	snap, err := n.snapshotNow(ctx, id)
	if err != nil {
		return Checkpoint{}, err
	}
	op, err := commit.CheckpointOp(snap.Checkpoint)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := sp.Commit(ctx, []commit.Op{op})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("node: checkpoint: %w", err)
	}
	parts := snapParts(snap)
	if err := n.keepSnapshot(id, c, parts); err != nil {
		return Checkpoint{}, err
	}
	out := Checkpoint{ID: c.ID, Author: c.Author, Frontier: snap.Checkpoint.Frontier, Stats: snap.Checkpoint.Stats}
	for _, p := range parts {
		out.Bytes += uint64(len(p))
	}
	return out, nil
}

// snapshotNow computes the snapshot of space id at the store's heads.
// FromStore reads the store's rows, which sync may change meanwhile: it
// is taken again while the heads moved during it, and after a few tries
// the snapshot is replayed at the heads it began with (Build, which reads
// only S(F)).
func (n *Node) snapshotNow(ctx context.Context, id keys.SpaceID) (*snapshot.Snapshot, error) {
	var f []commit.FrontierHead
	for range 3 {
		snap, err := snapshot.FromStore(ctx, n.st, id)
		if err != nil {
			return nil, fmt.Errorf("node: checkpoint: %w", err)
		}
		heads, err := n.st.Heads(ctx, id)
		if err != nil {
			return nil, err
		}
		f = snap.Checkpoint.Frontier
		if slices.EqualFunc(heads, f, func(h store.Head, fh commit.FrontierHead) bool {
			return h.Author == fh.Author && h.Seq == fh.Seq && h.ID == fh.ID
		}) {
			return snap, nil
		}
	}
	snap, err := snapshot.Build(ctx, n.st, id, f)
	if err != nil {
		return nil, fmt.Errorf("node: checkpoint: %w", err)
	}
	return snap, nil
}

// snapParts returns a snapshot's parts as the snapshot protocol sends
// them, indexed by part number − 1.
func snapParts(s *snapshot.Snapshot) [reconcile.SnapParts][]byte {
	return [reconcile.SnapParts][]byte{
		reconcile.SnapKept - 1:   reconcile.EncodeKeptCommits(s.Kept),
		reconcile.SnapIDs - 1:    s.Sections.Kept,
		reconcile.SnapCells - 1:  s.Sections.Cells,
		reconcile.SnapCausal - 1: s.Sections.Causal,
		reconcile.SnapACL - 1:    s.Sections.ACL,
	}
}

// snapDir is where the snapshots of space id are kept:
// HOME/snapshots/<space>/<checkpoint ID>/, one file per part (1..5) and
// the checkpoint commit ("commit").
func (n *Node) snapDir(id keys.SpaceID) string {
	return filepath.Join(n.home, "snapshots", id.String())
}

// keepSnapshot writes the parts of checkpoint c's snapshot under
// snapDir, whole or not at all (a directory renamed into place), and
// drops the older ones of the space: a node serves its latest.
func (n *Node) keepSnapshot(id keys.SpaceID, c *commit.Commit, parts [reconcile.SnapParts][]byte) error {
	dir := n.snapDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: keep snapshot: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".new-")
	if err != nil {
		return fmt.Errorf("node: keep snapshot: %w", err)
	}
	defer os.RemoveAll(tmp)
	write := func(name string, b []byte) error {
		return replaceFile(filepath.Join(tmp, name), b)
	}
	if err := write("commit", c.Bytes()); err != nil {
		return fmt.Errorf("node: keep snapshot: %w", err)
	}
	for i, p := range parts {
		if err := write(fmt.Sprint(i+1), p); err != nil {
			return fmt.Errorf("node: keep snapshot: %w", err)
		}
	}
	final := filepath.Join(dir, c.ID.String())
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("node: keep snapshot: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		if e.Name() != c.ID.String() {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}
