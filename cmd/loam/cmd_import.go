package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/commit"
)

const (
	// maxLine bounds one line of import input. The largest line export
	// writes is a 4 KiB key and a 64 KiB value of control characters, each
	// escaped to 6 bytes: about 420 KB.
	maxLine = 1 << 20

	// commitBudget bounds the keys and values of one import commit, so the
	// encoded commit stays under the size peers accept (MaxCommitSize),
	// with room for the header and signature.
	commitBudget = commit.MaxCommitSize - commit.MaxHeaderSize - 4096
	// opOverhead is an upper bound on the encoding of one put besides its
	// key and value.
	opOverhead = 32
)

func newImportCmd(g *globalOptions) *cobra.Command {
	var (
		batch   int
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "import SPACE",
		Short: "Write keys and values from JSON Lines on stdin",
		Long: `Read JSON Lines from stdin, one object per line, and write each into SPACE:
  {"key": "...", "value": "..."}
with "key_b64" and "value_b64" (standard base64) for bytes that are not UTF-8
text: exactly one of key and key_b64, exactly one of value and value_b64,
and no other fields. Blank lines are skipped. This is the format of
'loam export'.

Lines are written in commits of --batch lines (fewer when their values are
large). Each batch is checked whole before it is written: at a bad line,
import stops, writes nothing of that batch, and says which lines were
imported. A summary goes to stderr (and, with --json, to stdout).`,
		Example: `  loam import garden-club < garden-club.jsonl
  loam export garden-club | loam import garden-club-copy
  echo '{"key": "tools/saw", "value": "hand saw"}' | loam import garden-club`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if batch < 1 || batch > loam.MaxBatchOps {
				return usageErrorf(cmd, "--batch must be between 1 and %d, not %d", loam.MaxBatchOps, batch)
			}
			return withBackend(cmd, g, func(b backend) error {
				// Resolve the space first: an unknown one is not a bad line.
				if _, err := b.Space(ctx, args[0]); err != nil {
					return err
				}
				imp := &importer{b: b, space: args[0], batchMax: batch}
				if err := imp.run(ctx, cmd.InOrStdin()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "imported %s in %s\n", plural(imp.keys, "key"), plural(imp.commits, "commit"))
				if jsonOut {
					return writeJSON(cmd.OutOrStdout(), struct {
						Keys    int `json:"keys"`
						Commits int `json:"commits"`
					}{imp.keys, imp.commits})
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 1000, "write at most `N` lines per commit")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `also print {"keys", "commits"} as JSON on stdout`)
	return cmd
}

// importer writes JSON Lines into a space in batches, each one commit.
type importer struct {
	b        backend
	space    string
	batchMax int

	line    int // number of the last line read
	keys    int // lines written
	commits int

	batch []write // the batch being filled, empty when none
	first int     // its first line
	last  int     // its last line
	size  int     // its keys, values and overhead, in bytes
}

// run reads in to its end and writes it in batches.
func (imp *importer) run(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		imp.line++
		if err := ctx.Err(); err != nil {
			return &interruptedError{msg: imp.fail(imp.line, errors.New("interrupted")).Error(), err: err}
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		key, value, ref, err := parseRecord(text)
		if err != nil {
			return imp.fail(imp.line, err)
		}
		size := len(key) + len(value) + opOverhead
		if len(imp.batch) > 0 && imp.size+size > commitBudget {
			if err := imp.commit(ctx); err != nil {
				return err
			}
		}
		if len(imp.batch) == 0 {
			imp.first, imp.size = imp.line, 0
		}
		imp.batch = append(imp.batch, write{key: key, value: value, blob: ref})
		imp.last = imp.line
		imp.size += size
		if len(imp.batch) == imp.batchMax {
			if err := imp.commit(ctx); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return imp.fail(imp.line+1, fmt.Errorf("the line is longer than %d bytes (1 MiB), the limit: keys are at most %d bytes and values %d", maxLine, loam.MaxKeySize, loam.MaxValueSize))
		}
		return imp.fail(imp.line+1, fmt.Errorf("read stdin: %w", err))
	}
	if len(imp.batch) > 0 {
		return imp.commit(ctx)
	}
	return nil
}

// finishTimeout bounds the write of one batch. A batch under way is
// written to the end even when the import is interrupted, so that what
// was imported is known exactly; the next line read then stops it.
const finishTimeout = time.Minute

// checkTimeout bounds the reads that find out whether a batch whose write
// failed was stored all the same.
const checkTimeout = 20 * time.Second

// commit writes the current batch. If the write fails, it looks at what
// the space holds before saying what was imported: a daemon killed after
// it stored the commit, or a connection cut before the answer, fail a
// write that did happen.
func (imp *importer) commit(ctx context.Context) error {
	n := len(imp.batch)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	err := imp.b.Write(wctx, imp.space, imp.batch)
	cancel()
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
		landed, checkErr := imp.landed(cctx)
		cancel()
		switch {
		case checkErr != nil:
			return imp.interrupted(ctx, imp.unsure(err, checkErr))
		case !landed:
			return imp.interrupted(ctx, imp.fail(imp.last, fmt.Errorf("write lines %d-%d: %w", imp.first, imp.last, err)))
		}
		// Stored all the same: count it, and stop.
		imp.keys += n
		imp.commits++
		return imp.interrupted(ctx, fmt.Errorf("import: writing lines %d-%d reported an error (%s), but they were stored: lines 1-%d were imported, nothing after; import again from line %d",
			imp.first, imp.last, strings.TrimPrefix(err.Error(), "loam: "), imp.last, imp.last+1))
	}
	imp.keys += n
	imp.commits++
	imp.batch = imp.batch[:0]
	return nil
}

// interrupted returns err as the error of an interrupted command if ctx
// ended.
func (imp *importer) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &interruptedError{msg: err.Error(), err: ctx.Err()}
	}
	return err
}

// landed reports whether the current batch is in the space: every key of
// it holds the value its last line gives. A batch is one commit, stored
// whole or not at all, so a key without its value means it was not
// stored. It fails when the space cannot be read.
func (imp *importer) landed(ctx context.Context) (bool, error) {
	last := map[string]write{}
	for _, w := range imp.batch {
		last[string(w.key)] = w
	}
	for k, w := range last {
		kv, err := imp.b.Lookup(ctx, imp.space, []byte(k))
		switch {
		case errors.Is(err, loam.ErrNotFound):
			return false, nil
		case err != nil:
			return false, err
		case w.blob != nil:
			if kv.Blob == nil || kv.Blob.ID != w.blob.ID {
				return false, nil
			}
		case kv.Blob != nil || !bytes.Equal(kv.Value, w.value):
			return false, nil
		}
	}
	return true, nil
}

// unsure reports a batch whose write failed with err and whose presence
// could not be checked (checkErr).
func (imp *importer) unsure(err, checkErr error) error {
	were := "nothing before them was imported"
	switch {
	case imp.first == 2:
		were = "line 1 was imported"
	case imp.first > 2:
		were = fmt.Sprintf("lines 1-%d were imported", imp.first-1)
	}
	return fmt.Errorf("import: lines %d-%d may or may not have been imported: writing them failed (%s), and what the space holds could not be read to find out (%s); %s. Once loam answers again, import again from line %d: lines imported twice keep their value",
		imp.first, imp.last, strings.TrimPrefix(err.Error(), "loam: "), strings.TrimPrefix(checkErr.Error(), "loam: "), were, imp.first)
}

// fail reports a bad line n: what is wrong, and what was imported.
func (imp *importer) fail(n int, err error) error {
	what := strings.TrimPrefix(err.Error(), "loam: ")
	first := n // the first line not imported
	if len(imp.batch) > 0 {
		first = imp.first
	}
	were := fmt.Sprintf("(lines 1-%d were)", first-1)
	if first == 2 {
		were = "(line 1 was)"
	}
	var done string
	switch {
	case first <= 1:
		done = "nothing was imported"
	case first == n:
		done = fmt.Sprintf("nothing from line %d on was imported %s", n, were)
	default:
		done = fmt.Sprintf("nothing of lines %d-%d was imported %s", first, n, were)
	}
	return fmt.Errorf("import: line %d: %s; %s", n, what, done)
}

// parseRecord decodes one line of import input and checks its key and value
// (or blob reference) against the limits.
func parseRecord(line []byte) (key, value []byte, ref *loam.BlobRef, err error) {
	if !utf8.Valid(line) {
		return nil, nil, nil, errors.New(`the line is not UTF-8 text: put bytes in "key_b64" or "value_b64" as base64`)
	}
	if line[0] != '{' {
		return nil, nil, nil, errors.New(`not a JSON object: write {"key": "...", "value": "..."}`)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r api.Record
	if err := dec.Decode(&r); err != nil {
		return nil, nil, nil, jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, errors.New("unexpected text after the JSON object: write one object per line")
	}
	if key, err = r.KeyBytes(); err != nil {
		return nil, nil, nil, err
	}
	if r.Blob != nil {
		br, err := r.Ref()
		if err != nil {
			return nil, nil, nil, err
		}
		ref = &loam.BlobRef{ID: br.ID.String(), Size: br.Size, Type: br.Type}
		value = br.Encode() // for the commit's size budget
	} else if value, err = r.ValueBytes(); err != nil {
		return nil, nil, nil, err
	}
	switch {
	case len(key) == 0:
		return nil, nil, nil, errors.New(`the key is empty: give every line a non-empty "key"`)
	case len(key) > loam.MaxKeySize:
		return nil, nil, nil, fmt.Errorf("the key is %d bytes, more than the limit of %d: use a shorter key", len(key), loam.MaxKeySize)
	}
	return key, value, ref, checkValue(len(value))
}

// jsonProblem says what is wrong with a line encoding/json refused.
func jsonProblem(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at column %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errors.New(`not a JSON object: write {"key": "...", "value": "..."}`)
		}
		return fmt.Errorf("%q is a JSON %s: it must be a string", typ.Field, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: the object is not closed")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s: the fields are key or key_b64, and value or value_b64", f)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}
