package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/space"
)

// Endpoints the root package's Connect needs besides the CLI's: a blob
// written under a key whatever its size, a key's conflicts, a space's
// state, and the wait for a space's first sync.

// SpaceState answers GET /v1/spaces/{space}/state.
type SpaceState struct {
	ViewHash string `json:"view_hash"` // equal on replicas with equal visible state
	Keys     int64  `json:"keys"`      // visible keys
	Role     string `json:"role"`      // this device's role ("" if none)
	Private  bool   `json:"private,omitempty"`
}

// maxSyncWait bounds the wait of POST /v1/spaces/{space}/synced, whatever
// the timeout asked.
const maxSyncWait = 10 * time.Minute

// putBlobKey stores the body as a blob and writes a reference to it under
// key, whatever its size: PUT /v1/spaces/{space}/blobs/{key...}. The
// Content-Type is the blob's type unless it is application/octet-stream.
func (s *Server) putBlobKey(w http.ResponseWriter, r *http.Request) {
	sp, key, err := s.spaceKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.putBlob(w, r, sp, key, io.LimitReader(r.Body, blob.MaxBlobSize+1))
}

// spaceKey returns the {space} and the {key...} of the path.
func (s *Server) spaceKey(r *http.Request) (*space.Space, []byte, error) {
	key, err := pathKey(r)
	if err != nil {
		return nil, nil, err
	}
	sp, err := s.space(r)
	return sp, key, err
}

// conflicts lists the concurrent writes to key that lost to the visible
// one: GET /v1/spaces/{space}/conflicts/{key...}. A delete among them
// has "op": "del" and no value.
func (s *Server) conflicts(r *http.Request) ([]Entry, error) {
	sp, key, err := s.spaceKey(r)
	if err != nil {
		return nil, err
	}
	es, err := sp.Conflicts(r.Context(), key)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(es))
	for _, e := range es {
		en := entryOf(key, e)
		if e.Tombstone() { // a delete: "op": "del" and no value, as in a watch
			en.Op, en.Value, en.ValueB64 = OpDel, nil, nil
		}
		out = append(out, en)
	}
	return out, nil
}

// state answers a space's view hash, key count and this device's role:
// GET /v1/spaces/{space}/state.
func (s *Server) state(r *http.Request, sp *space.Space) (SpaceState, error) {
	v, err := sp.View(r.Context())
	if err != nil {
		return SpaceState{}, err
	}
	role, err := s.n.Store().Role(r.Context(), sp.ID(), sp.Author())
	if err != nil {
		return SpaceState{}, err
	}
	out := SpaceState{ViewHash: v.Hash.String(), Keys: v.Visible}
	if role != 0 {
		out.Role = role.String()
	}
	out.Private, _ = s.n.IsPrivate(r.Context(), sp.ID())
	return out, nil
}

// synced waits until the space is in sync with a connected peer (see
// node.WaitSynced), at most ?timeout= (a Go duration, at most
// maxSyncWait, which is also the default): POST
// /v1/spaces/{space}/synced. 204 when in sync; 504 "timeout" when the time
// ran out first.
func (s *Server) synced(w http.ResponseWriter, r *http.Request) {
	wait := maxSyncWait
	for name := range r.URL.Query() {
		if name != "timeout" {
			writeError(w, badRequestf("unknown parameter %q: the only parameter is timeout", name))
			return
		}
	}
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, badRequestf("timeout must be a positive Go duration (30s, 5m), not %q", v))
			return
		}
		wait = min(d, maxSyncWait)
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)() // the daemon stops: stop waiting
	if err := s.n.WaitSynced(ctx, sp.ID()); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = &kindError{msg: fmt.Sprintf("space %s is not in sync with any connected peer after %v: are its peers online? (see loam doctor)", sp.ID(), wait), kind: context.DeadlineExceeded}
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// PutBlob stores r as a blob typed mediaType (may be empty) and writes a
// reference to it under key, whatever its size: PUT
// /v1/spaces/{space}/blobs/{key}.
func (c *Client) PutBlob(ctx context.Context, sp string, key []byte, r io.Reader, mediaType string) (BlobRef, error) {
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	var ref BlobRef
	resp, err := c.do(ctx, http.MethodPut, spacePath(sp, "/blobs/"+escapeKey(key)), nil, r, mediaType)
	if err != nil {
		return ref, err
	}
	defer resp.Body.Close()
	if err := decodeBody(resp.Body, &ref); err != nil {
		return ref, fmt.Errorf("api: put a blob: read the answer: %w", err)
	}
	return ref, nil
}

// Conflicts returns the writes to key that lost to the visible one: GET
// /v1/spaces/{space}/conflicts/{key}.
func (c *Client) Conflicts(ctx context.Context, sp string, key []byte) ([]Entry, error) {
	return callFor[[]Entry](ctx, c, http.MethodGet, spacePath(sp, "/conflicts/"+escapeKey(key)), nil)
}

// State returns a space's view hash, key count and this device's role:
// GET /v1/spaces/{space}/state.
func (c *Client) State(ctx context.Context, sp string) (SpaceState, error) {
	return callFor[SpaceState](ctx, c, http.MethodGet, spacePath(sp, "/state"), nil)
}

// WaitSynced waits until the daemon holds sp in sync with a connected
// peer, until ctx ends (the daemon gives up after ctx's deadline, or
// after 10 minutes): POST /v1/spaces/{space}/synced.
func (c *Client) WaitSynced(ctx context.Context, sp string) error {
	q := url.Values{}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return context.DeadlineExceeded
		}
		q.Set("timeout", d.String())
	}
	resp, err := c.do(ctx, http.MethodPost, spacePath(sp, "/synced"), q, nil, "")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// OpenBlobRange returns the bytes of blob id from offset off on (all of
// them if off is 0), at most n bytes if n > 0, and the blob's size when
// off and n are 0: GET /v1/blobs/{id} with a Range header.
func (c *Client) OpenBlobRange(ctx context.Context, id string, off, n int64) (io.ReadCloser, int64, error) {
	return c.getRange(ctx, blobPath(id, ""), nil, off, n)
}

// GetRawRange is GetRaw from offset off on, at most n bytes if n > 0.
func (c *Client) GetRawRange(ctx context.Context, sp string, key []byte, off, n int64) (io.ReadCloser, int64, error) {
	return c.getRange(ctx, spacePath(sp, "/keys/"+escapeKey(key)), url.Values{"raw": {"true"}}, off, n)
}

func (c *Client) getRange(ctx context.Context, path string, q url.Values, off, n int64) (io.ReadCloser, int64, error) {
	h := http.Header{}
	switch {
	case n > 0:
		h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	case off > 0:
		h.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := c.doHeader(ctx, http.MethodGet, path, q, nil, h)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// decodeBody decodes one JSON value of at most 1 MiB.
func decodeBody(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(bytes.TrimSpace(b), v)
}
