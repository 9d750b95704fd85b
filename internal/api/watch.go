package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// watchWriteTimeout bounds each write of a watch stream (an event, or a
// batch of them): a client that reads nothing for that long is dropped.
// The events it would have got meanwhile are bounded by the hub's queue,
// which makes it resync if the write blocks for long enough.
const watchWriteTimeout = 30 * time.Second

// resyncEvent is the SSE event of a resync: the watcher fell behind and
// the changes between its last event and this one were dropped.
const resyncEvent = "event: resync\ndata: {\"op\":\"resync\"}\n\n"

// watch streams the changes to the space's keys under prefix as
// server-sent events, one event per change, until the client goes away or
// CloseStreams is called. A client that falls behind gets a resync event
// (see docs/api.md); one that reads nothing for watchWriteTimeout is
// dropped.
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
	events := s.n.Hub().Watch(ctx, sp.ID(), []byte(r.URL.Query().Get("prefix")))
	defer func() {
		cancel()
		for range events { // let the hub's goroutine finish
		}
	}()
	timeout := s.watchTimeout
	if timeout == 0 {
		timeout = watchWriteTimeout
	}
	// send writes b and flushes it before the deadline.
	send := func(b []byte) bool {
		if rc.SetWriteDeadline(time.Now().Add(timeout)) != nil {
			return false // no deadlines: never serve a stream without one
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The comment tells the client the watch is registered: every change
	// applied from now on is sent.
	if !send([]byte(": watching\n\n")) {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	add := func(ev space.Event) {
		if ev.Resync {
			buf.WriteString(resyncEvent)
			return
		}
		buf.WriteString("data: ")
		enc.Encode(changeOf(ev.Change))
		buf.WriteString("\n")
	}
	for ev := range events {
		// Send what is ready in one write, up to 64 KiB: a client that
		// keeps up gets each event at once, one that lags gets batches.
		buf.Reset()
		add(ev)
	batch:
		for buf.Len() < 64<<10 {
			select {
			case ev, ok := <-events:
				if !ok {
					break batch
				}
				add(ev)
			default:
				break batch
			}
		}
		if !send(buf.Bytes()) {
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
