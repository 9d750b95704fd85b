package loam

import (
	"context"

	"github.com/loamdb/loam/internal/node"
)

// Errors of Space.Checkpoint.
var (
	// ErrNotAdmin: the operation needs this device to be an admin of the
	// space (of the whole space, for a checkpoint).
	ErrNotAdmin = node.ErrNotAdmin
	// ErrCheckpointPrivate: a private space cannot be checkpointed yet
	// (its snapshot would carry its keys in the clear); its fresh members
	// download its whole history.
	ErrCheckpointPrivate = node.ErrCheckpointPrivate
)

// Checkpoint describes a checkpoint made by Space.Checkpoint.
type Checkpoint struct {
	ID string // the checkpoint commit's ID ("cmt_…")
	// Commits and Bytes are the history the checkpoint summarizes (the
	// commits before it); Kept of those commits are in its snapshot.
	Commits, Bytes, Kept uint64
	// SnapshotBytes is what a fresh member downloads instead of that
	// history: the kept commits and the snapshot's sections.
	SnapshotBytes uint64
}

// Checkpoint makes a checkpoint of the space at this node's heads (#14):
// a signed summary of everything before it, which a fresh member joining
// later downloads instead of the history of deleted and erased values
// (what it downloads then grows with the live data, not with all that
// was ever written). This device must be an admin of the whole space
// (else ErrNotAdmin); private spaces are refused (ErrCheckpointPrivate).
// The node serves the snapshot to joiners while it runs.
func (s *Space) Checkpoint(ctx context.Context) (Checkpoint, error) {
	return s.impl.checkpoint(ctx)
}

func (s *localSpace) checkpoint(ctx context.Context) (Checkpoint, error) {
	k, err := s.n.Checkpoint(ctx, s.in.ID)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{ID: k.ID.String(), Commits: k.Stats.Commits, Bytes: k.Stats.Bytes, Kept: k.Stats.Kept, SnapshotBytes: k.Bytes}, nil
}

func (s *remoteSpace) checkpoint(ctx context.Context) (Checkpoint, error) {
	b, err := s.c.Checkpoint(ctx, s.in.ID)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint(b), nil
}
