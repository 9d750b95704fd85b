package blob_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
)

func openStore(t testing.TB, dir string) *blob.Store {
	t.Helper()
	s, err := blob.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// chunkPath is where the store keeps chunk id: the layout is part of the
// on-disk format, so the tests spell it out.
func chunkPath(dir string, id blob.ChunkID) string {
	h := hex.EncodeToString(id[:])
	return filepath.Join(dir, "chunks", h[:2], h[2:])
}

// tree lists every file under dir with its contents, to compare states.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, dir)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func addBytes(t testing.TB, s *blob.Store, data []byte) (blob.BlobID, blob.Manifest) {
	t.Helper()
	id, m, err := s.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return id, m
}

func readAll(t *testing.T, s *blob.Store, id blob.BlobID) []byte {
	t.Helper()
	r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddOpenRoundTrip(t *testing.T) {
	s := openStore(t, t.TempDir())
	for i, size := range roundTripSizes {
		data := randBytes(uint64(i)+100, size)
		id, m := addBytes(t, s, data)
		if want, _ := splitAll(t, data); m.ID() != id || want.ID() != id {
			t.Fatalf("size %d: Add returned %s, Split gives %s", size, id, want.ID())
		}
		if got, err := s.Manifest(id); err != nil || got.ID() != id {
			t.Fatalf("size %d: Manifest: %v", size, err)
		}
		if miss := s.Missing(m); len(miss) != 0 {
			t.Fatalf("size %d: missing %v after Add", size, miss)
		}
		if got := readAll(t, s, id); !bytes.Equal(got, data) {
			t.Fatalf("size %d: read back %d bytes that differ", size, len(got))
		}
	}
}

func TestPutGet(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := randBytes(1, 1000)
	id := blob.ChunkIDOf(data)
	if s.Has(id) {
		t.Fatal("Has before Put")
	}
	if _, err := s.Get(id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get before Put: %v", err)
	}
	for range 2 { // the second Put is a no-op
		if err := s.Put(id, data); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Get(id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v", err)
	}
	if b, err := os.ReadFile(chunkPath(dir, id)); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("chunk file: %v", err)
	}
	if err := s.Delete(id); err != nil || s.Has(id) {
		t.Fatalf("Delete: %v, Has %v", err, s.Has(id))
	}
	if err := s.Delete(id); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestPutRefusesCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	good := randBytes(2, MiB)
	id := blob.ChunkIDOf(good)
	other := randBytes(3, 100)
	if err := s.Put(blob.ChunkIDOf(other), other); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	bad := bytes.Clone(good)
	bad[MiB/2] ^= 0x80
	for _, data := range [][]byte{bad, good[:MiB-1], append(bytes.Clone(good), 0), nil, make([]byte, MiB+1)} {
		if err := s.Put(id, data); !errors.Is(err, blob.ErrCorrupt) {
			t.Errorf("Put of %d wrong bytes: %v, want ErrCorrupt", len(data), err)
		}
	}
	if after := tree(t, dir); !mapsEqual(before, after) {
		t.Errorf("a refused Put changed the store: %d files before, %d after", len(before), len(after))
	}
	if s.Has(id) {
		t.Error("Has the refused chunk")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestDamagedChunkOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := randBytes(4, 3*MiB)
	id, m := addBytes(t, s, data)
	p := chunkPath(dir, m.Chunks[1])
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x5a}, 777); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if _, err := s.Get(m.Chunks[1]); !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("Get of a damaged chunk: %v, want ErrCorrupt", err)
	}
	if s.Has(m.Chunks[1]) {
		t.Fatal("the damaged chunk was not removed")
	}
	if miss := s.Missing(m); !slices.Equal(miss, []int{1}) {
		t.Fatalf("Missing = %v, want [1]", miss)
	}
	// Fetched again, it reads back.
	if err := s.Put(m.Chunks[1], data[MiB:2*MiB]); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, id); !bytes.Equal(got, data) {
		t.Fatal("blob differs after repair")
	}

	// A truncated chunk file and a damaged manifest are caught too.
	if err := os.Truncate(chunkPath(dir, m.Chunks[2]), 10); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("reading a blob with a truncated chunk: %v", err)
	}
	r.Close()
	h := hex.EncodeToString(id[:])
	if err := os.WriteFile(filepath.Join(dir, "manifests", h[:2], h[2:]), []byte{1, 2, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(id); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("damaged manifest: %v", err)
	}
	if s.HasManifest(id) {
		t.Error("the damaged manifest was not removed")
	}
}

func TestMissing(t *testing.T) {
	src := openStore(t, t.TempDir())
	data := randBytes(5, 5*MiB+MiB/2)
	id, m := addBytes(t, src, data)

	// A download: the manifest, then some chunks; Missing says the rest.
	dst := openStore(t, t.TempDir())
	if got, err := dst.PutManifest(m); err != nil || got != id {
		t.Fatalf("PutManifest = %s, %v", got, err)
	}
	if miss := dst.Missing(m); !slices.Equal(miss, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("Missing before any chunk = %v", miss)
	}
	for _, i := range []int{0, 2, 5} {
		c, err := src.Get(m.Chunks[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.Put(m.Chunks[i], c); err != nil {
			t.Fatal(err)
		}
	}
	if miss := dst.Missing(m); !slices.Equal(miss, []int{1, 3, 4}) {
		t.Fatalf("Missing = %v, want [1 3 4]", miss)
	}
	r, err := dst.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.ReadAt(make([]byte, 10), MiB+5); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("reading a missing chunk: %v, want ErrNotFound", err)
	}
	if _, err := dst.PutManifest(blob.Manifest{Size: 1}); !errors.Is(err, blob.ErrMalformed) {
		t.Errorf("PutManifest of an invalid manifest: %v", err)
	}
}

func TestReaderSeek(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := randBytes(6, 5*MiB+MiB/2)
	id, _ := addBytes(t, s, data)
	r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) || r.ID() != id {
		t.Fatalf("Size %d, ID %s", r.Size(), r.ID())
	}
	rng := rand.New(rand.NewPCG(6, 6))
	size := int64(len(data))
	for i := range 200 {
		var off int64
		switch i % 4 {
		case 0:
			off = rng.Int64N(size + 1)
		case 1: // near a chunk boundary
			off = max(0, min(size, int64(rng.IntN(6))*MiB+rng.Int64N(9)-4))
		case 2:
			off = size - rng.Int64N(100)
		case 3:
			off = 0
		}
		n := rng.IntN(3 * MiB)
		if got, err := r.Seek(off, io.SeekStart); err != nil || got != off {
			t.Fatalf("Seek(%d) = %d, %v", off, got, err)
		}
		buf := make([]byte, n)
		k, err := io.ReadFull(r, buf)
		want := data[off:min(size, off+int64(n))]
		if k != len(want) || !bytes.Equal(buf[:k], want) {
			t.Fatalf("read %d at %d: got %d bytes (%v), want %d", n, off, k, err, len(want))
		}
		// ReadAt agrees, and does not move the offset.
		k2, _ := r.ReadAt(buf, off)
		if k2 != len(want) || !bytes.Equal(buf[:k2], want) {
			t.Fatalf("ReadAt(%d, %d) read %d", n, off, k2)
		}
	}
	if pos, err := r.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
		t.Fatalf("SeekEnd: %d, %v", pos, err)
	}
	if pos, err := r.Seek(4, io.SeekCurrent); err != nil || pos != size-6 {
		t.Fatalf("SeekCurrent: %d, %v", pos, err)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to a negative offset")
	}
	if _, err := r.Seek(size+10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read past the end: %d, %v", n, err)
	}
	r.Close()
	if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
}

// The Reader serves HTTP Range requests through http.ServeContent.
func TestReaderServeContentRange(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := randBytes(8, 2*MiB+77)
	id, _ := addBytes(t, s, data)
	r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	req := httptest.NewRequest("GET", "/blob", nil)
	req.Header.Set("Range", "bytes=1048570-1048600")
	rec := httptest.NewRecorder()
	http.ServeContent(rec, req, "", time0, r)
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[1048570:1048601]) {
		t.Fatalf("Range response %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestOpenMissing(t *testing.T) {
	s := openStore(t, t.TempDir())
	var id blob.BlobID
	if _, err := s.Open(id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open of an unknown blob: %v", err)
	}
	if s.Leased(id) {
		t.Error("a failed Open left a lease")
	}
}

func TestTempFilesCleanedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := randBytes(9, MiB+3)
	id, m := addBytes(t, s, data)
	// What a write killed after creating its temporary file leaves.
	stale := filepath.Join(dir, "tmp", "w-1234567")
	if err := os.WriteFile(stale, randBytes(10, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	blobs, _ := s.Blobs()
	if len(blobs) != 1 || blobs[0] != id || len(s.Missing(m)) != 0 {
		t.Fatalf("the temporary file is visible: blobs %v", blobs)
	}
	s = openStore(t, dir)
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ holds %d files after reopening", len(ents))
	}
	if got := readAll(t, s, id); !bytes.Equal(got, data) {
		t.Fatal("blob differs after reopening")
	}
}

var time0 = time.Time{}
