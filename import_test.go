package loam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/api"
)

func openTestSpace(t *testing.T) (*Node, *Space) {
	t.Helper()
	ctx := context.Background()
	n, err := Open(ctx, Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	sp, err := n.CreateSpace(ctx, "garden", Public)
	if err != nil {
		t.Fatal(err)
	}
	return n, sp
}

func countKeys(t *testing.T, sp *Space) int {
	t.Helper()
	got := 0
	for _, err := range sp.Range(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	return got
}

// TestImport: lines go in commits of Batch lines, fewer when the values
// are large; a bad line stops the import with nothing of its batch
// written, and the report counts what was.
func TestImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, sp := openTestSpace(t)
	var in strings.Builder
	for i := 1; i <= 25; i++ {
		fmt.Fprintf(&in, `{"key":"k%02d","value":"v%d"}`+"\n\n", i, i)
	}
	rep, err := sp.Import(ctx, strings.NewReader(in.String()), ImportOptions{Batch: 10})
	if err != nil || rep != (ImportReport{Keys: 25, Commits: 3}) {
		t.Fatalf("Import = %+v, %v; want 25 keys in 3 commits", rep, err)
	}
	if v, err := sp.Get(ctx, []byte("k25")); err != nil || string(v) != "v25" {
		t.Fatalf("k25 = %q, %v", v, err)
	}

	big := strings.Repeat("x", MaxValueSize)
	in.Reset()
	for i := range 100 { // 100 values of 64 KiB (6.5 MB) do not fit one commit of 4 MiB
		fmt.Fprintf(&in, `{"key":"big%02d","value":%q}`+"\n", i, big)
	}
	rep, err = sp.Import(ctx, strings.NewReader(in.String()), ImportOptions{})
	if err != nil || rep.Keys != 100 || rep.Commits != 2 {
		t.Fatalf("Import of large values = %+v, %v; want 100 keys in 2 commits", rep, err)
	}

	rep, err = sp.Import(ctx, strings.NewReader(`{"key":"a","value":"1"}`+"\n"+`{"key":"b"}`+"\n"), ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "nothing was imported") || rep.Keys != 0 {
		t.Fatalf("Import of a bad line = %+v, %v", rep, err)
	}
	if _, err := sp.Lookup(ctx, []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a line of the refused batch was written: %v", err)
	}
	if _, err := sp.Import(ctx, strings.NewReader(""), ImportOptions{Batch: MaxBatchOps + 1}); err == nil {
		t.Fatal("Import took a batch over MaxBatchOps")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = sp.Import(cctx, strings.NewReader(`{"key":"c","value":"1"}`+"\n"), ImportOptions{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("Import with an ended ctx = %v", err)
	}
}

// TestImportReportsWhatLanded is issue 10 H: when the write of a batch
// fails, import says what the space holds: a batch stored before the
// failure is reported imported, one not stored is reported not imported,
// and when the space cannot be read it says it does not know.
func TestImportReportsWhatLanded(t *testing.T) {
	t.Parallel()
	var in strings.Builder
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(&in, `{"key":"k%05d","value":"v%d"}`+"\n", i, i)
	}
	for _, c := range []struct {
		name          string
		stored, blind bool
		want          []string
		keys          int
	}{
		{"stored before the failure", true, false, []string{"writing lines 1001-2000 reported an error", "but they were stored: lines 1-2000 were imported, nothing after; import again from line 2001"}, 2000},
		{"not stored", false, false, []string{"line 2000: write lines 1001-2000: ", "nothing of lines 1001-2000 was imported (lines 1-1000 were)"}, 1000},
		{"cannot tell", true, true, []string{"lines 1001-2000 may or may not have been imported", "lines 1-1000 were imported", "import again from line 1001"}, 2000},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			ctx := context.Background()
			_, sp := openTestSpace(t)
			// The second write fails: after storing its batch if stored (a
			// daemon that dies before it answers), else before. With
			// blind, reads fail too (the daemon is gone).
			calls := 0
			imp := &importer{sp: sp, batchMax: 1000,
				write: func(ctx context.Context, b *Batch) error {
					calls++
					if calls != 2 {
						return b.Commit(ctx)
					}
					if c.stored {
						if err := b.Commit(ctx); err != nil {
							return err
						}
					}
					return errors.New("read tcp 127.0.0.1:4000: connection reset by peer")
				},
				lookup: func(ctx context.Context, key []byte) (KV, error) {
					if c.blind {
						return KV{}, errors.New("dial tcp 127.0.0.1:4000: connection refused")
					}
					return sp.Lookup(ctx, key)
				},
			}
			err := imp.run(ctx, strings.NewReader(in.String()))
			if err == nil {
				t.Fatal("import succeeded through a failing write")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := countKeys(t, sp); got != c.keys {
				t.Errorf("the space holds %d keys, want %d", got, c.keys)
			}
		})
	}
}

// FuzzParseRecord checks the import line parser on any bytes: it never
// panics, what it accepts is within the limits, and a record it accepts
// written again as export writes it parses to the same key and value.
//
//	go test -run='^$' -fuzz=FuzzParseRecord -fuzztime=20s .
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"key":"chat/0001","value":"hello, world"}`,
		`{"key":"chat/0002","value":"line\nbreak\ttab \"quoted\" \u2028 ünïcödé 🌱"}`,
		`{"key":"empty","value":""}`,
		`{"key_b64":"/wBr","value":"binary key"}`,
		`{"key":"binary","value_b64":"AAEC/v8="}`,
		`{"key":"a","value":"x","value_b64":"eA=="}`,
		`{"key":"photo","blob":{"id":"blb_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":3}}`,
		`{"key":"a","value":5}`,
		`["a","b"]`,
		`{"key":"a","value":"x"}{"key":"b","value":"y"}`,
		"{\"key\":\"a\",\"value\":\"\xff\"}",
		`{"key": "a", "value": }`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return // run skips blank lines before parsing
		}
		rec, err := parseRecord(line)
		if err != nil {
			return
		}
		if len(rec.key) == 0 || len(rec.key) > MaxKeySize || len(rec.value) > MaxValueSize {
			t.Fatalf("accepted a key of %d bytes and a value of %d", len(rec.key), len(rec.value))
		}
		if rec.blob != nil {
			return
		}
		again, err := json.Marshal(api.NewRecord(rec.key, rec.value))
		if err != nil {
			t.Fatal(err)
		}
		r2, err := parseRecord(again)
		if err != nil || !bytes.Equal(r2.key, rec.key) || !bytes.Equal(r2.value, rec.value) {
			t.Fatalf("%q parsed, written again as %s, parses as %q=%q (%v)", line, again, r2.key, r2.value, err)
		}
	})
}
