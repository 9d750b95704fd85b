package api

import (
	"context"
	"net/http"

	"github.com/loamdb/loam/internal/node"
)

// Leaving a space (#14): GET /v1/spaces/{space}/leave says what leaving it
// would lose, POST /v1/spaces/{space}/leave leaves it (node.Leave).

// leavePattern is the route that leaves a space: refused on the
// --ui-listen listener (lanOnly), so a lost or stolen paired phone cannot
// wipe the node's spaces.
const leavePattern = "POST /v1/spaces/{space}/leave"

// LeavePlan answers GET /v1/spaces/{space}/leave: what leaving the space
// loses, as far as the daemon can tell (see node.LeavePlan).
type LeavePlan struct {
	Space        string `json:"space"`
	Name         string `json:"name"`
	Commits      int    `json:"commits"`       // the space's commits in the store
	CommitBytes  int64  `json:"commit_bytes"`  // their bytes
	Blobs        int    `json:"blobs"`         // blobs held that only this space references: deleted
	BlobBytes    int64  `json:"blob_bytes"`    // their bytes
	SharedBlobs  int    `json:"shared_blobs"`  // blobs another held space references too: kept
	PinnedBlobs  int    `json:"pinned_blobs"`  // pinned blobs only this space references: kept
	OtherHolders int    `json:"other_holders"` // other devices known to hold the space; 0: the daemon is its only known holder
	OnlyAdmin    bool   `json:"only_admin"`    // the daemon's device is its only known admin
	Secret       bool   `json:"secret"`        // the home holds the space's secret key (deleted too)
	OwnCommits   uint64 `json:"own_commits"`   // the device's commits in the space
	Unsynced     uint64 `json:"unsynced"`      // of those, the ones no other node is known to hold: lost
}

// LeaveReport answers POST /v1/spaces/{space}/leave: the plan, and the
// blob bytes freed.
type LeaveReport struct {
	LeavePlan
	Freed int64 `json:"freed"`
}

// LeavePlanOf converts the node's plan to the API's form: the one
// conversion the server and the root package's embedded path share.
func LeavePlanOf(p node.LeavePlan) LeavePlan {
	return LeavePlan{
		Space: p.Space.String(), Name: p.Name, Commits: p.Commits, CommitBytes: p.CommitBytes,
		Blobs: p.Blobs, BlobBytes: p.BlobBytes, SharedBlobs: p.SharedBlobs, PinnedBlobs: p.PinnedBlobs,
		OtherHolders: p.OtherHolders, OnlyAdmin: p.OnlyAdmin, Secret: p.Secret, OwnCommits: p.OwnCommits, Unsynced: p.Unsynced,
	}
}

func (s *Server) planLeave(r *http.Request) (LeavePlan, error) {
	p, err := s.n.PlanLeave(r.Context(), r.PathValue("space"))
	if err != nil {
		return LeavePlan{}, err
	}
	return LeavePlanOf(p), nil
}

func (s *Server) leave(r *http.Request) (LeaveReport, error) {
	rep, err := s.n.Leave(r.Context(), r.PathValue("space"))
	if err != nil {
		return LeaveReport{}, err
	}
	return LeaveReportOf(rep), nil
}

// LeaveReportOf converts the node's report of a leave to the API's form.
func LeaveReportOf(r node.LeaveReport) LeaveReport {
	return LeaveReport{LeavePlan: LeavePlanOf(r.LeavePlan), Freed: r.Freed}
}

// PlanLeave says what leaving space sp would lose: GET
// /v1/spaces/{space}/leave.
func (c *Client) PlanLeave(ctx context.Context, sp string) (LeavePlan, error) {
	return callFor[LeavePlan](ctx, c, http.MethodGet, spacePath(sp, "/leave"), nil)
}

// Leave leaves space sp: POST /v1/spaces/{space}/leave.
func (c *Client) Leave(ctx context.Context, sp string) (LeaveReport, error) {
	return callFor[LeaveReport](ctx, c, http.MethodPost, spacePath(sp, "/leave"), nil)
}
