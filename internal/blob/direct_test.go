package blob_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/frame"
)

// TestFetchWritesDirect: a blob fetched through Client from a Server, its
// last chunk short of a whole block, is written with O_DIRECT (on Linux,
// where the file system does direct I/O), every chunk straight from the
// buffer it arrived in (no copy to align it), each chunk file exactly its
// length, nothing left in tmp/, and the blob reads back whole.
func TestFetchWritesDirect(t *testing.T) {
	data := randBytes(16, 3*blob.ChunkSize+12345)
	src, id := seed(t, data)
	dial, _ := serveTCP(t, &blob.Server{Holder: src, Timeouts: blob.DefaultServeTimeouts})
	c := &blob.Client{Name: "tcp", Timeout: 10 * time.Second, Open: dial}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dst := fetchWhole(t, ctx, c, id, data)
	m, _ := dst.Manifest(id)
	for i, ch := range m.Chunks {
		fi, err := os.Stat(chunkPath(dst.Dir(), ch))
		if err != nil || fi.Size() != int64(m.ChunkLen(i)) {
			t.Fatalf("chunk %d: %v, want a file of %d bytes", i, err, m.ChunkLen(i))
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dst.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after the fetch", len(ents))
	}
	direct, copied := blob.DirectWrites(dst)
	switch {
	case runtime.GOOS != "linux":
		t.Skipf("direct writes are for Linux; here (%s) chunks go through the page cache", runtime.GOOS)
	case blob.DirectRefused(dst):
		t.Skipf("the file system of %s refuses O_DIRECT: chunks went through the page cache (TestDirectFallback covers that)", dst.Dir())
	case direct != int64(len(m.Chunks)) || copied != 0:
		t.Errorf("%d of %d chunks written directly, %d of them copied first; want all, none copied", direct, len(m.Chunks), copied)
	}
}

// TestPutDirect: chunks of every length class (a block, short of one, a
// whole chunk), from buffers aligned or not, are stored with their exact
// length and read back; putting a stored chunk again writes nothing.
func TestPutDirect(t *testing.T) {
	s := openStore(t, t.TempDir())
	whole := randBytes(17, blob.ChunkSize+1)
	for _, n := range []int{1, 4095, 4096, 4097, 65536 + 3, blob.ChunkSize} {
		for _, off := range []int{0, 1} { // 0: the allocation's start, aligned (Go aligns large allocations); 1: never aligned
			data := whole[off : off+n]
			id := blob.ChunkIDOf(data)
			if err := blob.PutDirect(s, id, data); err != nil {
				t.Fatalf("%d bytes at offset %d: %v", n, off, err)
			}
			got, err := s.Get(id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes at offset %d: read back %d bytes, %v", n, off, len(got), err)
			}
		}
	}
	direct, copied := blob.DirectWrites(s)
	if runtime.GOOS == "linux" && !blob.DirectRefused(s) && (direct != 12 || copied < 6) {
		t.Errorf("%d chunks written directly, %d copied first; want 12, at least the 6 unaligned", direct, copied)
	}
	if err := blob.PutDirect(s, blob.ChunkIDOf(whole[:1]), whole[:1]); err != nil {
		t.Fatal(err)
	}
	if again, _ := blob.DirectWrites(s); again != direct {
		t.Errorf("a chunk stored already was written again")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestDirectFallback: on a file system that refuses O_DIRECT (EINVAL, as
// tmpfs did before Linux 6.6), a direct put goes through the page cache
// instead, and later ones do not try again.
func TestDirectFallback(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	tried := blob.RefuseDirect(s)
	for i := range 3 {
		data := randBytes(uint64(20+i), 5000)
		id := blob.ChunkIDOf(data)
		if err := blob.PutDirect(s, id, data); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if got, err := s.Get(id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("put %d: read back %d bytes, %v", i, len(got), err)
		}
	}
	if direct, _ := blob.DirectWrites(s); !blob.DirectRefused(s) || direct != 0 || tried() != 1 {
		t.Errorf("refused %v, %d written directly, %d opens tried; want refused, none, 1", blob.DirectRefused(s), direct, tried())
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files", len(ents))
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestReadChunkAligned: a Chunk answer, whatever the widths of its index
// and length heads, is read with its data at the start of an aligned
// buffer of ChunkSize, and decodes as DecodeBlobMsg decodes the frame; an
// Err answer, or a Chunk of another index, is read as readMsg reads it.
func TestReadChunkAligned(t *testing.T) {
	id := blob.BlobID{4, 5, 6}
	var frames bytes.Buffer
	fc := frame.NewConn(&frames, blob.MaxBlobFrame, frame.Timeouts{})
	type sent struct {
		index int // the index asked for
		msg   *blob.BlobMsg
	}
	var all []sent
	for _, i := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, blob.MaxChunks - 1} {
		for _, n := range []int{1, 23, 24, 255, 256, 65535, 65536, blob.ChunkSize} {
			all = append(all, sent{i, &blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: i, Data: randBytes(uint64(i+n), n)}})
		}
	}
	all = append(all,
		sent{3, &blob.BlobMsg{Type: blob.BlobMsgErr, Reason: "chunk 3 of blob … not held"}},
		sent{3, &blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 4, Data: []byte("another index")}},
	)
	for _, s := range all {
		if err := fc.WriteFrame(s.msg.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range all {
		got, err := blob.ReadChunk(fc, s.index)
		if err != nil {
			t.Fatalf("asked %d, got %d/%d: %v", s.index, s.msg.Index, len(s.msg.Data), err)
		}
		if !reflect.DeepEqual(got, s.msg) {
			t.Fatalf("asked %d: read %+v, sent %+v", s.index, got, s.msg)
		}
		if s.msg.Type == blob.BlobMsgChunk && s.msg.Index == s.index && (!blob.IsAligned(got.Data) || cap(got.Data) != blob.ChunkSize) {
			t.Errorf("chunk %d of %d bytes: data not at the start of an aligned buffer of ChunkSize (cap %d)", s.index, len(got.Data), cap(got.Data))
		}
	}
}

// TestShardDirRemoved: a store remembers the shard directories it made,
// and one removed behind its back is made again when a chunk goes there.
func TestShardDirRemoved(t *testing.T) {
	s := openStore(t, t.TempDir())
	a := randBytes(30, 100)
	id := blob.ChunkIDOf(a)
	if err := blob.PutDirect(s, id, a); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(chunkPath(s.Dir(), id))); err != nil {
		t.Fatal(err)
	}
	for _, put := range []func(blob.ChunkID, []byte) error{
		func(id blob.ChunkID, b []byte) error { return blob.PutDirect(s, id, b) },
		s.Put,
	} {
		if err := put(id, a); err != nil {
			t.Fatalf("put into a removed shard directory: %v", err)
		}
		if got, err := s.Get(id); err != nil || !bytes.Equal(got, a) {
			t.Fatalf("read back %d bytes, %v", len(got), err)
		}
		os.RemoveAll(filepath.Dir(chunkPath(s.Dir(), id)))
	}
}
