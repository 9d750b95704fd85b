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

// HistoryResponse answers GET and POST /v1/spaces/{space}/history: the
// checkpoint the daemon joined the space from ("" when it holds the whole
// history), the commits below it not held, whether something after it
// needs the history (needs_history) and whether the daemon is fetching
// it.
type HistoryResponse struct {
	Checkpoint   string `json:"checkpoint"`
	Missing      uint64 `json:"missing"`
	NeedsHistory bool   `json:"needs_history"`
	Fetching     bool   `json:"fetching"`
}

func (s *Server) history(r *http.Request) (HistoryResponse, error) {
	return s.historyOf(r, false)
}

func (s *Server) fetchHistory(r *http.Request) (HistoryResponse, error) {
	return s.historyOf(r, true)
}

func (s *Server) historyOf(r *http.Request, fetch bool) (HistoryResponse, error) {
	sp := r.PathValue("space")
	if fetch {
		if err := s.n.Deepen(r.Context(), sp); err != nil {
			return HistoryResponse{}, err
		}
	}
	h, err := s.n.History(r.Context(), sp)
	if err != nil {
		return HistoryResponse{}, err
	}
	out := HistoryResponse{Missing: h.Missing, NeedsHistory: h.NeedsHistory, Fetching: h.Fetching}
	if !h.Checkpoint.IsZero() {
		out.Checkpoint = h.Checkpoint.String()
	}
	return out, nil
}

// History says what the daemon holds of space sp's history: GET
// /v1/spaces/{space}/history; with fetch, POST, which fetches the history
// below the checkpoint the daemon joined from first and answers once it
// is held.
func (c *Client) History(ctx context.Context, sp string, fetch bool) (HistoryResponse, error) {
	method := http.MethodGet
	if fetch {
		method = http.MethodPost
	}
	return callFor[HistoryResponse](ctx, c, method, spacePath(sp, "/history"), nil)
}
