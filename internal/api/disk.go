package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/store"
)

// SpaceBytes is what one space takes on disk, in SpaceStatus and
// DiskUsage (docs/design.md, "Disk that matches the data (#14)").
type SpaceBytes struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	// Live: the view's cells (the visible values) in the store's tables;
	// History: the commits and their indexes. Estimates from the tables'
	// indexes: rows not yet flushed (DiskUsage.Unflushed) are in neither.
	Live    int64 `json:"live"`
	History int64 `json:"history"`
	// Blobs: the bytes held of the blobs the space references; a blob
	// two spaces reference counts in full in each.
	Blobs int64 `json:"blobs"`
}

// DiskUsage answers GET /v1/disk: what the home takes on disk, in all
// and per space.
type DiskUsage struct {
	Spaces []SpaceBytes `json:"spaces"`
	// Store is what the store's directory takes (Tables + Obsolete + WAL
	// + Reserve + Other); Blobs what the blob store's chunks take, each
	// counted once; Total their sum.
	Store     int64 `json:"store"`
	Tables    int64 `json:"tables"`
	Obsolete  int64 `json:"obsolete"`
	WAL       int64 `json:"wal"`
	Unflushed int64 `json:"unflushed"` // part of WAL: rows in no space's figure yet
	Reserve   int64 `json:"reserve"`   // the loam-reserve file
	Blobs     int64 `json:"blobs"`
	Total     int64 `json:"total"`
}

// CompactRequest is the body of POST /v1/compact: the space to compact,
// or "" for the whole store.
type CompactRequest struct {
	Space string `json:"space,omitempty"`
}

// CompactResult answers POST /v1/compact: the usage before and after.
type CompactResult struct {
	Before DiskUsage `json:"before"`
	After  DiskUsage `json:"after"`
}

// spaceBytes returns what space id takes (see SpaceBytes).
func spaceBytes(ctx context.Context, n *node.Node, name string, id keys.SpaceID) (SpaceBytes, error) {
	b, err := n.SpaceBytes(ctx, id)
	if err != nil {
		return SpaceBytes{}, err
	}
	return SpaceBytes{Name: name, ID: id.String(), Live: b.Live, History: b.History, Blobs: b.Blobs}, nil
}

// DiskUsageOf returns what node n's home takes on disk: for the daemon's
// GET /v1/disk, and for a node opened in this process (package loam).
func DiskUsageOf(ctx context.Context, n *node.Node) (DiskUsage, error) {
	u, err := n.Usage(ctx)
	if err != nil {
		return DiskUsage{}, err
	}
	out := DiskUsage{
		Spaces: []SpaceBytes{}, Store: u.Store.Total, Tables: u.Store.Tables, Obsolete: u.Store.Obsolete,
		WAL: u.Store.WAL, Unflushed: u.Store.Unflushed, Reserve: u.Store.Reserve, Blobs: u.Blobs,
		Total: u.Store.Total + u.Blobs,
	}
	infos, err := n.Spaces(ctx)
	if err != nil {
		return DiskUsage{}, err
	}
	for _, in := range infos {
		b, err := spaceBytes(ctx, n, in.Name, in.ID)
		if err != nil {
			return DiskUsage{}, err
		}
		out.Spaces = append(out.Spaces, b)
	}
	return out, nil
}

// CompactNode compacts the store of n: space ref's rows, or all of them
// for "" (store.Compact), and returns the usage before and after.
func CompactNode(ctx context.Context, n *node.Node, ref string, progress func(done, total int)) (CompactResult, error) {
	var id *keys.SpaceID
	if ref != "" {
		sp, err := n.Space(ctx, ref)
		if err != nil {
			return CompactResult{}, err
		}
		x := sp.ID()
		id = &x
	}
	var res CompactResult
	var err error
	if res.Before, err = DiskUsageOf(ctx, n); err != nil {
		return CompactResult{}, err
	}
	var p func(store.CompactProgress)
	if progress != nil {
		p = func(c store.CompactProgress) { progress(c.Done, c.Total) }
	}
	if err := n.Compact(ctx, id, p); err != nil {
		return CompactResult{}, err
	}
	if res.After, err = DiskUsageOf(ctx, n); err != nil {
		return CompactResult{}, err
	}
	return res, nil
}

func (s *Server) diskUsage(r *http.Request) (DiskUsage, error) { return DiskUsageOf(r.Context(), s.n) }

// CompactEvent is one line of the answer of POST /v1/compact (NDJSON):
// progress (Done of Total key ranges), then the result or an error.
type CompactEvent struct {
	Done   int            `json:"done"`
	Total  int            `json:"total"`
	Result *CompactResult `json:"result,omitempty"` // last line of a success
	Error  *ErrorBody     `json:"error,omitempty"`  // last line of a failure
}

func (s *Server) compact(w http.ResponseWriter, r *http.Request) {
	var req CompactRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Space != "" { // an unknown space is an error of the request
		if _, err := s.n.Space(r.Context(), req.Space); err != nil {
			writeError(w, err)
			return
		}
	}
	lines := startLines(w)
	progress := func(done, total int) {
		lines.progress(CompactEvent{Done: done, Total: total}, done == total)
	}
	res, err := CompactNode(r.Context(), s.n, req.Space, progress)
	if err != nil {
		lines.send(CompactEvent{Error: errorBody(err)})
		return
	}
	lines.send(CompactEvent{Result: &res})
}

// DiskUsage returns what the home takes on disk: GET /v1/disk.
func (c *Client) DiskUsage(ctx context.Context) (DiskUsage, error) {
	return callFor[DiskUsage](ctx, c, http.MethodGet, "/"+Version+"/disk", nil)
}

// Compact compacts the store (space, or all for ""): POST /v1/compact.
// progress, if not nil, is called with the key ranges done as the daemon
// reports them.
func (c *Client) Compact(ctx context.Context, space string, progress func(done, total int)) (CompactResult, error) {
	b, err := json.Marshal(CompactRequest{Space: space})
	if err != nil {
		return CompactResult{}, fmt.Errorf("api: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/"+Version+"/compact", nil, bytes.NewReader(b), "application/json")
	if err != nil {
		return CompactResult{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxCompactLine)
	for sc.Scan() {
		var ev CompactEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return CompactResult{}, fmt.Errorf("api: compact: read the answer: %w", err)
		}
		switch {
		case ev.Error != nil:
			return CompactResult{}, &Error{Status: http.StatusOK, Code: ev.Error.Code, Message: ev.Error.Error}
		case ev.Result != nil:
			return *ev.Result, nil
		case progress != nil:
			progress(ev.Done, ev.Total)
		}
	}
	if err := sc.Err(); err != nil {
		return CompactResult{}, fmt.Errorf("api: compact: %w", err)
	}
	return CompactResult{}, errors.New("api: compact: the answer ended before the compaction did")
}

// maxCompactLine bounds a line of the answer of POST /v1/compact (the
// result lists every space twice, about 200 bytes each).
const maxCompactLine = 16 << 20
