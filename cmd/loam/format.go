package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
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

// entryOf returns the JSON object get, ls and watch print for kv with
// --json: the API's entry, so the CLI and the API show keys alike.
func entryOf(kv loam.KV) api.Entry {
	e := api.NewEntry(kv.Key, kv.Value, kv.Author, kv.Time)
	if kv.Erased {
		e.Value, e.ValueB64, e.Erased = nil, nil, true
	}
	if kv.Blob != nil {
		e.Value, e.ValueB64 = nil, nil
		e.Blob = &api.BlobRef{ID: kv.Blob.ID, Size: kv.Blob.Size, Type: kv.Blob.Type, Sealed: kv.Blob.Sealed}
	}
	return e
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

// printResult prints v, what a command did or found, on the command's
// standard output: as one line of JSON with --json (asJSON), else as text
// writes it there.
func printResult(cmd *cobra.Command, asJSON bool, v any, text func(w io.Writer) error) error {
	w := cmd.OutOrStdout()
	if asJSON {
		return writeJSON(w, v)
	}
	return text(w)
}

// printList prints items, what a listing command found, on the command's
// standard output: with --json (asJSON) as a JSON array of what conv makes
// of each, one a line; else, when there are none, it says empty on stderr
// (what to do to have one), or writes them as text does.
func printList[T any](cmd *cobra.Command, asJSON bool, items []T, conv func(T) any, empty string, text func(w io.Writer) error) error {
	w := cmd.OutOrStdout()
	if asJSON {
		a := newJSONArray(w)
		for _, it := range items {
			if err := a.Add(conv(it)); err != nil {
				return err
			}
		}
		return a.Close()
	}
	if len(items) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), empty)
		return nil
	}
	return text(w)
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

// spaceNames maps space IDs to local names.
type spaceNames map[string]string

// spaceNamesOf returns the local names of the spaces the daemon holds.
func spaceNamesOf(ctx context.Context, c *api.Client) (spaceNames, error) {
	infos, err := c.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	names := spaceNames{}
	for _, in := range infos {
		names[in.ID] = in.Name
	}
	return names, nil
}

// of returns the local name of space id, or the ID if it has none.
func (n spaceNames) of(id string) string {
	if name, ok := n[id]; ok {
		return name
	}
	return id
}

// byteSize returns n bytes for people: "512 B", "1.5 kB", "12.3 MB".
func byteSize(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// ago returns how long before now t was, for people: "5s ago", "3m ago".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format(time.DateOnly)
}

// orDash returns s, or "-" if it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
