package node

import (
	"context"
	"sync"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// SpaceBytes is what one space takes on this node's disk (docs/design.md,
// "Disk that matches the data (#14)").
type SpaceBytes struct {
	// Live and History are the store's estimates for the space's rows
	// (store.SpaceUsage): the view's cells, and the commits with their
	// indexes.
	Live, History int64
	// Blobs: the bytes held here of the blobs the space references (its
	// visible keys, and for a private space seeded blind its blob ops).
	// A blob that two spaces reference counts in full in each: the sum
	// over spaces can exceed what the blob store takes (Usage.Blobs).
	Blobs int64
}

// Usage is what the node's home takes on disk: the store, and the blob
// store.
type Usage struct {
	Store store.Usage
	Blobs int64 // bytes of the chunks held, whatever references them
}

// usageCache keeps, per space, the blobs it referenced at a state of its
// view and heads, so that asking again reads no row while nothing changed;
// and the blobs found complete (see heldBytes). Both are bounded by what
// the node holds.
type usageCache struct {
	mu       sync.Mutex
	spans    map[keys.SpaceID]usageRefs
	complete map[blob.BlobID]int64 // blobs found complete, and their sizes
}

type usageRefs struct {
	hash    [keys.Size]byte // view hash
	commits uint64          // sum of the heads' seqs
	ids     []blob.BlobID
}

// SpaceBytes returns what space id takes on this node's disk. The rows'
// figures are estimates read from the store's indexes (cheap); the blobs
// need the space's blob references, read from its visible keys once per
// state of the space and kept.
func (n *Node) SpaceBytes(ctx context.Context, id keys.SpaceID) (SpaceBytes, error) {
	if err := n.Closed(); err != nil {
		return SpaceBytes{}, err
	}
	u, err := n.st.SpaceUsage(ctx, id)
	if err != nil {
		return SpaceBytes{}, err
	}
	ids, err := n.spaceBlobs(ctx, id)
	if err != nil {
		return SpaceBytes{}, err
	}
	b := SpaceBytes{Live: u.Live, History: u.History}
	for _, bid := range ids {
		b.Blobs += n.heldBytes(bid)
	}
	return b, nil
}

// heldBytes returns the bytes of blob id's chunks held here. A blob found
// complete is remembered, so that asking again costs one stat (its
// manifest's, which goes when the blob is collected) rather than one per
// chunk; the dashboard asks every few seconds.
func (n *Node) heldBytes(id blob.BlobID) int64 {
	c := &n.usage
	c.mu.Lock()
	size, ok := c.complete[id]
	c.mu.Unlock()
	if ok {
		if n.blobs.HasManifest(id) {
			return size
		}
		c.mu.Lock()
		delete(c.complete, id)
		c.mu.Unlock()
		return 0
	}
	m, err := n.blobs.Manifest(id)
	if err != nil {
		return 0
	}
	missing := n.blobs.Missing(m)
	held := m.Size
	for _, i := range missing {
		held -= int64(m.ChunkLen(i))
	}
	if len(missing) == 0 {
		c.mu.Lock()
		if c.complete == nil {
			c.complete = map[blob.BlobID]int64{}
		}
		c.complete[id] = held
		c.mu.Unlock()
	}
	return held
}

// spaceBlobs returns the blobs space id references (see SpaceBytes.Blobs).
func (n *Node) spaceBlobs(ctx context.Context, id keys.SpaceID) ([]blob.BlobID, error) {
	v, err := n.st.View(ctx, id)
	if err != nil {
		return nil, err
	}
	hs, err := n.st.Heads(ctx, id)
	if err != nil {
		return nil, err
	}
	var commits uint64
	for _, h := range hs {
		commits += h.Seq
	}
	c := &n.usage
	c.mu.Lock()
	got, ok := c.spans[id]
	c.mu.Unlock()
	if ok && got.hash == v.Hash && got.commits == commits {
		return got.ids, nil
	}
	refs := map[blob.BlobID]blob.Ref{}
	if err := n.spaceBlobRefs(ctx, id, refs, map[blob.BlobID]bool{}); err != nil {
		return nil, err
	}
	ids := make([]blob.BlobID, 0, len(refs))
	for b := range refs {
		ids = append(ids, b)
	}
	c.mu.Lock()
	if c.spans == nil {
		c.spans = map[keys.SpaceID]usageRefs{}
	}
	c.spans[id] = usageRefs{hash: v.Hash, commits: commits, ids: ids}
	c.mu.Unlock()
	return ids, nil
}

// Usage returns what the node's home takes on disk.
func (n *Node) Usage(ctx context.Context) (Usage, error) {
	if err := n.Closed(); err != nil {
		return Usage{}, err
	}
	su, err := n.st.Usage(ctx)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Store: su}
	ids, err := n.blobs.Blobs()
	if err != nil {
		return Usage{}, err
	}
	for _, id := range ids {
		u.Blobs += n.heldBytes(id)
	}
	return u, nil
}

// Compact compacts the store's rows of space id (nil: all of them): see
// store.Compact.
func (n *Node) Compact(ctx context.Context, id *keys.SpaceID, progress func(store.CompactProgress)) error {
	if err := n.Closed(); err != nil {
		return err
	}
	return n.st.Compact(ctx, id, progress)
}
