package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"time"
)

// lineStream answers a request with JSON lines (application/x-ndjson),
// each flushed to the client as it is written: long work's progress, then
// its result or its error (POST /v1/blobs/{blob}/fetch, POST /v1/compact).
type lineStream struct {
	rc   *http.ResponseController
	bw   *bufio.Writer
	enc  *json.Encoder
	last time.Time // of the last progress line
}

// startLines writes the 200 header of a JSON-lines answer.
func startLines(w http.ResponseWriter) *lineStream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	return &lineStream{rc: http.NewResponseController(w), bw: bw, enc: json.NewEncoder(bw)}
}

// send writes v as a line and flushes it.
func (l *lineStream) send(v any) {
	l.enc.Encode(v)
	l.bw.Flush()
	l.rc.Flush()
}

// progress sends v if a tenth of a second passed since the last progress
// line, or if it is the last (final): at most ten lines a second.
func (l *lineStream) progress(v any, final bool) {
	if now := time.Now(); final || now.Sub(l.last) >= 100*time.Millisecond {
		l.last = now
		l.send(v)
	}
}

// errorBody is err as an error body (its code, its text on one line).
func errorBody(err error) *ErrorBody {
	_, code := kindOf(err)
	return &ErrorBody{Error: sentence(err), Code: code}
}
