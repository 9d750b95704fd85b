package node

import (
	"context"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Erased payloads free the disk (#14): when the store applies an erase,
// the blobs the erased ops referenced (a putblob's, or those a private
// space's blob ops name) are let go: no longer wanted by the eager
// fetcher, unpinned, and collected by a blob GC shortly after, which keeps
// any that another key or space still references.

// maxLetGo bounds the blobs waiting to be unpinned; past it the rest are
// collected as unreferenced blobs only (the GC still runs).
const maxLetGo = 1 << 16

// eraseGCDelay gathers the erases of a burst into one blob GC.
const eraseGCDelay = 200 * time.Millisecond

// letGoSet is the blobs erased and not yet unpinned, and the kick of the
// goroutine that collects them.
type letGoSet struct {
	mu        sync.Mutex
	ids       map[blob.BlobID]struct{}
	spaces    map[keys.SpaceID]struct{}  // spaces with erased payloads, to compact
	compacted map[keys.SpaceID]time.Time // when each was last compacted after erases
	kick      chan struct{}
}

func newLetGoSet() letGoSet {
	return letGoSet{ids: map[blob.BlobID]struct{}{}, spaces: map[keys.SpaceID]struct{}{}, compacted: map[keys.SpaceID]time.Time{}, kick: make(chan struct{}, 1)}
}

// eraseCompactEvery spaces out the compactions of a space after erases:
// a compaction rewrites the whole space's tables, so a space erased often
// is compacted at most this often (Pebble compacts by itself meanwhile).
const eraseCompactEvery = 10 * time.Minute

// letGo takes an event's erased blobs, on the store's applier goroutine:
// it never blocks.
func (n *Node) letGo(ev store.Event) {
	kick := false
	if len(ev.Erased) > 0 {
		n.erased.mu.Lock()
		n.erased.spaces[ev.Space] = struct{}{}
		n.erased.mu.Unlock()
		kick = true
	}
	for _, e := range ev.Erased {
		if e.Blob == nil {
			continue
		}
		r, err := blob.DecodeRef(e.Blob)
		if err != nil {
			continue
		}
		n.wanted.done(r.ID)
		n.erased.mu.Lock()
		if len(n.erased.ids) < maxLetGo {
			n.erased.ids[r.ID] = struct{}{}
		}
		n.erased.mu.Unlock()
		kick = true
	}
	if kick {
		select {
		case n.erased.kick <- struct{}{}:
		default:
		}
	}
}

// startEraseCollector starts the goroutine that unpins erased blobs and
// runs a blob GC after each burst of erases.
func (n *Node) startEraseCollector() {
	n.wg.Go(func() {
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-n.erased.kick:
			}
			t := time.NewTimer(eraseGCDelay)
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if _, err := n.CollectErased(n.ctx); err != nil && n.ctx.Err() == nil {
				n.log.Warn("erase: blob gc", "err", err)
			}
			n.compactErased(n.ctx)
		}
	})
}

// CollectErased unpins the blobs erases let go of and runs a blob GC,
// which keeps those another key or space still references; it returns
// the bytes freed. The node does it by itself shortly after each erase it
// applies; a process about to exit calls it to free the disk at once.
func (n *Node) CollectErased(ctx context.Context) (int64, error) {
	n.erased.mu.Lock()
	ids := n.erased.ids
	n.erased.ids = map[blob.BlobID]struct{}{}
	n.erased.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil // no blob let go: nothing for a GC, which reads every key
	}
	for id := range ids {
		if err := n.blobs.Unpin(id); err != nil {
			n.log.Warn("erase: unpin blob", "blob", id.String(), "err", err)
		}
	}
	freed, err := n.GCBlobs(ctx)
	if err != nil {
		return 0, err
	}
	n.log.Info("erase: blobs collected", "let_go", len(ids), "freed_bytes", freed)
	return freed, nil
}

// compactErased compacts the spaces whose payloads erases or retention
// dropped, each at most every eraseCompactEvery (a later pass takes the
// rest), so the store's bytes follow: Pebble frees a rewritten row's old
// bytes only when it compacts its range.
func (n *Node) compactErased(ctx context.Context) {
	n.erased.mu.Lock()
	var due []keys.SpaceID
	for sp := range n.erased.spaces {
		if time.Since(n.erased.compacted[sp]) >= eraseCompactEvery {
			due = append(due, sp)
			delete(n.erased.spaces, sp)
			n.erased.compacted[sp] = time.Now()
		}
	}
	n.erased.mu.Unlock()
	for _, sp := range due {
		if err := n.st.CompactSpace(ctx, sp); err != nil {
			if ctx.Err() == nil {
				n.log.Warn("erase: compact", "space", sp.String(), "err", err)
			}
			continue
		}
		n.log.Info("erase: compacted the space's rows", "space", sp.String())
	}
}

// liveBlobOps returns the sealed blobs c's blob ops name that no erase
// let go of.
func (n *Node) liveBlobOps(ctx context.Context, sp keys.SpaceID, c *commit.Commit) ([]blob.Ref, error) {
	var out []blob.Ref
	for i, o := range c.Ops {
		if o.Kind != commit.KindBlob || o.Erased {
			continue
		}
		r, err := blob.DecodeRef(o.Payload)
		if err != nil || r.Sealed || r.Type != "" {
			continue // it names nothing anyone can fetch
		}
		if _, erased, err := n.st.Erasure(ctx, sp, c.Author, c.Seq, uint32(i)); err != nil {
			return nil, err
		} else if erased {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// retentionEvery is how often the node applies the retention policies of
// the spaces it holds (and at start, and when a policy arrives).
const retentionEvery = 10 * time.Minute

// retentionBatch bounds the writes one DropSuperseded erases, so the
// applier never stops for long.
const retentionBatch = 4096

// kickRetention asks the retention goroutine for a pass; it never blocks.
func (n *Node) kickRetention(ev store.Event) {
	for _, c := range ev.Stored {
		for _, o := range c.Ops {
			if o.Kind == commit.KindRetention {
				select {
				case n.retainKick <- struct{}{}:
				default:
				}
				return
			}
		}
	}
}

// startRetention starts the goroutine that applies retention policies.
func (n *Node) startRetention() {
	n.wg.Go(func() {
		t := time.NewTicker(retentionEvery)
		defer t.Stop()
		for {
			if _, err := n.ApplyRetention(n.ctx); err != nil && n.ctx.Err() == nil {
				n.log.Warn("retention", "err", err)
			}
			n.compactErased(n.ctx) // what an earlier pass left for later
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
			case <-n.retainKick:
			}
		}
	})
}

// ApplyRetention drops, here, the values of superseded and deleted writes
// that the held spaces' retention policies no longer keep, and returns
// how many it dropped.
func (n *Node) ApplyRetention(ctx context.Context) (int, error) {
	infos, err := n.st.Spaces(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, in := range infos {
		r, err := n.st.Retention(ctx, in.ID)
		if err != nil {
			return total, err
		}
		if r.Mode == commit.KeepHistory {
			continue
		}
		before := time.Now()
		if r.Mode == commit.RetainFor {
			before = before.Add(-r.After)
		}
		for {
			res, err := n.st.DropSuperseded(ctx, in.ID, before, retentionBatch)
			if err != nil {
				return total, err
			}
			total += len(res.Erased)
			if len(res.Erased) < retentionBatch {
				break
			}
		}
	}
	return total, nil
}
