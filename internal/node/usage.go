package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
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
// view and heads, so that asking again reads no row while nothing changed.
type usageCache struct {
	mu    sync.Mutex
	spans map[keys.SpaceID]usageRefs
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

// heldBytes returns the bytes of blob id's chunks held here.
func (n *Node) heldBytes(id blob.BlobID) int64 {
	m, err := n.blobs.Manifest(id)
	if err != nil {
		return 0
	}
	held := m.Size
	for _, i := range n.blobs.Missing(m) {
		held -= int64(m.ChunkLen(i))
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
	seen := map[blob.BlobID]bool{}
	var ids []blob.BlobID
	add := func(b blob.BlobID) {
		if !seen[b] {
			seen[b] = true
			ids = append(ids, b)
		}
	}
	for kv, err := range n.st.Range(ctx, id, store.Query{}) {
		if err != nil {
			return nil, err
		}
		if r, ok := RefOf(kv.Entry); ok {
			add(r.ID)
		}
	}
	blind, err := n.seedsBlind(ctx, id)
	if err != nil {
		return nil, err
	}
	if blind {
		voided, err := n.st.Voided(ctx, id)
		if err != nil {
			return nil, err
		}
		for sc, err := range n.st.AllCommits(ctx, id) {
			if err != nil {
				return nil, err
			}
			if _, ok := voided[acl.Loc{Author: sc.Author, Seq: sc.Seq}]; ok || sc.Withheld {
				continue
			}
			cm, err := commit.Decode(sc.Bytes)
			if err != nil {
				return nil, fmt.Errorf("node: blob references of %s: %w", id, err)
			}
			for _, r := range blobOps(cm) {
				add(r.ID)
			}
		}
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
