package node

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/keys"
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
