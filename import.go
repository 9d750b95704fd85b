package loam

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

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/commit"
)

const (
	// MaxImportLine bounds one line of Import's input. The largest line
	// an export writes is a 4 KiB key and a 64 KiB value of control
	// characters, each escaped to 6 bytes: about 420 KB.
	MaxImportLine = 1 << 20

	// importBudget bounds the keys and values of one import commit, so
	// the encoded commit stays under the size peers accept
	// (MaxCommitSize), with room for the header and signature.
	importBudget = commit.MaxCommitSize - commit.MaxHeaderSize - 4096
	// importOpOverhead is an upper bound on the encoding of one put
	// besides its key and value.
	importOpOverhead = 32

	// importFinishTimeout bounds the write of one batch. A batch under
	// way is written to the end even when the import is interrupted, so
	// that what was imported is known exactly; the next line read then
	// stops it.
	importFinishTimeout = time.Minute
	// importCheckTimeout bounds the reads that find out whether a batch
	// whose write failed was stored all the same.
	importCheckTimeout = 20 * time.Second
)

// ImportOptions tune Space.Import.
type ImportOptions struct {
	// Batch is the most lines written in one commit, 1 to MaxBatchOps;
	// 0 means 1000. Fewer go in a commit when their values are large.
	Batch int
}

// ImportReport says what an Import wrote.
type ImportReport struct {
	Keys    int // lines written
	Commits int
}

// Import reads JSON Lines from r, one object per line, and writes each
// into the space: {"key": "...", "value": "..."}, with "key_b64" and
// "value_b64" (standard base64) for bytes that are not UTF-8 text, or
// "blob": {"id", "size", "type"} instead of a value for a reference to a
// blob. Blank lines are skipped. It is the format 'loam export' writes.
//
// Lines are written in commits of o.Batch lines, fewer when their values
// are large. Each batch is checked whole before it is written: at a bad
// line Import stops, writes nothing of that batch, and its error says
// which lines were imported. When the write of a batch fails, Import
// reads the space to find out whether it was stored all the same (a
// daemon killed after it stored the commit fails a write that did
// happen) and says so. A batch under way when ctx ends is written to the
// end; the error then wraps ctx's error. The report counts what was
// written, also on error.
func (s *Space) Import(ctx context.Context, r io.Reader, o ImportOptions) (ImportReport, error) {
	switch {
	case o.Batch == 0:
		o.Batch = 1000
	case o.Batch < 0 || o.Batch > MaxBatchOps:
		return ImportReport{}, fmt.Errorf("loam: import: the batch must be between 1 and %d lines, not %d", MaxBatchOps, o.Batch)
	}
	imp := &importer{
		write: func(ctx context.Context, b *Batch) error { return b.Commit(ctx) }, lookup: s.Lookup,
		sp: s, batchMax: o.Batch,
	}
	err := imp.run(ctx, r)
	return ImportReport{Keys: imp.keys, Commits: imp.commits}, err
}

// importer writes JSON Lines into a space in batches, each one commit.
type importer struct {
	write    func(context.Context, *Batch) error       // commits a batch
	lookup   func(context.Context, []byte) (KV, error) // reads a key
	sp       *Space
	batchMax int

	line    int // number of the last line read
	keys    int // lines written
	commits int

	batch []importRecord // the batch being filled, empty when none
	first int            // its first line
	last  int            // its last line
	size  int            // its keys, values and overhead, in bytes
}

// importRecord is one line of import input.
type importRecord struct {
	key, value []byte
	blob       *BlobRef // a reference to this blob instead of value
}

// interruptedImport is the error of an Import whose ctx ended: it says
// what was imported, and wraps ctx's error.
type interruptedImport struct {
	msg string
	err error
}

func (e *interruptedImport) Error() string { return e.msg }
func (e *interruptedImport) Unwrap() error { return e.err }

// run reads in to its end and writes it in batches.
func (imp *importer) run(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), MaxImportLine)
	for sc.Scan() {
		imp.line++
		if err := ctx.Err(); err != nil {
			return &interruptedImport{msg: imp.fail(imp.line, errors.New("interrupted")).Error(), err: err}
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		rec, err := parseRecord(text)
		if err != nil {
			return imp.fail(imp.line, err)
		}
		size := len(rec.key) + len(rec.value) + importOpOverhead
		if len(imp.batch) > 0 && imp.size+size > importBudget {
			if err := imp.commit(ctx); err != nil {
				return err
			}
		}
		if len(imp.batch) == 0 {
			imp.first, imp.size = imp.line, 0
		}
		imp.batch = append(imp.batch, rec)
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
			return imp.fail(imp.line+1, fmt.Errorf("the line is longer than %d bytes (1 MiB), the limit: keys are at most %d bytes and values %d", MaxImportLine, MaxKeySize, MaxValueSize))
		}
		return imp.fail(imp.line+1, fmt.Errorf("read the input: %w", err))
	}
	if len(imp.batch) > 0 {
		return imp.commit(ctx)
	}
	return nil
}

// commit writes the current batch. If the write fails, it looks at what
// the space holds before saying what was imported: a daemon killed after
// it stored the commit, or a connection cut before the answer, fail a
// write that did happen.
func (imp *importer) commit(ctx context.Context) error {
	n := len(imp.batch)
	b := imp.sp.Batch()
	for _, r := range imp.batch {
		if r.blob != nil {
			b.PutBlobRef(r.key, *r.blob)
		} else {
			b.Put(r.key, r.value)
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), importFinishTimeout)
	err := imp.write(wctx, b)
	cancel()
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), importCheckTimeout)
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

// interrupted returns err as the error of an interrupted import if ctx
// ended.
func (imp *importer) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &interruptedImport{msg: err.Error(), err: ctx.Err()}
	}
	return err
}

// landed reports whether the current batch is in the space: every key of
// it holds the value its last line gives. A batch is one commit, stored
// whole or not at all, so a key without its value means it was not
// stored. It fails when the space cannot be read.
func (imp *importer) landed(ctx context.Context) (bool, error) {
	last := map[string]importRecord{}
	for _, r := range imp.batch {
		last[string(r.key)] = r
	}
	for k, r := range last {
		kv, err := imp.lookup(ctx, []byte(k))
		switch {
		case errors.Is(err, ErrNotFound):
			return false, nil
		case err != nil:
			return false, err
		case r.blob != nil:
			if kv.Blob == nil || kv.Blob.ID != r.blob.ID {
				return false, nil
			}
		case kv.Blob != nil || !bytes.Equal(kv.Value, r.value):
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

// parseRecord decodes one line of import input and checks its key and
// value (or blob reference) against the limits. For a reference, value is
// the reference's encoding, for the commit's size budget.
func parseRecord(line []byte) (importRecord, error) {
	if !utf8.Valid(line) {
		return importRecord{}, errors.New(`the line is not UTF-8 text: put bytes in "key_b64" or "value_b64" as base64`)
	}
	if line[0] != '{' {
		return importRecord{}, errors.New(`not a JSON object: write {"key": "...", "value": "..."}`)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r api.Record
	if err := dec.Decode(&r); err != nil {
		return importRecord{}, jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return importRecord{}, errors.New("unexpected text after the JSON object: write one object per line")
	}
	var rec importRecord
	var err error
	if rec.key, err = r.KeyBytes(); err != nil {
		return importRecord{}, err
	}
	if r.Blob != nil {
		br, err := r.Ref()
		if err != nil {
			return importRecord{}, err
		}
		rec.blob = &BlobRef{ID: br.ID.String(), Size: br.Size, Type: br.Type}
		rec.value = br.Encode()
	} else if rec.value, err = r.ValueBytes(); err != nil {
		return importRecord{}, err
	}
	switch {
	case len(rec.key) == 0:
		return importRecord{}, errors.New(`the key is empty: give every line a non-empty "key"`)
	case len(rec.key) > MaxKeySize:
		return importRecord{}, fmt.Errorf("the key is %d bytes, more than the limit of %d: use a shorter key", len(rec.key), MaxKeySize)
	case len(rec.value) > MaxValueSize:
		return importRecord{}, fmt.Errorf("the value is %d bytes, more than the limit of %d (64 KiB): store a smaller value, or give a large value as a file (put -f FILE) to store it as a blob", len(rec.value), MaxValueSize)
	}
	return rec, nil
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
