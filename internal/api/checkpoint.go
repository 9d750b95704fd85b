package api

import (
	"context"
	"net/http"
)

// CheckpointResponse answers POST /v1/spaces/{space}/checkpoint: the
// checkpoint commit made, the history it summarizes (commits and bytes,
// kept of them in its snapshot) and what a fresh member downloads
// instead (snapshot_bytes).
type CheckpointResponse struct {
	ID            string `json:"id"`
	Commits       uint64 `json:"commits"`
	Bytes         uint64 `json:"bytes"`
	Kept          uint64 `json:"kept"`
	SnapshotBytes uint64 `json:"snapshot_bytes"`
}

func (s *Server) checkpoint(r *http.Request) (CheckpointResponse, error) {
	k, err := s.n.Checkpoint(r.Context(), r.PathValue("space"))
	if err != nil {
		return CheckpointResponse{}, err
	}
	return CheckpointResponse{ID: k.ID.String(), Commits: k.Stats.Commits, Bytes: k.Stats.Bytes, Kept: k.Stats.Kept, SnapshotBytes: k.Bytes}, nil
}

// Checkpoint makes a checkpoint of space sp at the daemon's heads: POST
// /v1/spaces/{space}/checkpoint (an admin of the whole space; not a
// private space).
func (c *Client) Checkpoint(ctx context.Context, sp string) (CheckpointResponse, error) {
	return callFor[CheckpointResponse](ctx, c, http.MethodPost, spacePath(sp, "/checkpoint"), nil)
}
