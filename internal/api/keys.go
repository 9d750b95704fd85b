package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// query parses the range parameters of GET /v1/spaces/{space}/keys.
func query(r *http.Request) (store.Query, error) {
	var q store.Query
	params := r.URL.Query()
	for name := range params {
		switch name {
		case "prefix", "start", "end", "limit", "reverse":
		default:
			return q, badRequestf("unknown parameter %q: the parameters are prefix, start, end, limit and reverse", name)
		}
	}
	if params.Has("prefix") {
		q.Prefix = []byte(params.Get("prefix"))
	}
	if params.Has("start") {
		q.Start = []byte(params.Get("start"))
	}
	if params.Has("end") {
		q.End = []byte(params.Get("end"))
	}
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return q, badRequestf("limit must be a whole number of at least 1, not %q", v)
		}
		q.Limit = n
	}
	if v := params.Get("reverse"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return q, badRequestf("reverse must be true or false, not %q", v)
		}
		q.Reverse = b
	}
	return q, nil
}

// writer returns who wrote an entry when, as the API shows them ("" and
// the zero time when the entry has no author).
func writer(author keys.AuthorID, t commit.HLC) (string, time.Time) {
	if author.IsZero() {
		return "", time.Time{}
	}
	return author.String(), t.Time()
}

// entryOf returns the API's entry for a key's visible write: its value, or
// the blob it references.
func entryOf(key []byte, e view.Entry) Entry {
	a, tm := writer(e.Author, e.Time)
	if e.Erased {
		out := NewEntry(key, nil, a, tm)
		out.Value, out.ValueB64, out.Erased = nil, nil, true
		return out
	}
	if e.Kind != commit.KindPutBlob {
		return NewEntry(key, e.Value, a, tm)
	}
	out := NewEntry(key, nil, a, tm)
	out.Value, out.ValueB64 = nil, nil
	out.Blob = &BlobRef{}
	if r, ok := node.RefOf(e); ok {
		out.Blob = blobRefOf(r)
	}
	return out
}

// listKeys streams the selected keys as a JSON array, one element per line.
// An error after the first bytes were sent aborts the response, so the
// client sees a truncated array rather than a short one.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	sent := false
	flush := func() {
		if !sent {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			sent = true
		}
		w.Write(buf.Bytes())
		buf.Reset()
	}
	buf.WriteString("[")
	n := 0
	for kv, err := range sp.Range(r.Context(), q) {
		if err != nil {
			if sent {
				panic(http.ErrAbortHandler)
			}
			writeError(w, err)
			return
		}
		if n > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
		enc.Encode(entryOf(kv.Key, kv.Entry))
		buf.Truncate(buf.Len() - 1) // the encoder's newline
		n++
		if buf.Len() >= 64<<10 {
			flush()
		}
	}
	if n > 0 {
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	flush()
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	sp, key, err := s.spaceKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	raw := false
	if v := r.URL.Query().Get("raw"); v != "" {
		if raw, err = strconv.ParseBool(v); err != nil {
			writeError(w, badRequestf("raw must be true or false, not %q", v))
			return
		}
	}
	e, err := sp.Get(r.Context(), key)
	if err == nil && e.Erased {
		err = sp.Erasure(r.Context(), key, e)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if raw {
		var ref *blob.Ref
		if e.Kind == commit.KindPutBlob {
			r, ok := node.RefOf(e)
			if !ok {
				writeError(w, fmt.Errorf("%w: the key's blob reference does not decode", store.ErrNotFound))
				return
			}
			ref = &r
		}
		s.rawValue(w, r, sp.ID(), e.Value, ref)
		return
	}
	writeJSON(w, http.StatusOK, entryOf(key, e))
}

func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	sp, key, err := s.spaceKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.putValue(w, r, sp, key)
}

// deleteKey deletes a visible key; a key that is not there is 404, and
// nothing is written.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	sp, key, err := s.spaceKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := sp.Get(r.Context(), key); err != nil {
		writeError(w, err)
		return
	}
	if _, err := sp.Commit(r.Context(), []commit.Op{commit.Del(key)}); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// batch commits a JSON array of ops as one commit: all of them or, at the
// first bad one, none.
func (s *Server) batch(r *http.Request, sp *space.Space) (BatchResult, error) {
	ops, err := decodeBatch(io.LimitReader(r.Body, maxBatchBody+1))
	if err != nil || len(ops) == 0 {
		return BatchResult{}, err
	}
	c, err := sp.Commit(r.Context(), ops)
	if err != nil {
		return BatchResult{}, err
	}
	return BatchResult{Ops: len(ops), Commit: c.ID.String()}, nil
}

// decodeBatch reads and checks a batch. Errors name the entry, from 1.
func decodeBatch(body io.Reader) ([]commit.Op, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, badRequestf("the batch must be a JSON array of {\"key\", \"value\"}, {\"key\", \"blob\"} and {\"key\", \"delete\": true} objects")
	}
	var ops []commit.Op
	size := 0
	for i := 1; dec.More(); i++ {
		if i > commit.MaxOps {
			return nil, badRequestf("the batch has more than %d entries, the limit of one commit: split it", commit.MaxOps)
		}
		var op BatchOp
		if err := dec.Decode(&op); err != nil {
			if dec.InputOffset() > maxBatchBody {
				return nil, badRequestf("the batch is more than %d bytes: split it", maxBatchBody)
			}
			return nil, badRequestf("entry %d: not the JSON expected: %v", i, err)
		}
		key, value, err := op.Bytes()
		kind := commit.KindPut
		if err == nil && op.Blob != nil && !op.Delete {
			var ref blob.Ref
			if ref, err = op.Ref(); err == nil {
				value, kind = ref.Encode(), commit.KindPutBlob
			}
		}
		if err == nil {
			if err = checkKey(key); err == nil {
				err = checkValue(len(value))
			}
		}
		if err != nil {
			return nil, badRequestf("entry %d: %s", i, strings.TrimPrefix(err.Error(), "api: "))
		}
		if size += len(key) + len(value) + opOverhead; size > batchBudget {
			return nil, badRequestf("entry %d: the batch's keys and values pass %d bytes, more than one commit holds: split it", i, batchBudget)
		}
		switch {
		case op.Delete:
			ops = append(ops, commit.Del(key))
		case kind == commit.KindPutBlob:
			ops = append(ops, commit.Op{Kind: kind, Key: key, Payload: value})
		default:
			ops = append(ops, commit.Put(key, value))
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequestf("the batch is not a complete JSON array: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequestf("the request body has data after the batch's array")
	}
	if err := commit.ValidateOps(ops); err != nil {
		return nil, badRequestf("%v", err)
	}
	return ops, nil
}
