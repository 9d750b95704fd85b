package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/loamdb/loam/internal/store"
)

// watch streams the changes to the space's keys under prefix as
// server-sent events, one event per change, until the client goes away or
// CloseStreams is called.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	for name := range r.URL.Query() {
		if name != "prefix" {
			writeError(w, badRequestf("unknown parameter %q: the only parameter is prefix", name))
			return
		}
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.streams, cancel)
	defer stop()
	changes := s.n.Hub().Watch(ctx, sp.ID(), []byte(r.URL.Query().Get("prefix")))
	defer func() {
		cancel()
		for range changes { // let the hub's goroutine finish
		}
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The comment tells the client the watch is registered: every change
	// applied from now on is sent.
	if _, err := io.WriteString(w, ": watching\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for c := range changes {
		buf.Reset()
		buf.WriteString("data: ")
		enc.Encode(changeOf(c))
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// changeOf returns the watch event of a change.
func changeOf(c store.Change) Entry {
	if c.Entry.Tombstone() {
		author, t := writer(c.Entry.Author, c.Entry.Time)
		return NewChange(c.Key, nil, true, author, t)
	}
	e := entryOf(c.Key, c.Entry)
	e.Op = OpPut
	return e
}
