package loam

import (
	"context"
	"fmt"
	"io"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/node"
)

// Blobs: large values, content-addressed and fetched from every peer that
// has them (see DESIGN.md §7 and docs/protocol/blob.md).

// BlobThreshold is the value size above which the CLI and the HTTP API store
// a value as a blob and write a reference to it under the key.
const BlobThreshold = 64 << 10

// ErrBlobUnavailable reports a blob, or part of it, that no reachable peer
// could supply.
var ErrBlobUnavailable = blob.ErrUnavailable

// BlobRef is what a key holds when its value is a blob.
type BlobRef struct {
	ID   string // "blb_…"
	Size int64
	Type string // media type, or ""
	// Sealed: the blob belongs to a private space and is stored sealed;
	// ID names the sealed bytes, Size the plaintext. Read it with
	// Space.OpenBlob, which opens it.
	Sealed bool
}

func refOf(r blob.Ref) *BlobRef {
	return &BlobRef{ID: r.ID.String(), Size: r.Size, Type: r.Type, Sealed: r.Sealed}
}

// BlobInfo describes a blob the node holds, wholly or in part.
type BlobInfo struct {
	ID     string
	Size   int64
	Chunks int  // chunks of the whole blob
	Held   int  // chunks held here
	Pinned bool // kept whatever keys reference it
}

// BlobProgress reports how far a download is.
type BlobProgress struct {
	Done, Total int64 // bytes held, of the blob's size
	Peers       int   // peers that have sent chunks so far
}

// FetchStats describes one download.
type FetchStats struct {
	Fetched int64            // bytes fetched (not held before)
	Peers   map[string]int64 // bytes fetched from each peer
	Corrupt []string         // peers dropped for bytes that did not verify
}

func statsOf(st blob.Stats) FetchStats {
	return FetchStats{Fetched: st.Fetched(), Peers: st.Bytes, Corrupt: st.CorruptPeers()}
}

func parseBlobID(id string) (blob.BlobID, error) {
	b, err := blob.ParseBlobID(id)
	if err != nil {
		return b, fmt.Errorf("%w (blob IDs look like blb_… as 'loam blob add' prints them)", err)
	}
	return b, nil
}

// AddBlob stores r as a pinned blob and returns what it stored.
func (n *Node) AddBlob(ctx context.Context, r io.Reader) (BlobInfo, error) {
	id, m, err := n.n.AddBlob(ctx, r)
	if err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo{ID: id.String(), Size: m.Size, Chunks: len(m.Chunks), Held: len(m.Chunks), Pinned: true}, nil
}

// FetchBlob downloads blob id from every connected peer that has it, in
// parallel, keeping chunks already held, and pins it. progress, if not
// nil, is called as chunks arrive.
func (n *Node) FetchBlob(ctx context.Context, id string, progress func(BlobProgress)) (FetchStats, error) {
	b, err := parseBlobID(id)
	if err != nil {
		return FetchStats{}, err
	}
	st, err := n.n.FetchBlob(ctx, b, nil, fetchOptions(progress))
	return statsOf(st), err
}

func fetchOptions(progress func(BlobProgress)) blob.FetchOptions {
	var o blob.FetchOptions
	if progress != nil {
		o.Progress = func(p blob.Progress) {
			progress(BlobProgress{Done: p.Done, Total: p.Total, Peers: p.Sources()})
		}
	}
	return o
}

// BlobReader reads a blob; it is an io.ReadSeekCloser.
type BlobReader struct{ r node.BlobReader }

func (r *BlobReader) Read(p []byte) (int, error)                { return r.r.Read(p) }
func (r *BlobReader) Seek(off int64, whence int) (int64, error) { return r.r.Seek(off, whence) }
func (r *BlobReader) ReadAt(p []byte, off int64) (int, error)   { return r.r.ReadAt(p, off) }
func (r *BlobReader) Close() error                              { return r.r.Close() }
func (r *BlobReader) Size() int64                               { return r.r.Size() }

// OpenBlob returns a reader of blob id, first fetching from peers what is
// not held here (which needs Options.Network).
func (n *Node) OpenBlob(ctx context.Context, id string) (*BlobReader, error) {
	b, err := parseBlobID(id)
	if err != nil {
		return nil, err
	}
	if _, err := n.n.EnsureBlob(ctx, b, blob.FetchOptions{}); err != nil {
		return nil, err
	}
	r, err := n.n.OpenBlob(b)
	if err != nil {
		return nil, err
	}
	return &BlobReader{r}, nil
}

// Blobs lists the blobs held here, wholly or in part, by ID.
func (n *Node) Blobs(ctx context.Context) ([]BlobInfo, error) {
	infos, err := n.n.BlobInfos(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]BlobInfo, len(infos))
	for i, b := range infos {
		out[i] = BlobInfo{ID: b.ID.String(), Size: b.Size, Chunks: b.Chunks, Held: b.Held, Pinned: b.Pinned}
	}
	return out, nil
}

// PinBlob keeps blob id whatever keys reference it.
func (n *Node) PinBlob(id string) error { return n.setPin(id, true) }

// UnpinBlob lets GC remove blob id once no key references it.
func (n *Node) UnpinBlob(id string) error { return n.setPin(id, false) }

func (n *Node) setPin(id string, on bool) error {
	b, err := parseBlobID(id)
	if err != nil {
		return err
	}
	return n.n.SetPin(b, on)
}

// GCBlobs deletes the blobs that no key of a held space references, that
// are not pinned and that nothing uses, and returns the bytes freed.
func (n *Node) GCBlobs(ctx context.Context) (int64, error) { return n.n.GCBlobs(ctx) }

// PutBlob stores r as a blob and writes a reference to it under key, in one
// commit. mediaType ("image/jpeg", …) may be empty. Members of the space
// fetch the blob eagerly if it is small enough (see Options.FetchBlobs),
// else when they read it.
func (s *Space) PutBlob(ctx context.Context, key []byte, r io.Reader, mediaType string) (BlobRef, error) {
	ref, _, err := s.n.n.PutBlob(ctx, s.sp, key, r, mediaType)
	if err != nil {
		return BlobRef{}, err
	}
	return *refOf(ref), nil
}

// OpenBlob returns a reader of the blob key holds, first fetching from
// peers what is not held here (which needs Options.Network). In a private
// space it reads the plaintext: the blob is stored sealed. It fails with
// ErrNotFound if key holds nothing and with ErrNotBlob if it holds a value.
func (s *Space) OpenBlob(ctx context.Context, key []byte) (*BlobReader, error) {
	e, err := s.sp.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	r, ok := node.RefOf(e)
	if !ok {
		if e.Kind == commit.KindPutBlob {
			return nil, fmt.Errorf("%q holds a blob reference that does not decode: its writer's software is broken", clip(key))
		}
		return nil, fmt.Errorf("%w: %q (read it with Get)", ErrNotBlob, clip(key))
	}
	br, err := s.n.n.OpenRef(ctx, s.sp.ID(), r)
	if err != nil {
		return nil, err
	}
	return &BlobReader{br}, nil
}
