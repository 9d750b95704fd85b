package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/loamdb/loam/internal/archive"
	"github.com/loamdb/loam/internal/node"
)

// Space archives (docs/format/archive.md) stream through two endpoints:
//
//	GET  /v1/spaces/{space}/archive[?keys=1]  the archive, as application/octet-stream
//	POST /v1/restore[?name=NAME]              an archive as the body; answers ArchiveSummary
//
// An archive's answer ends with the trailer Loam-Archive-Summary (the
// ArchiveSummary as JSON) or, if writing failed after the first byte,
// Loam-Archive-Error (the error as an ErrorBody): a client that finds
// neither has a truncated archive.

// archiveIOTimeout bounds each write of an archive's answer and each read
// of a restore's body: a peer that stalls that long is cut off.
const archiveIOTimeout = time.Minute

// Trailers of an archive's answer.
const (
	TrailerArchiveSummary = "Loam-Archive-Summary"
	TrailerArchiveError   = "Loam-Archive-Error"
)

// ArchiveSummary says what an archive holds, or what a restore stored.
type ArchiveSummary struct {
	Space        string `json:"space"`
	Name         string `json:"name"`
	Private      bool   `json:"private,omitempty"`
	ReadKeys     bool   `json:"read_keys,omitempty"`
	Commits      int    `json:"commits"`
	Blobs        int    `json:"blobs"`
	BlobBytes    int64  `json:"blob_bytes"`
	MissingBlobs int    `json:"missing_blobs,omitempty"`
}

// ArchiveSummaryOf converts the archive package's summary.
func ArchiveSummaryOf(s archive.Summary) ArchiveSummary {
	return ArchiveSummary{Space: s.Space.String(), Name: s.Name, Private: s.Private, ReadKeys: s.ReadKeys,
		Commits: s.Commits, Blobs: s.Blobs, BlobBytes: s.BlobBytes, MissingBlobs: s.MissingBlobs}
}

// archiveSpace streams a space's archive: GET /v1/spaces/{space}/archive.
func (s *Server) archiveSpace(w http.ResponseWriter, r *http.Request) {
	id, err := s.n.Resolve(r.Context(), r.PathValue("space"))
	if err != nil {
		writeError(w, err)
		return
	}
	withKeys := r.URL.Query().Get("keys") == "1"
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Trailer", TrailerArchiveSummary+", "+TrailerArchiveError)
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
	sum, err := archive.Write(r.Context(), s.n, id, dw, archive.WriteOptions{WithKeys: withKeys})
	if err != nil {
		if !dw.wrote {
			h.Del("Trailer")
			writeError(w, err)
			return
		}
		b, _ := json.Marshal(errorBody(err))
		h.Set(TrailerArchiveError, string(b))
		return
	}
	b, _ := json.Marshal(ArchiveSummaryOf(sum))
	h.Set(TrailerArchiveSummary, string(b))
}

// deadlineWriter bounds each write with archiveIOTimeout.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	wrote bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(archiveIOTimeout))
	d.wrote = true
	return d.w.Write(p)
}

// deadlineReader bounds each read with archiveIOTimeout.
type deadlineReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (d deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(archiveIOTimeout))
	return d.r.Read(p)
}

// restoreSpace restores the space of the archive in the body: POST
// /v1/restore.
func (s *Server) restoreSpace(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name != "" {
		if err := node.CheckName(name); err != nil {
			writeError(w, err)
			return
		}
	}
	body := deadlineReader{r: r.Body, rc: http.NewResponseController(w)}
	sum, err := archive.Restore(r.Context(), s.n, body, archive.RestoreOptions{Name: name})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ArchiveSummaryOf(sum))
}

// Archive writes the archive of space sp to w (with a private space's
// read keys if withKeys) and returns its summary. An archive cut short
// fails with an error saying so.
func (c *Client) Archive(ctx context.Context, sp string, withKeys bool, w io.Writer) (ArchiveSummary, error) {
	q := url.Values{}
	if withKeys {
		q.Set("keys", "1")
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/spaces/"+url.PathEscape(sp)+"/archive", q, nil, "")
	if err != nil {
		return ArchiveSummary{}, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return ArchiveSummary{}, fmt.Errorf("the archive was cut short: %w", err)
	}
	if e := resp.Trailer.Get(TrailerArchiveError); e != "" {
		var body ErrorBody
		if err := json.Unmarshal([]byte(e), &body); err != nil {
			return ArchiveSummary{}, fmt.Errorf("the daemon failed to write the archive: %s", e)
		}
		return ArchiveSummary{}, &Error{Status: http.StatusInternalServerError, Code: body.Code, Message: body.Error}
	}
	var sum ArchiveSummary
	t := resp.Trailer.Get(TrailerArchiveSummary)
	if t == "" {
		return sum, errors.New("the daemon's archive ended without its summary: it is incomplete (make it again)")
	}
	if err := json.Unmarshal([]byte(t), &sum); err != nil {
		return sum, fmt.Errorf("the daemon sent a bad archive summary: %w", err)
	}
	return sum, nil
}

// Restore sends the archive r reads to the daemon, which restores its
// space (under name, or the archive's name if empty).
func (c *Client) Restore(ctx context.Context, r io.Reader, name string) (ArchiveSummary, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/restore", q, io.NopCloser(r), "application/octet-stream")
	if err != nil {
		return ArchiveSummary{}, err
	}
	defer resp.Body.Close()
	var sum ArchiveSummary
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBody)).Decode(&sum); err != nil {
		return sum, fmt.Errorf("api: restore: read the answer: %w", err)
	}
	return sum, nil
}
