package api

import (
	"context"
	"net/http"
	"time"

	"github.com/loamdb/loam/internal/commit"
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

func (s *Server) erase(r *http.Request, req EraseRequest) (EraseResponse, error) {
	key, err := oneOf(req.Key, req.KeyB64, "key")
	if err != nil {
		return EraseResponse{}, badRequestf("%v", err)
	}
	if len(key) == 0 && !req.Prefix {
		return EraseResponse{}, badRequestf(`"key" is empty: name the key to erase (or a prefix, with "prefix": true)`)
	}
	sp, err := s.space(r)
	if err != nil {
		return EraseResponse{}, err
	}
	n, err := sp.EraseWith(r.Context(), key, space.EraseOptions{Prefix: req.Prefix, Superseded: req.Superseded})
	return EraseResponse{Erased: n}, err
}

// Erase erases the payloads of every write to key (or under it, with
// prefix) in space sp: POST /v1/spaces/{space}/erase.
func (c *Client) Erase(ctx context.Context, sp string, key []byte, prefix, superseded bool) (EraseResponse, error) {
	req := EraseRequest{Prefix: prefix, Superseded: superseded}
	req.Key, req.KeyB64 = textOrBase64(key)
	return callFor[EraseResponse](ctx, c, http.MethodPost, spacePath(sp, "/erase"), req)
}

// RetentionBody is a space's retention policy: GET and PUT
// /v1/spaces/{space}/retention. Mode is "keep-history", "live-only" or
// "for", with After a Go duration ("720h") for "for".
type RetentionBody struct {
	Mode  string `json:"mode"`
	After string `json:"after,omitempty"`
}

// RetentionOf converts a policy to its API form.
func RetentionOf(r commit.Retention) RetentionBody {
	b := RetentionBody{Mode: r.Mode.String()}
	if r.Mode == commit.RetainFor {
		b.After = r.After.String()
	}
	return b
}

// Policy parses b, strictly.
func (b RetentionBody) Policy() (commit.Retention, error) {
	var r commit.Retention
	var err error
	if r.Mode, err = commit.ParseRetentionMode(b.Mode); err != nil || b.Mode == "" {
		return r, badRequestf(`"mode" is %q: want "keep-history", "live-only" or "for" with "after"`, b.Mode)
	}
	switch {
	case r.Mode == commit.RetainFor:
		if r.After, err = time.ParseDuration(b.After); err != nil {
			return r, badRequestf(`"after": %v`, err)
		}
	case b.After != "":
		return r, badRequestf(`"after" goes only with "mode": "for"`)
	}
	if err := r.Validate(); err != nil {
		return r, badRequestf("%v", err)
	}
	return r, nil
}

func (s *Server) retention(r *http.Request, sp *space.Space) (RetentionBody, error) {
	p, err := sp.Retention(r.Context())
	return RetentionOf(p), err
}

func (s *Server) setRetention(r *http.Request, req RetentionBody) (RetentionBody, error) {
	p, err := req.Policy()
	if err != nil {
		return RetentionBody{}, err
	}
	sp, err := s.space(r)
	if err != nil {
		return RetentionBody{}, err
	}
	return RetentionOf(p), sp.SetRetention(r.Context(), p)
}

// Retention returns the retention policy of space sp.
func (c *Client) Retention(ctx context.Context, sp string) (RetentionBody, error) {
	return callFor[RetentionBody](ctx, c, http.MethodGet, spacePath(sp, "/retention"), nil)
}

// SetRetention sets the retention policy of space sp.
func (c *Client) SetRetention(ctx context.Context, sp string, b RetentionBody) error {
	return c.call(ctx, http.MethodPut, spacePath(sp, "/retention"), b, nil)
}
