package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

// canaryPrefix starts every canary string, so that one search for it in a
// file finds any of them.
const canaryPrefix = "canary-8c1d-"

// canaries returns n unique canary strings.
func canaries(n int) []string {
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 8)
		rand.Read(b)
		out[i] = fmt.Sprintf("%s%04d-%x", canaryPrefix, i, b)
	}
	return out
}

// canaryFile returns random bytes of about size, with each of cs written
// into it at spread-out places.
func canaryFile(size int, cs []string) []byte {
	b := make([]byte, size)
	rand.Read(b)
	for i, c := range cs {
		copy(b[i*(size/len(cs)):], c)
	}
	return b
}

// readRef reads what ref, held in space id, names on n.
func readRef(ctx context.Context, n *Node, id keys.SpaceID, ref blob.Ref) ([]byte, error) {
	r, err := n.OpenRef(ctx, id, ref)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// TestBlindSeedingCanaries is #4's must-show for blind seeding: a seeder
// syncs a private space holding 1,000 unique canary strings in keys,
// values and blobs; a search of the seeder's whole home finds none of
// them; a member's new device restores the whole space (blobs included)
// from the seeder alone while every other member is offline; and a byte
// flipped in the seeder's store is detected by the member, whose store
// never takes it.
func TestBlindSeedingCanaries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, b, s := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id := sp.ID()

	// 1,000 canaries: 450 keys and their 450 values, and 100 inside four
	// blobs (the largest spans three sealed frames).
	cs := canaries(1000)
	files := map[string][]byte{}
	for i, size := range []int{100 << 10, 300 << 10, 700 << 10, 2*seal.FrameSize + 4321} {
		files[fmt.Sprintf("files/%d", i)] = canaryFile(size, cs[900+25*i:900+25*(i+1)])
	}
	for key, data := range files {
		if _, _, err := a.PutBlob(ctx, sp, []byte(key), bytes.NewReader(data), "application/octet-stream"); err != nil {
			t.Fatalf("PutBlob %s: %v", key, err)
		}
	}
	notes := func(sp *space.Space, from, to int) {
		t.Helper()
		var ops []commit.Op
		for j := from; j < to; j++ {
			ops = append(ops, commit.Put([]byte("notes/"+cs[2*j]), []byte(cs[2*j+1])))
		}
		if _, err := sp.Commit(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 400; i += 50 {
		notes(sp, i, i+50)
	}
	refs := map[string]blob.Ref{}
	for key := range files {
		e, err := a.st.Get(ctx, id, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		r, ok := RefOf(e)
		if !ok || !r.Sealed || r.Size != int64(len(files[key])) {
			t.Fatalf("%s holds %+v (ok %v), want a sealed blob of %d bytes", key, r, ok, len(files[key]))
		}
		if got, err := readRef(ctx, a, id, r); err != nil || !bytes.Equal(got, files[key]) {
			t.Fatalf("a reads %s back: %d bytes, %v", key, len(got), err)
		}
		refs[key] = r
	}

	// The seeder joins and keeps every commit and every sealed blob; a
	// second member writes the last 50 notes (its commit is the one the
	// seeder's disk will damage: no commit of a depends on it).
	seedT := inviteFor(t, a, "club", commit.RoleSeed, 0)
	readT := inviteFor(t, a, "club", commit.RoleRead, 0)
	readT2 := inviteFor(t, a, "club", commit.RoleRead, 0)
	writeT := inviteFor(t, a, "club", commit.RoleWrite, 0)
	joinWith(t, s, seedT)
	bsp := joinWith(t, b, writeT)
	notes(bsp, 400, 450)
	waitFor(t, 30*time.Second, "the seeder to hold every commit and every blob", func() bool {
		if !sameHeads([]*Node{a, b, s}, id) {
			return false
		}
		for _, r := range refs {
			if !s.BlobComplete(r.ID) {
				return false
			}
		}
		return true
	})
	if _, err := readRef(ctx, s, id, refs["files/0"]); !errors.Is(err, ErrNoReadKey) {
		t.Fatalf("the seeder opens a sealed blob: %v, want ErrNoReadKey", err)
	}
	if got, err := s.ReferencedBlobs(ctx); err != nil || len(got) != len(refs) {
		t.Fatalf("the seeder keeps %d blobs (%v), want %d", len(got), err, len(refs))
	}
	if freed, err := s.GCBlobs(ctx); err != nil || freed != 0 {
		t.Fatalf("GC on the seeder freed %d bytes (%v): it must keep the sealed blobs", freed, err)
	}

	m0, err := s.blobs.Manifest(refs["files/0"].ID)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing of the plaintext on the seeder's disk.
	a.Close()
	b.Close()
	s.Close()
	if found := testkit.Grep(t, s.home, canaryPrefix); len(found) != 0 {
		t.Fatalf("the seeder's home holds plaintext: %v", found)
	}
	if found := testkit.Grep(t, filepath.Join(s.home, "blobs"), ""); len(found) < 4 {
		t.Fatalf("the seeder's blob store has %d files: the search above would have missed the blobs", len(found))
	}

	// A member's new device restores everything from the seeder alone.
	s = openNode(t, s.home)
	c := openNode(t, t.TempDir())
	readT.Addrs = s.Addrs()
	joinWith(t, c, readT)
	waitFor(t, 30*time.Second, "the new device to hold every commit", func() bool { return sameHeads([]*Node{s, c}, id) })
	for j := range 450 {
		if got := value(c, id, "notes/"+cs[2*j]); got != cs[2*j+1] {
			t.Fatalf("the new device reads %q for canary key %d, want %q", got, j, cs[2*j+1])
		}
	}
	for key, r := range refs {
		if got, err := readRef(ctx, c, id, r); err != nil || !bytes.Equal(got, files[key]) {
			t.Fatalf("the new device reads %s: %d bytes, %v", key, len(got), err)
		}
	}
	c.Close()

	// A byte flipped in a chunk file of the smallest blob on the seeder:
	// the seeder verifies chunks as it reads them and serves none of it; a
	// new device restores the rest and stores nothing of that blob.
	s.Close()
	flipChunk(t, s.home, m0.Chunks[0])
	s = openNode(t, s.home)
	d := openNode(t, t.TempDir())
	readT2.Addrs = s.Addrs()
	joinWith(t, d, readT2)
	waitFor(t, 30*time.Second, "the second new device to hold every commit", func() bool { return sameHeads([]*Node{s, d}, id) })
	if got, err := readRef(ctx, d, id, refs["files/1"]); err != nil || !bytes.Equal(got, files["files/1"]) {
		t.Fatalf("the second new device reads files/1: %d bytes, %v", len(got), err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := readRef(fctx, d, id, refs["files/0"]); err == nil {
		t.Fatal("the new device read a blob whose only copy is corrupt")
	}
	if m, err := d.blobs.Manifest(refs["files/0"].ID); err == nil && len(d.blobs.Missing(m)) != len(m.Chunks) {
		t.Fatal("the new device stored a chunk of the corrupt blob")
	}
	d.Close()

	// A byte flipped in b's last commit in the seeder's store: a device
	// syncing the space from the seeder detects it (the signature fails),
	// counts the seeder as misbehaving, and never stores that commit.
	s.Close()
	head := flipLastCommit(t, s.home, id, b.Author())
	s = openNode(t, s.home)
	e := openNode(t, t.TempDir())
	if err := e.st.AddSpace(ctx, "club", id); err != nil {
		t.Fatal(err)
	}
	e.addHeld(id) // as Join does, without waiting for a grant
	if _, err := e.Connect(ctx, s.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the device to reject the flipped commit", func() bool { return misbehaving([]*Node{e}) > 0 })
	for sc, err := range e.st.Commits(ctx, id, b.Author(), head) {
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("the device stored b's commit %d although its bytes were flipped on the seeder", sc.Seq)
	}
}

// flipChunk flips a bit in the middle of chunk id's file in home.
func flipChunk(t *testing.T, home string, id blob.ChunkID) {
	t.Helper()
	h := hex.EncodeToString(id[:])
	p := filepath.Join(home, "blobs", "chunks", h[:2], h[2:])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipLastCommit flips a bit in the middle of the encoded last commit of
// author in space sp, as stored in home's store (no node may be using it),
// and returns that commit's seq.
func flipLastCommit(t *testing.T, home string, sp keys.SpaceID, author keys.AuthorID) uint64 {
	t.Helper()
	st, err := store.Open(filepath.Join(home, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for sc, err := range st.Commits(context.Background(), sp, author, 1) {
		if err != nil {
			t.Fatal(err)
		}
		last = sc.Seq
	}
	st.Close()
	if last < 2 {
		t.Fatalf("author has %d commits", last)
	}
	db, err := pebble.Open(filepath.Join(home, "store"), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const commitRowTag = 0x10 // internal/store/layout.go
	key := append([]byte{commitRowTag}, sp[:]...)
	key = append(key, author[:]...)
	key = binary.BigEndian.AppendUint64(key, last)
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("commit row of seq %d: %v", last, err)
	}
	bad := bytes.Clone(v)
	closer.Close()
	if len(bad) == keys.Size+1+12 && bad[keys.Size] == 0 {
		// The row names the commit's record in the body log
		// (internal/store/bodies.go): flip the byte there, with a
		// checksum that matches, so that the seeder serves it.
		flipRecord(t, filepath.Join(home, "store", "bodies"), bad[keys.Size+1:], len(key))
		return last
	}
	bad[keys.Size+(len(bad)-keys.Size)/2] ^= 0x04
	if err := db.Set(key, bad, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	return last
}

// flipRecord flips a bit in the middle of the commit in the body log's
// record at place (segment, offset, length: little-endian uint32s; the
// record is its row's key, keyLen bytes, then the commit), and writes the
// record's CRC-32C again (over its 4 length bytes and its bytes; format in
// internal/store/bodylog/doc.go).
func flipRecord(t *testing.T, dir string, place []byte, keyLen int) {
	t.Helper()
	seg := binary.LittleEndian.Uint32(place)
	off := int64(binary.LittleEndian.Uint32(place[4:]))
	n := int(binary.LittleEndian.Uint32(place[8:]))
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%08d.seg", seg)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := make([]byte, 8+n)
	if _, err := f.ReadAt(rec, off); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(rec) != uint32(n) {
		t.Fatalf("the record at %d of segment %d is not %d bytes", off, seg, n)
	}
	rec[8+keyLen+(n-keyLen)/2] ^= 0x04
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Update(crc32.Checksum(rec[:4], tab), tab, rec[8:]))
	if _, err := f.WriteAt(rec, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Errorf(string, ...any)        {}
func (quietPebble) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// TestPrivateBlobRules: in a private space a blob is written with its
// bytes, sealed; a reference to a blob in the clear is refused, and so is
// writing a sealed reference elsewhere by hand.
func TestPrivateBlobRules(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id, _, err := a.blobs.Add(ctx, bytes.NewReader(make([]byte, 1000)))
	if err != nil {
		t.Fatal(err)
	}
	clear := blob.Ref{ID: id, Size: 1000}
	_, err = sp.Commit(ctx, []commit.Op{{Kind: commit.KindPutBlob, Key: []byte("k"), Payload: clear.Encode()}})
	if !errors.Is(err, space.ErrClearBlob) {
		t.Fatalf("a reference to a clear blob in a private space: %v, want ErrClearBlob", err)
	}
	ref, c, err := a.PutBlob(ctx, sp, []byte("k"), bytes.NewReader([]byte("small file")), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if !ref.Sealed || ref.Size != 10 || ref.ID == id {
		t.Fatalf("PutBlob in a private space: %+v", ref)
	}
	// The commit names the sealed bytes in the clear, and nothing else.
	var named []blob.Ref
	for _, o := range c.Ops {
		switch o.Kind {
		case commit.KindBlob:
			r, err := blob.DecodeRef(o.Payload)
			if err != nil {
				t.Fatal(err)
			}
			named = append(named, r)
		case commit.KindSealed:
		default:
			t.Fatalf("the commit carries a %s op in the clear", o.Kind)
		}
	}
	if len(named) != 1 || named[0] != (blob.Ref{ID: ref.ID, Size: seal.SealedSize(10)}) {
		t.Fatalf("blob ops name %+v, want the sealed bytes %s of %d bytes", named, ref.ID, seal.SealedSize(10))
	}
	br, err := a.blobs.Open(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(br)
	br.Close()
	if bytes.Contains(raw, []byte("small file")) {
		t.Fatal("the blob store holds the plaintext")
	}
	if got, err := readRef(ctx, a, sp.ID(), ref); err != nil || string(got) != "small file" {
		t.Fatalf("reading the sealed blob back: %q, %v", got, err)
	}
}

// rotateOnFirstRead runs f before the first Read of r passes through.
type rotateOnFirstRead struct {
	r io.Reader
	f func()
}

func (h *rotateOnFirstRead) Read(p []byte) (int, error) {
	if f := h.f; f != nil {
		h.f = nil
		f()
	}
	return h.r.Read(p)
}

// TestBlobSealedAcrossRotation: a reader removed while a blob is being
// sealed cannot open it: the write seals it again under the new epoch.
func TestBlobSealedAcrossRotation(t *testing.T) {
	ctx := ctxT(t)
	a, c := openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	joinAs(t, a, c, "club", commit.RoleRead, 0)
	waitFor(t, 20*time.Second, "a to see c's join", func() bool {
		r, err := a.st.Role(ctx, id, c.Author())
		return err == nil && r == commit.RoleRead
	})
	secret := bytes.Repeat([]byte("written after the removal "), 100_000) // 2.6 MB, three frames
	r := &rotateOnFirstRead{r: bytes.NewReader(secret), f: func() {
		if _, err := a.Revoke(ctx, "club", c.Author().String()); err != nil {
			t.Error(err)
		}
	}}
	ref, cm, err := a.PutBlob(ctx, sp, []byte("f"), r, "")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Epoch != cm.Epoch || ref.Epoch == 0 {
		t.Fatalf("the blob is sealed under epoch %d, its commit under %d; want both the new epoch", ref.Epoch, cm.Epoch)
	}
	if got, err := readRef(ctx, a, id, ref); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the writer reads the blob: %d bytes, %v", len(got), err)
	}
	br, err := a.blobs.Open(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	for _, k := range c.rk.All(id) { // every key the removed reader kept
		o, err := seal.NewOpened([]seal.ReadKey{seal.ReadKey(k.Key)}, id, k.Epoch, br, br.Size(), ref.Size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(o); !errors.Is(err, seal.ErrDecrypt) {
			t.Fatalf("the removed reader's key of epoch %d: %v, want ErrDecrypt", k.Epoch, err)
		}
	}
}

// TestSealedBlobEdges: an empty blob seals and reads back; a reference
// whose size disagrees with its blob is refused before anything is read.
func TestSealedBlobEdges(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	ref, _, err := a.PutBlob(ctx, sp, []byte("empty"), bytes.NewReader(nil), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readRef(ctx, a, sp.ID(), ref); err != nil || len(got) != 0 {
		t.Fatalf("the empty blob reads %q, %v", got, err)
	}
	ref, _, err = a.PutBlob(ctx, sp, []byte("ten"), bytes.NewReader([]byte("ten bytes!")), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, lie := range []int64{9, 11, 1 << 30} {
		bad := ref
		bad.Size = lie
		if _, err := a.OpenRef(ctx, sp.ID(), bad); !errors.Is(err, blob.ErrSizeMismatch) {
			t.Errorf("a reference claiming %d bytes: %v, want ErrSizeMismatch", lie, err)
		}
	}
}
