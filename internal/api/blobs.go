package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
)

// BlobThreshold is the value size above which PUT of a key stores the value
// as a blob and writes a reference to it.
const BlobThreshold = 64 << 10

// BlobRef is a key's reference to a blob, in Entry.Blob.
type BlobRef struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	Type string `json:"type,omitempty"`
	// Sealed: a private space's blob, stored sealed. ID names the sealed
	// bytes, Size the plaintext; read it through the key (?raw=true), not
	// GET /v1/blobs/ID, which serves the sealed bytes.
	Sealed bool `json:"sealed,omitempty"`
}

func blobRefOf(r blob.Ref) *BlobRef {
	return &BlobRef{ID: r.ID.String(), Size: r.Size, Type: r.Type, Sealed: r.Sealed}
}

// BlobInfo describes a blob held, wholly or in part: an element of GET
// /v1/blobs and the answer of POST /v1/blobs.
type BlobInfo struct {
	ID     string `json:"id"`
	Size   int64  `json:"size"`
	Chunks int    `json:"chunks"`
	Held   int    `json:"held"` // chunks held here
	Pinned bool   `json:"pinned"`
}

// BlobInfoOf converts the node's description of a blob held: the one
// conversion the server and the root package's embedded path share.
func BlobInfoOf(b node.BlobInfo) BlobInfo {
	return BlobInfo{ID: b.ID.String(), Size: b.Size, Chunks: b.Chunks, Held: b.Held, Pinned: b.Pinned}
}

// AddedBlobOf describes blob id, just added with manifest m: held whole,
// and pinned.
func AddedBlobOf(id blob.BlobID, m blob.Manifest) BlobInfo {
	return BlobInfo{ID: id.String(), Size: m.Size, Chunks: len(m.Chunks), Held: len(m.Chunks), Pinned: true}
}

// FetchEvent is one line of the answer of POST /v1/blobs/{id}/fetch, a
// stream of JSON lines: progress lines while chunks arrive, then one last
// line with Stats, or with Error if the download failed.
type FetchEvent struct {
	Done  int64       `json:"done"`
	Total int64       `json:"total"`
	Peers int         `json:"peers"`           // peers that sent chunks so far
	Stats *FetchStats `json:"stats,omitempty"` // last line of a success
	Error *ErrorBody  `json:"error,omitempty"` // last line of a failure
}

// FetchStats sums up a finished download.
type FetchStats struct {
	Fetched  int64            `json:"fetched"` // bytes fetched (not held before)
	Peers    map[string]int64 `json:"peers"`   // bytes fetched from each peer
	Corrupt  []string         `json:"corrupt,omitempty"`
	Duration float64          `json:"seconds"`
}

// FetchStatsOf sums up a finished download: the one conversion the
// server and the root package's embedded path share.
func FetchStatsOf(st blob.Stats) *FetchStats {
	fs := &FetchStats{Fetched: st.Fetched(), Peers: st.Bytes, Corrupt: st.CorruptPeers(), Duration: st.Duration.Seconds()}
	if fs.Peers == nil {
		fs.Peers = map[string]int64{}
	}
	return fs
}

func pathBlob(r *http.Request) (blob.BlobID, error) {
	id, err := blob.ParseBlobID(r.PathValue("blob"))
	if err != nil {
		return id, badRequestf("%v (blob IDs look like blb_…)", err)
	}
	return id, nil
}

// addBlob stores the request body as a pinned blob: POST /v1/blobs.
func (s *Server) addBlob(w http.ResponseWriter, r *http.Request) {
	id, m, err := s.n.AddBlob(r.Context(), io.LimitReader(r.Body, blob.MaxBlobSize+1))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AddedBlobOf(id, m))
}

// listBlobs: GET /v1/blobs.
func (s *Server) listBlobs(r *http.Request) ([]BlobInfo, error) {
	infos, err := s.n.BlobInfos(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]BlobInfo, len(infos))
	for i, b := range infos {
		out[i] = BlobInfoOf(b)
	}
	return out, nil
}

// getBlob serves a blob's bytes, with Range support: GET /v1/blobs/{blob}.
// Chunks not held are fetched from peers first.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	id, err := pathBlob(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.serveBlob(w, r, id, r.URL.Query().Get("type"))
}

// serveBlob serves blob id as mediaType (sniffed if empty), fetching what
// is missing first.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, id blob.BlobID, mediaType string) {
	if _, err := s.n.EnsureBlob(r.Context(), id, blob.FetchOptions{}); err != nil {
		writeError(w, err)
		return
	}
	br, err := s.n.OpenBlob(id)
	if err != nil {
		writeError(w, err)
		return
	}
	defer br.Close()
	serveBytes(w, r, br, id, mediaType, "private, max-age=31536000, immutable") // content-addressed
}

// serveBytes serves what br reads, the blob id or the plaintext of sealed
// blob id, as mediaType, with Range support and Cache-Control cache.
func serveBytes(w http.ResponseWriter, r *http.Request, br io.ReadSeeker, id blob.BlobID, mediaType, cache string) {
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("ETag", `"`+id.String()+`"`)
	h.Set("Cache-Control", cache)
	http.ServeContent(w, r, "", time.Time{}, br)
}

// fetchBlob downloads a blob from peers and pins it, streaming progress as
// JSON lines: POST /v1/blobs/{blob}/fetch.
func (s *Server) fetchBlob(w http.ResponseWriter, r *http.Request) {
	id, err := pathBlob(r)
	if err != nil {
		writeError(w, err)
		return
	}
	lines := startLines(w)
	var total int64
	opts := blob.FetchOptions{Progress: func(p blob.Progress) {
		total = p.Total
		lines.progress(FetchEvent{Done: p.Done, Total: p.Total, Peers: p.Sources()}, p.Done == p.Total)
	}}
	st, err := s.n.FetchBlob(r.Context(), id, nil, opts)
	if err != nil {
		lines.send(FetchEvent{Error: errorBody(err)})
		return
	}
	lines.send(FetchEvent{Done: total, Total: total, Peers: len(st.Bytes), Stats: FetchStatsOf(st)})
}

// pinBlob and unpinBlob: PUT and DELETE /v1/blobs/{blob}/pin.
func (s *Server) pinBlob(w http.ResponseWriter, r *http.Request)   { s.setPin(w, r, true) }
func (s *Server) unpinBlob(w http.ResponseWriter, r *http.Request) { s.setPin(w, r, false) }

func (s *Server) setPin(w http.ResponseWriter, r *http.Request, on bool) {
	id, err := pathBlob(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.n.SetPin(id, on); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GCResult is the answer of POST /v1/blobs/gc.
type GCResult struct {
	Freed int64 `json:"freed"` // bytes
}

func (s *Server) gcBlobs(r *http.Request) (GCResult, error) {
	freed, err := s.n.GCBlobs(r.Context())
	return GCResult{Freed: freed}, err
}

// putValue writes the body under key: as a plain value up to
// BlobThreshold bytes, else as a blob with a reference under key (typed
// by the Content-Type header unless that is application/octet-stream).
func (s *Server) putValue(w http.ResponseWriter, r *http.Request, sp *space.Space, key []byte) {
	head, err := io.ReadAll(io.LimitReader(r.Body, BlobThreshold+1))
	if err != nil {
		writeError(w, badRequestf("read the value: %v", err))
		return
	}
	if len(head) <= BlobThreshold {
		if _, err := sp.Commit(r.Context(), []commit.Op{commit.Put(key, head)}); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.putBlob(w, r, sp, key, io.MultiReader(bytes.NewReader(head), io.LimitReader(r.Body, blob.MaxBlobSize+1-int64(len(head)))))
}

// putBlob stores body as a blob, typed by the request's Content-Type
// unless that is application/octet-stream, writes a reference to it under
// key and answers the reference.
func (s *Server) putBlob(w http.ResponseWriter, r *http.Request, sp *space.Space, key []byte, body io.Reader) {
	mediaType := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt != "application/octet-stream" {
			mediaType = ct
		}
	}
	ref, _, err := s.n.PutBlob(r.Context(), sp, key, body, mediaType)
	if err != nil {
		if errors.Is(err, blob.ErrBadRef) {
			err = badRequestf("%v", err)
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, blobRefOf(ref))
}

// rawValue serves a key's value as bytes, or the blob it references (the
// plaintext of a sealed one): GET /v1/spaces/{space}/keys/{key}?raw=true.
func (s *Server) rawValue(w http.ResponseWriter, r *http.Request, sp keys.SpaceID, value []byte, ref *blob.Ref) {
	if ref != nil {
		br, err := s.n.OpenRef(r.Context(), sp, *ref)
		if err != nil {
			writeError(w, err)
			return
		}
		defer br.Close()
		serveBytes(w, r, br, ref.ID, ref.Type, "no-store") // a key's value may change or be erased
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(value)))
	w.WriteHeader(http.StatusOK)
	w.Write(value)
}
