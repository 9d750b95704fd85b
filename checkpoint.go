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

// History says what this node holds of a space's history (Space.History).
type History struct {
	// Checkpoint is the checkpoint ("cmt_…") the space was joined from,
	// whose history below it this node does not all hold; "" when it
	// holds the whole history.
	Checkpoint string
	// Missing is how many commits below the checkpoint are not held.
	Missing uint64
	// NeedsHistory: something written after the checkpoint (a
	// revocation) can be decided only from the whole history, which the
	// node fetches by itself.
	NeedsHistory bool
	// Fetching: the node is fetching the history below the checkpoint.
	Fetching bool
}

// History says whether this node holds the space's whole history or
// joined it from a checkpoint (#14) and skipped the history below it.
func (s *Space) History(ctx context.Context) (History, error) {
	return s.impl.history(ctx, false)
}

// FetchHistory fetches the history below the checkpoint this node joined
// the space from, from connected peers that hold it, and returns once
// the node holds the whole history and has decided the space again from
// it. A peer that itself joined from a checkpoint cannot send it: with
// no other peer, it waits until ctx ends. With the whole history held it
// returns at once.
func (s *Space) FetchHistory(ctx context.Context) (History, error) {
	return s.impl.history(ctx, true)
}

func (s *localSpace) history(ctx context.Context, fetch bool) (History, error) {
	if fetch {
		if err := s.n.Deepen(ctx, s.in.ID); err != nil {
			return History{}, err
		}
	}
	h, err := s.n.History(ctx, s.in.ID)
	if err != nil {
		return History{}, err
	}
	out := History{Missing: h.Missing, NeedsHistory: h.NeedsHistory, Fetching: h.Fetching}
	if !h.Checkpoint.IsZero() {
		out.Checkpoint = h.Checkpoint.String()
	}
	return out, nil
}

func (s *remoteSpace) history(ctx context.Context, fetch bool) (History, error) {
	b, err := s.c.History(ctx, s.in.ID, fetch)
	if err != nil {
		return History{}, err
	}
	return History(b), nil
}
