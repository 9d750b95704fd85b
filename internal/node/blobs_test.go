package node

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
)

func readBlob(t *testing.T, n *Node, id blob.BlobID) []byte {
	t.Helper()
	r, err := n.OpenBlob(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBlobTransfer: a blob added on A is fetched by B and C from A, and by D
// from A and C together; an unknown blob is unavailable.
func TestBlobTransfer(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	c := openNode(t, t.TempDir())
	d := openNode(t, t.TempDir())

	data := make([]byte, 8<<20)
	crand.Read(data)
	id, m, err := a.AddBlob(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Chunks) != 8 || !a.blobs.IsPinned(id) {
		t.Fatalf("added %d chunks, pinned %v", len(m.Chunks), a.blobs.IsPinned(id))
	}

	// B fetches from every connected peer: A.
	if _, err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	st, err := b.FetchBlob(ctx, id, nil, blob.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes[a.Author().String()] != int64(len(data)) {
		t.Fatalf("b's stats: %+v", st)
	}
	if !bytes.Equal(readBlob(t, b, id), data) || !b.blobs.IsPinned(id) {
		t.Fatal("b's copy differs or is not pinned")
	}

	// C fetches from A, then D from A and C together.
	if _, err := c.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchBlob(ctx, id, []keys.AuthorID{a.Author()}, blob.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, c} {
		if _, err := d.Connect(ctx, n.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	st, err = d.FetchBlob(ctx, id, []keys.AuthorID{a.Author(), c.Author()}, blob.FetchOptions{PerSource: 1})
	if err != nil {
		t.Fatal(err)
	}
	fromA, fromC := st.Bytes[a.Author().String()], st.Bytes[c.Author().String()]
	if fromA == 0 || fromC == 0 || fromA+fromC != int64(len(data)) {
		t.Fatalf("d fetched %d bytes from A and %d from C, want both > 0 and %d in all: %+v", fromA, fromC, len(data), st)
	}
	if !bytes.Equal(readBlob(t, d, id), data) {
		t.Fatal("d's copy differs")
	}

	// An unknown blob.
	var unknown blob.BlobID
	crand.Read(unknown[:])
	if _, err := d.FetchBlob(ctx, unknown, nil, blob.FetchOptions{}); !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("fetch of an unknown blob: %v, want ErrUnavailable", err)
	}
}

// TestBlobServeMalformed: a malformed frame ends the stream.
func TestBlobServeMalformed(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	if _, err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	s, err := b.host.Open(ctx, a.Author(), blob.BlobProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write([]byte{3, 0xff, 0xff, 0xff}) // a frame that is not a message
	if _, err := io.ReadAll(s); err == nil {
		t.Fatal("the stream was closed cleanly, want reset")
	}
}

// joinAll makes every node join a's space sp by a ticket of a.
func joinAll(t *testing.T, a *Node, name string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		joinAs(t, a, n, name, commit.RoleWrite, 0)
	}
}

// TestSpaceBlobs: a blob put under a key of a space reaches the other
// members eagerly, or when read on a node that fetches none eagerly; GC
// keeps it while a key references it and frees it after the key is deleted.
func TestSpaceBlobs(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	lazy, err := Open(ctx, Options{Home: t.TempDir(), Listen: loopback, NoSync: true, FetchBlobs: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lazy.Close() })
	sp := newSpace(t, a, "tools")
	joinAll(t, a, "tools", b, lazy)

	photo := make([]byte, 3<<20+77)
	crand.Read(photo)
	ref, _, err := a.PutBlob(ctx, sp, []byte("tools/drill/photo"), bytes.NewReader(photo), "image/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != int64(len(photo)) || ref.Type != "image/jpeg" || a.blobs.IsPinned(ref.ID) {
		t.Fatalf("ref %+v, pinned %v", ref, a.blobs.IsPinned(ref.ID))
	}
	waitFor(t, 20*time.Second, "b to fetch the photo eagerly", func() bool { return b.BlobComplete(ref.ID) })
	if !bytes.Equal(readBlob(t, b, ref.ID), photo) {
		t.Fatal("b's copy differs")
	}
	waitFor(t, 10*time.Second, "the key to reach lazy", func() bool {
		e, err := lazy.st.Get(ctx, sp.ID(), []byte("tools/drill/photo"))
		return err == nil && e.Kind == commit.KindPutBlob
	})
	if lazy.BlobComplete(ref.ID) || lazy.blobs.HasManifest(ref.ID) {
		t.Fatal("lazy fetched the blob eagerly")
	}
	if _, err := lazy.EnsureBlob(ctx, ref.ID, blob.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBlob(t, lazy, ref.ID), photo) || lazy.blobs.IsPinned(ref.ID) {
		t.Fatal("lazy's copy differs or is pinned")
	}

	// Referenced: kept.
	for _, n := range []*Node{a, b, lazy} {
		if freed, err := n.GCBlobs(ctx); err != nil || freed != 0 || !n.BlobComplete(ref.ID) {
			t.Fatalf("GC of a referenced blob: freed %d, %v", freed, err)
		}
	}
	// The key deleted on a: every node frees the blob.
	if _, err := sp.Commit(ctx, []commit.Op{commit.Del([]byte("tools/drill/photo"))}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b, lazy} {
		waitFor(t, 10*time.Second, "the delete to arrive", func() bool {
			_, err := n.st.Get(ctx, sp.ID(), []byte("tools/drill/photo"))
			return err != nil
		})
		if freed, err := n.GCBlobs(ctx); err != nil || freed < int64(len(photo)) || n.blobs.HasManifest(ref.ID) {
			t.Fatalf("GC of an unreferenced blob: freed %d bytes of its %d, %v", freed, len(photo), err)
		}
	}
}

// throttledSeeders opens three nodes, each serving at most 2 MiB/s (a
// rate low enough that a download is bound by it, not by the CPU, even
// under the race detector on a busy machine), holding the same 12 MiB
// blob, and returns them, the blob and its bytes.
func throttledSeeders(tb testing.TB) ([]*Node, blob.BlobID, []byte) {
	ctx := context.Background()
	const rate = 2 << 20
	data := make([]byte, 12<<20)
	crand.Read(data)
	var seeders []*Node
	var id blob.BlobID
	for range 3 {
		n, err := Open(ctx, Options{Home: tb.TempDir(), Listen: loopback, NoSync: true, UploadRate: rate})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { n.Close() })
		if id, _, err = n.AddBlob(ctx, bytes.NewReader(data)); err != nil {
			tb.Fatal(err)
		}
		seeders = append(seeders, n)
	}
	return seeders, id, data
}

// fetchFrom fetches blob id on a new node connected to the seeders from,
// checks the copy against data, and returns how long the fetch took and
// its statistics.
func fetchFrom(tb testing.TB, from []*Node, id blob.BlobID, data []byte) (time.Duration, blob.Stats) {
	ctx := context.Background()
	d, err := Open(ctx, Options{Home: tb.TempDir(), Listen: loopback, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	for _, s := range from {
		if _, err := d.Connect(ctx, s.Addrs()[0]); err != nil {
			tb.Fatal(err)
		}
	}
	start := time.Now()
	st, err := d.FetchBlob(ctx, id, nil, blob.FetchOptions{})
	took := time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := d.blobs.Open(id)
	if err != nil {
		tb.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		tb.Fatalf("the copy differs (%d bytes, %v)", len(got), err)
	}
	return took, st
}

// TestThrottledSeeders: a node that fetches a blob three throttled
// seeders hold takes a share of it from each (so three together are
// faster than one: BenchmarkThrottledSeeders measures how much), and the
// copy is whole.
func TestThrottledSeeders(t *testing.T) {
	seeders, id, data := throttledSeeders(t)
	_, st := fetchFrom(t, seeders, id, data)
	for _, s := range seeders {
		got := st.Bytes[s.Author().String()]
		if got < int64(len(data))/8 {
			t.Errorf("seeder %s served %d of %d bytes; want a share (at least an eighth) from each of the three: %v", s.Author().Short(), got, len(data), st.Bytes)
		}
	}
}

// BenchmarkThrottledSeeders reports how many times faster a fetch from
// three seeders serving 2 MiB/s each is than from one of them (the issue's
// target: at least 2.5x).
func BenchmarkThrottledSeeders(b *testing.B) {
	seeders, id, data := throttledSeeders(b)
	for range b.N {
		one, _ := fetchFrom(b, seeders[:1], id, data)
		three, _ := fetchFrom(b, seeders, id, data)
		b.ReportMetric(one.Seconds(), "s-one-seeder")
		b.ReportMetric(three.Seconds(), "s-three-seeders")
		b.ReportMetric(float64(one)/float64(three), "x-faster")
	}
}

// TestCorruptSeeder: a seeder whose chunks do not verify is dropped and
// punished; the download completes from the honest one and nothing
// corrupt is stored.
func TestCorruptSeeder(t *testing.T) {
	ctx := ctxT(t)
	// The honest seeder is slowed (4 MiB/s), so that the liar's answers
	// arrive first and are checked: unslowed, the honest one could serve
	// every chunk before a corrupt one was looked at (a CI run saw all 12
	// from it and nothing counted).
	honest := openWith(t, Options{Home: t.TempDir(), Listen: loopback, NoSync: true, UploadRate: 4 << 20})
	liar := openNode(t, t.TempDir())
	d := openNode(t, t.TempDir())
	data := make([]byte, 12<<20)
	crand.Read(data)
	var id blob.BlobID
	for _, n := range []*Node{honest, liar} {
		var err error
		if id, _, err = n.AddBlob(ctx, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Connect(ctx, n.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	liar.corruptServe = true
	st, err := d.FetchBlob(ctx, id, nil, blob.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Corrupt[liar.Author().String()] != 1 || st.Bytes[liar.Author().String()] != 0 {
		t.Fatalf("stats %+v: want the liar dropped after one corrupt chunk", st)
	}
	if got := d.Counters().Misbehaving["corrupt_blob"]; got != 1 {
		t.Fatalf("corrupt_blob counted %d times, want 1", got)
	}
	if !bytes.Equal(readBlob(t, d, id), data) {
		t.Fatal("the copy differs")
	}
	waitFor(t, 10*time.Second, "the liar to be disconnected", func() bool { return !d.connected(liar.Author()) })
}

// TestBlobPutRefusedForReader: a read-only member's blob write is refused
// before anything is stored.
func TestBlobPutRefusedForReader(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	r := openNode(t, t.TempDir())
	newSpace(t, a, "tools")
	sp := joinAs(t, a, r, "tools", commit.RoleRead, 0)
	_, _, err := r.PutBlob(ctx, sp, []byte("photo"), bytes.NewReader(make([]byte, 1<<20)), "")
	if !errors.Is(err, space.ErrReadOnly) || !strings.Contains(err.Error(), "needs write") {
		t.Fatalf("a reader's blob put: %v, want ErrReadOnly naming the role", err)
	}
	if ids, _ := r.blobs.Blobs(); len(ids) != 0 {
		t.Fatalf("the refused put stored %d blobs", len(ids))
	}
}
