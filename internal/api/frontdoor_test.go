package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/store"
)

// TestPutBlobConflictsState: PUT .../blobs/{key} stores even two bytes as
// a blob; conflicts of a key with none is an empty list and of a missing
// key too; state has the view hash, key count and role.
func TestPutBlobConflictsState(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	sp := f.mustSpace(ctx, t, "garden")
	ref, err := f.c.PutBlob(ctx, sp.ID, []byte("tiny/file"), bytes.NewReader([]byte("hi")), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != 2 || ref.Type != "text/plain" || ref.ID == "" {
		t.Errorf("PutBlob: %+v", ref)
	}
	e, err := f.c.Get(ctx, sp.ID, []byte("tiny/file"))
	if err != nil || e.Blob == nil || e.Blob.ID != ref.ID {
		t.Errorf("Get of the blob key: %+v %v", e, err)
	}
	if _, err := f.c.PutBlob(ctx, "nowhere", []byte("k"), bytes.NewReader(nil), ""); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("PutBlob to an unknown space: %v", err)
	}
	if err := f.c.Put(ctx, sp.ID, []byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "missing"} {
		cs, err := f.c.Conflicts(ctx, sp.ID, []byte(k))
		if err != nil || len(cs) != 0 {
			t.Errorf("Conflicts(%s): %+v %v", k, cs, err)
		}
	}
	st, err := f.c.State(ctx, sp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 2 || st.ViewHash == "" || st.Role != "admin" || st.Private {
		t.Errorf("State: %+v", st)
	}

	// Ranged reads of a blob, by ID and through its key.
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	big, err := f.c.PutBlob(ctx, sp.ID, []byte("big"), bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(off, n int64) (io.ReadCloser, int64, error){
		"by ID": func(off, n int64) (io.ReadCloser, int64, error) { return f.c.OpenBlobRange(ctx, big.ID, off, n) },
		"by key": func(off, n int64) (io.ReadCloser, int64, error) {
			return f.c.GetRawRange(ctx, sp.ID, []byte("big"), off, n)
		},
	} {
		for _, r := range [][2]int64{{0, 0}, {5, 0}, {99_990, 0}, {1234, 100}} {
			rc, size, err := open(r[0], r[1])
			if err != nil {
				t.Fatalf("%s %v: %v", name, r, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want := data[r[0]:]
			if r[1] > 0 {
				want = want[:r[1]]
			}
			if err != nil || !bytes.Equal(got, want) || size != int64(len(want)) {
				t.Errorf("%s %v: %d bytes (size %d), want %d: %v", name, r, len(got), size, len(want), err)
			}
		}
	}
}

// TestSynced: POST .../synced fails at once on an offline node, answers
// "timeout" when no peer syncs the space within the timeout asked, and
// refuses a bad timeout.
func TestSynced(t *testing.T) {
	ctx := ctxT(t)
	off := serve(t, false)
	sp := off.mustSpace(ctx, t, "alone")
	if err := off.c.WaitSynced(ctx, sp.ID); !errors.Is(err, node.ErrOffline) {
		t.Errorf("WaitSynced offline: %v", err)
	}

	on := serve(t, true)
	sp = on.mustSpace(ctx, t, "alone")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := on.c.WaitSynced(short, sp.ID)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitSynced with no peer: %v", err)
	}
	resp, err := on.c.do(ctx, http.MethodPost, spacePath(sp.ID, "/synced"), map[string][]string{"timeout": {"soon"}}, nil, "")
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrBadRequest) {
		t.Errorf("synced?timeout=soon: %v", err)
	}
	if err := on.c.WaitSynced(ctx, "nowhere"); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("WaitSynced of an unknown space: %v", err)
	}
}
