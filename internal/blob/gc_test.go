package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

func keepNone(blob.BlobID) bool { return false }

func gc(t *testing.T, s *blob.Store, keep func(blob.BlobID) bool) int64 {
	t.Helper()
	freed, err := s.GC(context.Background(), keep)
	if err != nil {
		t.Fatal(err)
	}
	return freed
}

func complete(s *blob.Store, id blob.BlobID) bool {
	m, err := s.Manifest(id)
	return err == nil && len(s.Missing(m)) == 0
}

func TestPinsPersist(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	a, _ := addBytes(t, s, []byte("a"))
	b, _ := addBytes(t, s, []byte("b"))
	var c blob.BlobID // pinned before it is stored
	c[0] = 0xcc
	for _, id := range []blob.BlobID{a, b, c, a} {
		if err := s.Pin(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Unpin(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(a); err != nil {
		t.Fatal(err)
	}
	want := []blob.BlobID{b, c}
	slices.SortFunc(want, func(x, y blob.BlobID) int { return bytes.Compare(x[:], y[:]) })
	if got := s.Pinned(); !slices.Equal(got, want) {
		t.Fatalf("Pinned = %v, want %v", got, want)
	}
	s = openStore(t, dir)
	if got := s.Pinned(); !slices.Equal(got, want) || !s.IsPinned(b) || s.IsPinned(a) {
		t.Fatalf("after reopening, Pinned = %v, want %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "pins")); err != nil || string(b) != want[0].String()+"\n"+want[1].String()+"\n" {
		t.Fatalf("pins file %q, %v", b, err)
	}
	// A damaged pins file stops OpenStore rather than losing pins.
	if err := os.WriteFile(filepath.Join(dir, "pins"), []byte(want[0].String()+"\nblb_oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.OpenStore(dir); err == nil {
		t.Fatal("OpenStore accepted a damaged pins file")
	}
}

// Three blobs share a first chunk; GC keeps what keep, pins and leases say.
func TestGC(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	shared := randBytes(20, MiB)
	dataA := append(bytes.Clone(shared), randBytes(21, 1000)...)
	dataB := append(bytes.Clone(shared), randBytes(22, MiB)...)
	dataC := randBytes(23, 2*MiB+5)
	a, mA := addBytes(t, s, dataA)
	b, mB := addBytes(t, s, dataB)
	c, _ := addBytes(t, s, dataC)
	if err := s.Pin(c); err != nil {
		t.Fatal(err)
	}
	if freed := gc(t, s, func(id blob.BlobID) bool { return id == a || id == b }); freed != 0 {
		t.Fatalf("GC freed %d with every blob kept", freed)
	}

	// B is no longer wanted: its own chunk goes, the shared one stays.
	manifestB := int64(len(mB.Encode()))
	if freed := gc(t, s, func(id blob.BlobID) bool { return id == a }); freed != MiB+manifestB {
		t.Fatalf("GC freed %d, want %d", freed, MiB+manifestB)
	}
	if s.HasManifest(b) || s.Has(mB.Chunks[1]) {
		t.Fatal("B survived GC")
	}
	if !complete(s, a) || !complete(s, c) || !bytes.Equal(readAll(t, s, a), dataA) {
		t.Fatal("GC damaged A or C")
	}

	// Unpinned, C goes; then A.
	if err := s.Unpin(c); err != nil {
		t.Fatal(err)
	}
	if freed := gc(t, s, func(id blob.BlobID) bool { return id == a }); freed != 2*MiB+5+9+3*32 {
		t.Fatalf("GC of C freed %d", freed)
	}
	if freed := gc(t, s, keepNone); freed != MiB+1000+int64(len(mA.Encode())) {
		t.Fatalf("GC of A freed %d", freed)
	}
	if files := tree(t, dir); len(files) != 1 { // the pins file
		t.Fatalf("files left after GC of everything: %v", len(files))
	}
}

func TestGCLeases(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := randBytes(30, 3*MiB)
	id, m := addBytes(t, s, data)

	release := s.Lease(id)
	release2 := s.Lease(id) // leases nest
	if freed := gc(t, s, keepNone); freed != 0 || !complete(s, id) {
		t.Fatalf("GC during a lease freed %d", freed)
	}
	release()
	release() // a second call does nothing
	if freed := gc(t, s, keepNone); freed != 0 || !complete(s, id) {
		t.Fatalf("GC during the inner lease freed %d", freed)
	}
	release2()

	// An open Reader holds a lease.
	r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if freed := gc(t, s, keepNone); freed != 0 {
		t.Fatalf("GC with an open Reader freed %d", freed)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read during GC: %v", err)
	}
	r.Close()
	if freed := gc(t, s, keepNone); freed != 3*MiB+int64(len(m.Encode())) || s.Leased(id) {
		t.Fatalf("GC after the lease freed %d", freed)
	}
}

// A download leases the blob before it has the manifest, stores the
// manifest, then chunks: GC in between keeps them, including chunks that
// were already stored for another blob that is no longer wanted.
func TestGCLeaseBeforeManifest(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := randBytes(31, 2*MiB)
	m, chunks := splitAll(t, data)
	id := m.ID()
	old, _ := addBytes(t, s, chunks[0]) // chunk 0, under an unwanted blob

	release := s.Lease(id)
	defer release()
	if _, err := s.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	gc(t, s, keepNone)
	if s.HasManifest(old) || !s.Has(m.Chunks[0]) || !s.HasManifest(id) {
		t.Fatal("GC removed the leased blob's manifest or chunk 0")
	}
	if err := s.Put(m.Chunks[1], chunks[1]); err != nil {
		t.Fatal(err)
	}
	gc(t, s, keepNone)
	if !complete(s, id) {
		t.Fatal("GC removed a leased blob's chunk")
	}
}

// blockingReader hands out data, and waits at pause until resumed.
type blockingReader struct {
	r       io.Reader
	pause   int64 // offset at which to wait
	off     int64
	paused  chan struct{}
	resumed chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.off == b.pause {
		close(b.paused)
		<-b.resumed
	}
	if rest := b.pause - b.off; rest > 0 && int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	b.off += int64(n)
	return n, err
}

// GC while an Add is half-way keeps the chunks Add has written.
func TestGCDuringAdd(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := randBytes(40, 3*MiB+100)
	want, _ := splitAll(t, data)
	br := &blockingReader{r: bytes.NewReader(data), pause: 2 * MiB, paused: make(chan struct{}), resumed: make(chan struct{})}
	type result struct {
		id      blob.BlobID
		release func()
		err     error
	}
	done := make(chan result)
	go func() {
		id, _, release, err := s.AddLeased(context.Background(), br)
		done <- result{id, release, err}
	}()
	<-br.paused // chunk 0 is stored; chunk 1 is read and about to be
	gc(t, s, keepNone)
	if !s.Has(want.Chunks[0]) {
		t.Fatal("GC removed a chunk of an Add in progress")
	}
	close(br.resumed)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	// AddLeased returns with a lease: still no window for GC.
	gc(t, s, keepNone)
	if !complete(s, res.id) || !bytes.Equal(readAll(t, s, res.id), data) {
		t.Fatal("blob incomplete after AddLeased")
	}
	res.release()
	if freed := gc(t, s, keepNone); freed == 0 {
		t.Fatal("nothing freed once released")
	}
}

func TestAddCanceled(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Add(ctx, bytes.NewReader(make([]byte, 10))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with a canceled context: %v", err)
	}
	if _, err := s.GC(ctx, keepNone); !errors.Is(err, context.Canceled) {
		t.Fatalf("GC with a canceled context: %v", err)
	}
}

// Writers add and read blobs under leases while GC runs in a loop and
// collects everything unleased: no leased blob ever loses a chunk. Run with
// -race.
func TestGCConcurrent(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	go func() {
		defer gcWG.Done()
		for ctx.Err() == nil {
			if _, err := s.GC(ctx, keepNone); err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				// Sizes below and above a chunk; a shared chunk between workers.
				data := randBytes(uint64(i%3), MiB/2+(i%3)*MiB/2)
				data = append(data, randBytes(uint64(1000*w+i), 100)...)
				id, _, release, err := s.AddLeased(ctx, bytes.NewReader(data))
				if err != nil {
					t.Error(err)
					return
				}
				r, err := s.Open(id)
				if err != nil {
					t.Error(err)
					release()
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				release()
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("worker %d blob %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	gcWG.Wait()
}
