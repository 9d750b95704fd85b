package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/loamdb/loam"
)

// maxShown is how many characters of a value plain output shows.
const maxShown = 80

// showKey returns key for plain output: as is when it is printable text
// without tabs or line breaks, else Go-quoted.
func showKey(key []byte) string {
	if !utf8.Valid(key) {
		return strconv.Quote(string(key))
	}
	for _, r := range string(key) {
		if !unicode.IsGraphic(r) {
			return strconv.Quote(string(key))
		}
	}
	return string(key)
}

// showValue returns value for plain output on one line: printable text
// with tabs and line breaks escaped, cut after maxShown characters; other
// bytes as "<N bytes>".
func showValue(v []byte) string {
	if !utf8.Valid(v) {
		return fmt.Sprintf("<%d bytes>", len(v))
	}
	s := string(v)
	for _, r := range s {
		if !unicode.IsGraphic(r) && r != '\t' && r != '\n' && r != '\r' {
			return fmt.Sprintf("<%d bytes>", len(v))
		}
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxShown {
			b.WriteString("…")
			break
		}
		switch r {
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

// record is one line of the JSON Lines format of import and export: a key
// and a value, each as text when it is valid UTF-8 and in base64 (standard
// alphabet, padded) otherwise.
type record struct {
	Key      *string `json:"key,omitempty"`
	KeyB64   *string `json:"key_b64,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
}

// textOrBase64 returns b as text when it is valid UTF-8, else as base64.
func textOrBase64(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

func newRecord(key, value []byte) record {
	var r record
	r.Key, r.KeyB64 = textOrBase64(key)
	r.Value, r.ValueB64 = textOrBase64(value)
	return r
}

// entry is a key with its value (unless deleted) and its writer, as get,
// ls and watch print it with --json.
type entry struct {
	Op string `json:"op,omitempty"` // watch only: "put" or "del"
	record
	Author string `json:"author,omitempty"`
	Time   string `json:"time,omitempty"`
}

func newEntry(kv loam.KV) entry {
	return entry{record: newRecord(kv.Key, kv.Value), Author: kv.Author, Time: jsonTime(kv.Time)}
}

func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jsonWriter writes JSON values without HTML escaping, one per line.
type jsonWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func newJSONWriter(w io.Writer) *jsonWriter {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &jsonWriter{w: bw, enc: enc}
}

// Write writes v and a newline.
func (j *jsonWriter) Write(v any) error { return j.enc.Encode(v) }

// Flush flushes what was written.
func (j *jsonWriter) Flush() error { return j.w.Flush() }

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	j := newJSONWriter(w)
	if err := j.Write(v); err != nil {
		return err
	}
	return j.Flush()
}

// jsonArray streams a JSON array with one element per line.
type jsonArray struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder // writes to buf
	n   int
}

func newJSONArray(w io.Writer) *jsonArray {
	a := &jsonArray{w: bufio.NewWriter(w)}
	a.enc = json.NewEncoder(&a.buf)
	a.enc.SetEscapeHTML(false)
	return a
}

// Add writes the next element.
func (a *jsonArray) Add(v any) error {
	a.buf.Reset()
	if a.n == 0 {
		a.buf.WriteString("[\n")
	} else {
		a.buf.WriteString(",\n")
	}
	a.n++
	if err := a.enc.Encode(v); err != nil {
		return err
	}
	_, err := a.w.Write(bytes.TrimSuffix(a.buf.Bytes(), []byte("\n")))
	return err
}

// Close ends the array ("[]" when empty) and flushes it.
func (a *jsonArray) Close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	if _, err := a.w.WriteString(end); err != nil {
		return err
	}
	return a.w.Flush()
}

// plural returns "1 commit", "2 commits".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// verifiedLine is what log verify (and the demo) prints for a good history.
func verifiedLine(r loam.VerifyReport) string {
	return fmt.Sprintf("verified %s (%s) by %s; %s",
		plural(r.Commits, "commit"), plural(r.Ops, "op"), plural(r.Authors, "author"), plural(r.Forks, "fork"))
}
