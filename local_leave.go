package loam

import (
	"context"

	"github.com/loamdb/loam/internal/node"
)

func fromNodePlan(p node.LeavePlan) LeavePlan {
	return LeavePlan{
		Space: p.Space.String(), Name: p.Name, Commits: p.Commits, CommitBytes: p.CommitBytes,
		Blobs: p.Blobs, BlobBytes: p.BlobBytes, SharedBlobs: p.SharedBlobs, PinnedBlobs: p.PinnedBlobs,
		OtherHolders: p.OtherHolders, OnlyAdmin: p.OnlyAdmin, Secret: p.Secret, OwnCommits: p.OwnCommits, Unsynced: p.Unsynced,
	}
}

func (l localNode) planLeave(ctx context.Context, ref string) (LeavePlan, error) {
	p, err := l.n.PlanLeave(ctx, ref)
	if err != nil {
		return LeavePlan{}, err
	}
	return fromNodePlan(p), nil
}

func (l localNode) leave(ctx context.Context, ref string) (LeaveReport, error) {
	r, err := l.n.Leave(ctx, ref)
	if err != nil {
		return LeaveReport{}, err
	}
	return LeaveReport{LeavePlan: fromNodePlan(r.LeavePlan), Freed: r.Freed}, nil
}
