package loam

import (
	"context"
	"fmt"
	"io"

	"github.com/loamdb/loam/internal/blob"
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

func parseBlobID(id string) (blob.BlobID, error) {
	b, err := blob.ParseBlobID(id)
	if err != nil {
		return b, fmt.Errorf("%w (blob IDs look like blb_… as 'loam blob add' prints them)", err)
	}
	return b, nil
}

// blobNode is the blob store's part of a nodeImpl.
type blobNode interface {
	addBlob(ctx context.Context, r io.Reader) (BlobInfo, error)
	fetchBlob(ctx context.Context, id string, progress func(BlobProgress)) (FetchStats, error)
	openBlob(ctx context.Context, id string) (blobReader, error)
	blobs(ctx context.Context) ([]BlobInfo, error)
	setPin(ctx context.Context, id string, on bool) error
	gcBlobs(ctx context.Context) (int64, error)
}

// blobReader is what a BlobReader reads.
type blobReader interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// AddBlob stores r as a pinned blob and returns what it stored.
func (n *Node) AddBlob(ctx context.Context, r io.Reader) (BlobInfo, error) {
	return n.impl.addBlob(ctx, r)
}

// FetchBlob downloads blob id from every connected peer that has it, in
// parallel, keeping chunks already held, and pins it. progress, if not
// nil, is called as chunks arrive.
func (n *Node) FetchBlob(ctx context.Context, id string, progress func(BlobProgress)) (FetchStats, error) {
	if _, err := parseBlobID(id); err != nil {
		return FetchStats{}, err
	}
	return n.impl.fetchBlob(ctx, id, progress)
}

// BlobReader reads a blob; it is an io.ReadSeekCloser and an io.ReaderAt.
// Through a daemon, its reads use the context OpenBlob was given.
type BlobReader struct{ r blobReader }

func (r *BlobReader) Read(p []byte) (int, error)                { return r.r.Read(p) }
func (r *BlobReader) Seek(off int64, whence int) (int64, error) { return r.r.Seek(off, whence) }
func (r *BlobReader) ReadAt(p []byte, off int64) (int, error)   { return r.r.ReadAt(p, off) }
func (r *BlobReader) Close() error                              { return r.r.Close() }
func (r *BlobReader) Size() int64                               { return r.r.Size() }

// OpenBlob returns a reader of blob id, first fetching from peers what is
// not held here (which needs Options.Network). A private space's blob is
// read sealed this way: read it through its key with Space.OpenBlob.
func (n *Node) OpenBlob(ctx context.Context, id string) (*BlobReader, error) {
	if _, err := parseBlobID(id); err != nil {
		return nil, err
	}
	r, err := n.impl.openBlob(ctx, id)
	if err != nil {
		return nil, err
	}
	return &BlobReader{r}, nil
}

// Blobs lists the blobs held here, wholly or in part, by ID.
func (n *Node) Blobs(ctx context.Context) ([]BlobInfo, error) { return n.impl.blobs(ctx) }

// PinBlob keeps blob id whatever keys reference it.
func (n *Node) PinBlob(ctx context.Context, id string) error { return n.setPin(ctx, id, true) }

// UnpinBlob lets GC remove blob id once no key references it.
func (n *Node) UnpinBlob(ctx context.Context, id string) error { return n.setPin(ctx, id, false) }

func (n *Node) setPin(ctx context.Context, id string, on bool) error {
	if _, err := parseBlobID(id); err != nil {
		return err
	}
	return n.impl.setPin(ctx, id, on)
}

// GCBlobs deletes the blobs that no key of a held space references, that
// are not pinned and that nothing uses, and returns the bytes freed.
func (n *Node) GCBlobs(ctx context.Context) (int64, error) { return n.impl.gcBlobs(ctx) }

// PutBlob stores r as a blob and writes a reference to it under key, in one
// commit. mediaType ("image/jpeg", …) may be empty. Members of the space
// fetch the blob eagerly if it is small enough (see Options.FetchBlobs),
// else when they read it.
func (s *Space) PutBlob(ctx context.Context, key []byte, r io.Reader, mediaType string) (BlobRef, error) {
	return s.impl.putBlob(ctx, key, r, mediaType)
}

// OpenBlob returns a reader of the blob key holds, first fetching from
// peers what is not held here (which needs Options.Network). In a private
// space it reads the plaintext: the blob is stored sealed. It fails with
// ErrNotFound if key holds nothing and with ErrNotBlob if it holds a value.
func (s *Space) OpenBlob(ctx context.Context, key []byte) (*BlobReader, error) {
	r, err := s.impl.openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	return &BlobReader{r}, nil
}

// notBlob is the error of OpenBlob for a key that holds a value.
func notBlob(key []byte) error {
	return fmt.Errorf("%w: %q (read it with Get)", ErrNotBlob, clip(key))
}

// brokenRef is the error of OpenBlob for a reference that does not decode.
func brokenRef(key []byte) error {
	return fmt.Errorf("%q holds a blob reference that does not decode: its writer's software is broken", clip(key))
}
