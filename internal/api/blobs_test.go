package api

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/store"
)

// TestBlobsAPI: upload, list, download with Range, pin and unpin, GC, and
// keys whose values are blobs.
func TestBlobsAPI(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	data := make([]byte, 3<<20+5)
	crand.Read(data)

	info, err := f.c.AddBlob(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.Chunks != 4 || info.Held != 4 || !info.Pinned {
		t.Fatalf("added %+v", info)
	}
	list, err := f.c.Blobs(ctx)
	if err != nil || len(list) != 1 || list[0] != info {
		t.Fatalf("list %+v, %v; want [%+v]", list, err, info)
	}

	// The whole blob, then a range across a chunk boundary.
	r, size, err := f.c.OpenBlob(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("download: %d bytes (length %d), equal %v", len(got), size, bytes.Equal(got, data))
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/blobs/"+info.ID, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Range", "bytes=1048570-1048589")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[1048570:1048590]) ||
		resp.Header.Get("Content-Range") != "bytes 1048570-1048589/3145733" {
		t.Fatalf("range: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Range"), len(part))
	}
	if _, _, err := f.c.OpenBlob(ctx, "blb_nope"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a bad blob ID: %v", err)
	}

	// A key whose value is a file over the threshold.
	f.mustSpace(ctx, t, "shed")
	ref, err := f.c.PutStream(ctx, "shed", []byte("photo"), bytes.NewReader(data), "image/png")
	if err != nil || ref == nil || ref.ID != info.ID || ref.Type != "image/png" {
		t.Fatalf("put of a large value: %+v, %v", ref, err)
	}
	if ref, err := f.c.PutStream(ctx, "shed", []byte("note"), bytes.NewReader([]byte("small")), ""); err != nil || ref != nil {
		t.Fatalf("put of a small value: %+v, %v", ref, err)
	}
	e, err := f.c.Get(ctx, "shed", []byte("photo"))
	if err != nil || e.Blob == nil || *e.Blob != *ref || e.Value != nil {
		t.Fatalf("get: %+v, %v", e, err)
	}
	raw, _, err := f.c.GetRaw(ctx, "shed", []byte("photo"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(raw)
	raw.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("raw get of a blob key differs")
	}

	// Unpinned but referenced: kept. Key deleted: freed.
	if err := f.c.UnpinBlob(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if freed, err := f.c.GCBlobs(ctx); err != nil || freed != 0 {
		t.Fatalf("gc of a referenced blob: %d, %v", freed, err)
	}
	if err := f.c.Delete(ctx, "shed", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	if freed, err := f.c.GCBlobs(ctx); err != nil || freed < int64(len(data)) {
		t.Fatalf("gc of an unreferenced blob: %d, %v", freed, err)
	}
	if err := f.c.PinBlob(ctx, info.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pin of a blob not held: %v", err)
	}
	if _, err := f.c.FetchBlob(ctx, info.ID, nil); err == nil {
		t.Fatal("fetch on an offline node succeeded")
	}
}

// TestSealedBlobAPI: in a private space a large value is stored as a
// sealed blob; the key's raw value is the plaintext, Range requests across
// a frame boundary included; the blob by ID is the sealed bytes; a sealed
// reference cannot be written back in a batch, nor a clear one added.
func TestSealedBlobAPI(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	if in, err := f.c.NewSpace(ctx, CreateSpaceRequest{Name: "family", Private: true}); err != nil || !in.Private {
		t.Fatalf("a private space: %+v, %v", in, err)
	}
	if in, err := f.c.Space(ctx, "family"); err != nil || !in.Private {
		t.Fatalf("GET of a private space: %+v, %v", in, err)
	}
	data := make([]byte, 2<<20+7)
	crand.Read(data)
	ref, err := f.c.PutStream(ctx, "family", []byte("photo"), bytes.NewReader(data), "image/png")
	if err != nil || ref == nil || !ref.Sealed || ref.Size != int64(len(data)) {
		t.Fatalf("put into a private space: %+v, %v", ref, err)
	}
	get := func(path, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	// 1048536 is the first byte of the second sealed frame.
	resp, part := get("/v1/spaces/family/keys/photo?raw=true", "bytes=1048500-1048599")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[1048500:1048600]) ||
		resp.Header.Get("Content-Range") != "bytes 1048500-1048599/2097159" || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("range of the raw value: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Range"), len(part))
	}
	if resp, whole := get("/v1/spaces/family/keys/photo?raw=true", ""); resp.StatusCode != http.StatusOK || !bytes.Equal(whole, data) {
		t.Fatalf("raw value: %s, %d bytes", resp.Status, len(whole))
	} else if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		// A key's value may change or be erased: a browser must not keep it.
		t.Fatalf("a key's raw blob read has Cache-Control %q, want no-store", cc)
	}
	if resp, sealed := get("/v1/blobs/"+ref.ID, ""); resp.StatusCode != http.StatusOK || len(sealed) == len(data) || bytes.Contains(sealed, data[:64]) {
		t.Fatalf("the blob by ID: %s, %d bytes: want the sealed bytes", resp.Status, len(sealed))
	}

	op := PutOp([]byte("copy"), nil)
	op.Value, op.ValueB64, op.Blob = nil, nil, ref
	if _, err := f.c.Batch(ctx, "family", []BatchOp{op}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a batch writing a sealed reference: %v", err)
	}
	info, err := f.c.AddBlob(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	op.Blob = &BlobRef{ID: info.ID, Size: info.Size}
	if _, err := f.c.Batch(ctx, "family", []BatchOp{op}); err == nil || !strings.Contains(err.Error(), "sealed blobs") {
		t.Fatalf("a batch writing a clear reference into a private space: %v", err)
	}
}
