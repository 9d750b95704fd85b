package space

import (
	"context"

	"github.com/loamdb/loam/internal/commit"
)

// CommitUnchecked commits ops without the local check of canWrite, as a
// device whose view of the grants or rules is behind the store's would:
// for tests of what the committer says when the store voids the write.
func (s *Space) CommitUnchecked(ctx context.Context, ops []commit.Op) (*commit.Commit, error) {
	return s.enqueue(ctx, 0, ops)
}

// RosterEvaluate is Roster deciding every commit again (the reference).
var RosterEvaluate = rosterEvaluate
