package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
)

// Leaving a space (issue 14): the space's data leaves this node, after the
// caller has shown what will be lost (PlanLeave). docs/design.md, "Leaving
// a space (#14)".

// ErrPersonSpace: the person's own space cannot be left.
var ErrPersonSpace = node.ErrPersonSpace

// LeavePlan is what leaving a space loses, as far as this node can tell.
type LeavePlan struct {
	Space string `json:"space"` // spc_…
	Name  string `json:"name"`
	// Commits and CommitBytes count the space's commits in the store.
	Commits     int   `json:"commits"`
	CommitBytes int64 `json:"commit_bytes"`
	// Blobs and BlobBytes count the blobs held here that no other held
	// space references: they are deleted. SharedBlobs (another held space
	// references them) and PinnedBlobs stay.
	Blobs       int   `json:"blobs"`
	BlobBytes   int64 `json:"blob_bytes"`
	SharedBlobs int   `json:"shared_blobs"`
	PinnedBlobs int   `json:"pinned_blobs"`
	// OtherHolders counts the other devices known to hold the space
	// (members, seeders, authors of its commits, peers synced with); 0
	// means this node is its only known holder.
	OtherHolders int `json:"other_holders"`
	// OnlyAdmin: this device is an admin and no other is known.
	OnlyAdmin bool `json:"only_admin"`
	// Secret: this home holds the space's secret key (deleted too).
	Secret bool `json:"secret"`
	// OwnCommits counts this device's commits in the space; Unsynced, of
	// those, the ones no other node is known to hold: they are lost.
	OwnCommits uint64 `json:"own_commits"`
	Unsynced   uint64 `json:"unsynced"`
}

// LeaveReport is what Leave did: the plan, and the blob bytes freed.
type LeaveReport struct {
	LeavePlan
	Freed int64 `json:"freed"`
}

// leaveNode is what a Node implementation does to leave a space.
type leaveNode interface {
	planLeave(ctx context.Context, ref string) (LeavePlan, error)
	leave(ctx context.Context, ref string) (LeaveReport, error)
}

// PlanLeave says what leaving the held space ref (a name or spc_… ID)
// would lose, changing nothing: show it before calling Leave.
func (n *Node) PlanLeave(ctx context.Context, ref string) (LeavePlan, error) {
	return n.impl.planLeave(ctx, ref)
}

// Leave removes the held space ref from this node: its commits, cells and
// every other row, the blobs no other held space references (pinned ones
// stay), its read keys and space key files and its peer book entries; the
// node stops syncing and announcing it. If this device holds an identity,
// the space is marked left in the person's directory so that the person's
// other devices, which keep it, do not bring it back here. The person's
// own space cannot be left (ErrPersonSpace). The space can be joined again
// from an invite. A Space value of it fails from then on.
func (n *Node) Leave(ctx context.Context, ref string) (LeaveReport, error) {
	return n.impl.leave(ctx, ref)
}

// One road for leaving, embedded or through a daemon: node's plan and
// report become the API's (api.LeavePlanOf, api.LeaveReportOf), which
// become this package's here.
func leaveReportOf(r api.LeaveReport) LeaveReport {
	return LeaveReport{LeavePlan: LeavePlan(r.LeavePlan), Freed: r.Freed}
}
