package api

import (
	"context"
	"net/http"

	"github.com/loamdb/loam/internal/space"
)

// EraseRequest is the body of POST /v1/spaces/{space}/erase: the key (as
// text or base64) whose writes to erase, or, with prefix, the keys under
// it.
type EraseRequest struct {
	Key        *string `json:"key,omitempty"`
	KeyB64     *string `json:"key_b64,omitempty"`
	Prefix     bool    `json:"prefix,omitempty"`
	Superseded bool    `json:"superseded,omitempty"` // only writes a later write superseded (an edit's old text)
}

// EraseResponse answers POST /v1/spaces/{space}/erase: how many writes
// the erase named (their payloads are gone from this node on return, and
// from every other honest replica once it has the erase).
type EraseResponse struct {
	Erased int `json:"erased"`
}

func (s *Server) erase(w http.ResponseWriter, r *http.Request) {
	var req EraseRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	key, err := oneOf(req.Key, req.KeyB64, "key")
	if err != nil {
		writeError(w, badRequestf("%v", err))
		return
	}
	if len(key) == 0 && !req.Prefix {
		writeError(w, badRequestf(`"key" is empty: name the key to erase (or a prefix, with "prefix": true)`))
		return
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	n, err := sp.EraseWith(r.Context(), key, space.EraseOptions{Prefix: req.Prefix, Superseded: req.Superseded})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, EraseResponse{Erased: n})
}

// Erase erases the payloads of every write to key (or under it, with
// prefix) in space sp: POST /v1/spaces/{space}/erase.
func (c *Client) Erase(ctx context.Context, sp string, key []byte, prefix, superseded bool) (EraseResponse, error) {
	req := EraseRequest{Prefix: prefix, Superseded: superseded}
	req.Key, req.KeyB64 = textOrBase64(key)
	var out EraseResponse
	err := c.call(ctx, http.MethodPost, spacePath(sp, "/erase"), req, &out)
	return out, err
}
