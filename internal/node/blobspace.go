package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Blobs in spaces.
//
// A key holds a blob through a putblob op whose payload is a blob.Ref. The
// node keeps every blob that a visible key of a held space references (GC
// asks ReferencedBlobs), fetches those up to Options.FetchBlobs bytes as soon
// as it sees them (the eager fetcher below), and fetches larger ones when
// they are read (EnsureBlob).

const (
	// DefaultFetchBlobs is the default Options.FetchBlobs: blobs up to
	// 64 MiB (photos, documents, short recordings) are fetched eagerly, so
	// they can be read offline later; larger ones when read.
	DefaultFetchBlobs = 64 << 20
	// NoBlobLimit as Options.FetchBlobs fetches every referenced blob.
	NoBlobLimit = math.MaxInt64
)

// Retry pacing of the eager fetcher for a blob no peer could supply.
const (
	minBlobRetry = 2 * time.Second
	maxBlobRetry = time.Minute
)

// RefOf returns the blob reference that e holds, if e is a putblob whose
// payload decodes.
func RefOf(e view.Entry) (blob.Ref, bool) {
	if e.Kind != commit.KindPutBlob {
		return blob.Ref{}, false
	}
	r, err := blob.DecodeRef(e.Value)
	return r, err == nil
}

// PutBlob stores r as a blob and writes a reference to it under key in sp,
// in one commit. mediaType may be empty. The blob is kept while a key
// references it; a write that fails leaves it to GC.
//
// In a private space the blob is sealed under the space's current read key
// before it is stored (seal.Sealer), and the commit also carries a blob op
// naming the sealed bytes in the clear, so that seeders keep and serve them.
// If the key rotates (a reader was removed) while the blob is sealed, it is
// sealed again under the new epoch before it is committed: a blob written
// after a removal never opens with the removed reader's keys.
func (n *Node) PutBlob(ctx context.Context, sp *space.Space, key []byte, r io.Reader, mediaType string) (blob.Ref, *commit.Commit, error) {
	if err := (blob.Ref{Type: mediaType}).Validate(); err != nil {
		return blob.Ref{}, nil, err
	}
	// Refuse before storing what may be gigabytes for a write that would be.
	probe := []commit.Op{{Kind: commit.KindPutBlob, Key: key, Payload: blob.Ref{}.Encode()}}
	if sp.Private() {
		probe = append(probe, commit.Op{Kind: commit.KindBlob, Payload: blob.Ref{}.Encode()})
	}
	if err := sp.CheckWrite(ctx, probe); err != nil {
		return blob.Ref{}, nil, err
	}
	if !sp.Private() {
		id, m, release, err := n.addLeased(ctx, r)
		if err != nil {
			return blob.Ref{}, nil, err
		}
		defer n.releaseBlob(release) // once the key references it
		ref := blob.Ref{ID: id, Size: m.Size, Type: mediaType}
		c, err := sp.Commit(ctx, []commit.Op{{Kind: commit.KindPutBlob, Key: key, Payload: ref.Encode()}})
		if err != nil {
			return ref, nil, err
		}
		return ref, c, nil
	}
	sb, err := n.addSealed(ctx, sp, r, -1)
	if err != nil {
		return blob.Ref{}, nil, err
	}
	for tries := 1; ; tries++ {
		ref := blob.Ref{ID: sb.id, Size: sb.plain, Type: mediaType, Sealed: true, Epoch: sb.epoch}
		ops := []commit.Op{
			{Kind: commit.KindPutBlob, Key: key, Payload: ref.Encode()},
			{Kind: commit.KindBlob, Payload: blob.Ref{ID: sb.id, Size: sb.size}.Encode()},
		}
		c, err := sp.Commit(ctx, ops)
		if !errors.Is(err, space.ErrEpochChanged) || tries == 3 {
			n.releaseBlob(sb.release) // the key references it, or the write failed
			if err != nil {
				return ref, nil, err
			}
			return ref, c, nil
		}
		// Seal it again, from the sealed copy, under the new epoch.
		old := sb
		br, err := n.blobs.Open(old.id)
		if err == nil {
			var o *seal.Opened
			if o, err = seal.NewOpened([]seal.ReadKey{old.key}, sp.ID(), old.epoch, br, br.Size(), old.plain); err == nil {
				sb, err = n.addSealed(ctx, sp, o, old.plain)
			}
			br.Close()
		}
		n.releaseBlob(old.release)
		if err != nil {
			return blob.Ref{}, nil, fmt.Errorf("node: seal the blob again after the key rotated: %w", err)
		}
	}
}

// sealedBlob is a blob sealed and stored by addSealed, leased.
type sealedBlob struct {
	id      blob.BlobID
	size    int64 // sealed
	plain   int64
	epoch   uint64
	key     seal.ReadKey
	release func()
}

// addSealed seals what r reads under sp's current read key and stores it,
// leased. want, if not negative, is the plaintext size r must yield.
func (n *Node) addSealed(ctx context.Context, sp *space.Space, r io.Reader, want int64) (sealedBlob, error) {
	ek, err := sp.EpochKey()
	if err != nil {
		return sealedBlob{}, err
	}
	sealer := seal.NewSealer(seal.ReadKey(ek.Key), sp.ID(), ek.Epoch, r)
	id, m, release, err := n.addLeased(ctx, sealer)
	if err != nil {
		return sealedBlob{}, err
	}
	if want >= 0 && sealer.N != want {
		n.releaseBlob(release)
		return sealedBlob{}, fmt.Errorf("node: sealed %d bytes, want %d", sealer.N, want)
	}
	return sealedBlob{id: id, size: m.Size, plain: sealer.N, epoch: ek.Epoch, key: seal.ReadKey(ek.Key), release: release}, nil
}

// BlobReader reads the bytes a blob reference names: the blob itself, or
// the plaintext of a sealed blob.
type BlobReader interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// OpenRef returns a reader of what r, a reference held in space sp, names,
// first fetching what is missing from peers (as EnsureBlob). A sealed blob
// is opened with this node's read keys of its epoch.
func (n *Node) OpenRef(ctx context.Context, sp keys.SpaceID, r blob.Ref) (BlobReader, error) {
	var ks []seal.ReadKey
	if r.Sealed {
		for _, k := range n.rk.All(sp) {
			if k.Epoch == r.Epoch {
				ks = append(ks, seal.ReadKey(k.Key))
			}
		}
		if len(ks) == 0 {
			return nil, fmt.Errorf("%w: the blob is sealed under epoch %d of space %s, whose key this device does not hold", ErrNoReadKey, r.Epoch, sp)
		}
	}
	size := storedSize(r)
	if m, err := n.blobs.Manifest(r.ID); err == nil && m.Size != size {
		return nil, fmt.Errorf("node: blob %s: %w: it has %d bytes, the reference says %d", r.ID, blob.ErrSizeMismatch, m.Size, size)
	}
	if _, err := n.EnsureBlob(ctx, r.ID, blob.FetchOptions{Size: size}); err != nil {
		return nil, err
	}
	br, err := n.blobs.Open(r.ID)
	if err != nil {
		return nil, err
	}
	if !r.Sealed {
		if br.Size() != r.Size {
			br.Close()
			return nil, fmt.Errorf("node: blob %s: %w: it has %d bytes, the reference says %d", r.ID, blob.ErrSizeMismatch, br.Size(), r.Size)
		}
		return br, nil
	}
	o, err := seal.NewOpened(ks, sp, r.Epoch, br, br.Size(), r.Size)
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("node: blob %s: %w", r.ID, err)
	}
	return openedBlob{o, br}, nil
}

// openedBlob is the plaintext of a sealed blob, closing the blob's reader.
type openedBlob struct {
	*seal.Opened
	br *blob.Reader
}

func (o openedBlob) Close() error { return o.br.Close() }

// releaseBlob releases a lease on a blob. GC decides with gcMu held, from
// the references it read at its start: a lease held until a reference is
// durable, and released under gcMu, thus leaves no moment where GC sees
// neither the lease nor the reference.
func (n *Node) releaseBlob(release func()) {
	n.gcMu.Lock()
	release()
	n.gcMu.Unlock()
}

// ReferencedBlobs returns the blobs that held spaces reference: through
// visible keys, and, in a private space this node cannot read (it seeds
// it), through the blob ops of its commits that count. It reads every
// visible key, and every commit of such a space.
func (n *Node) ReferencedBlobs(ctx context.Context) (map[blob.BlobID]blob.Ref, error) {
	refs, _, err := n.referencedBlobs(ctx)
	return refs, err
}

// referencedBlobs is ReferencedBlobs; seeded marks the blobs referenced
// only through blob ops, which a seeder fetches whatever their size.
func (n *Node) referencedBlobs(ctx context.Context) (refs map[blob.BlobID]blob.Ref, seeded map[blob.BlobID]bool, err error) {
	infos, err := n.st.Spaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	refs, seeded = map[blob.BlobID]blob.Ref{}, map[blob.BlobID]bool{}
	for _, in := range infos {
		if err := n.spaceBlobRefs(ctx, in.ID, refs, seeded); err != nil {
			return nil, nil, err
		}
	}
	return refs, seeded, nil
}

// spaceBlobRefs adds to refs the blobs space id references: through its
// visible keys, and, when this node seeds it blind, through the blob ops
// of its commits that count (marked in seeded when no reference was in
// refs yet).
func (n *Node) spaceBlobRefs(ctx context.Context, id keys.SpaceID, refs map[blob.BlobID]blob.Ref, seeded map[blob.BlobID]bool) error {
	for kv, err := range n.st.Range(ctx, id, store.Query{}) {
		if err != nil {
			return err
		}
		if r, ok := RefOf(kv.Entry); ok {
			refs[r.ID] = r
		}
	}
	blind, err := n.seedsBlind(ctx, id)
	if err != nil || !blind {
		return err
	}
	voided, err := n.st.Voided(ctx, id)
	if err != nil {
		return err
	}
	for sc, err := range n.st.AllCommits(ctx, id) {
		if err != nil {
			return err
		}
		if _, ok := voided[acl.Loc{Author: sc.Author, Seq: sc.Seq}]; ok || sc.Withheld {
			continue
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return fmt.Errorf("node: blob references of %s: %w", id, err)
		}
		live, err := n.liveBlobOps(ctx, id, c)
		if err != nil {
			return err
		}
		for _, r := range live {
			if _, ok := refs[r.ID]; !ok {
				refs[r.ID], seeded[r.ID] = r, true
			}
		}
	}
	return nil
}

// seedsBlind reports whether space id is private and this node holds none
// of its read keys: it keeps and serves the space without reading it.
func (n *Node) seedsBlind(ctx context.Context, id keys.SpaceID) (bool, error) {
	if _, ok := n.rk.Current(id); ok {
		return false, nil
	}
	return n.isPrivate(ctx, id)
}

// blobOps returns the sealed blobs c's blob ops name (commit.KindBlob);
// undecodable ones are skipped: they name nothing anyone can fetch.
func blobOps(c *commit.Commit) []blob.Ref {
	var out []blob.Ref
	for _, o := range c.Ops {
		if o.Kind != commit.KindBlob || o.Erased {
			continue
		}
		// It names sealed bytes: no epoch, no media type (format §3).
		if r, err := blob.DecodeRef(o.Payload); err == nil && !r.Sealed && r.Type == "" {
			out = append(out, r)
		}
	}
	return out
}

// GCBlobs deletes the blobs that no visible key references, that are not
// pinned and that no download, write or reader uses, and returns the bytes
// freed.
func (n *Node) GCBlobs(ctx context.Context) (int64, error) {
	return n.gcBlobs(ctx, nil)
}

// gcBlobs deletes the blobs GCBlobs deletes, calling first (if not nil)
// with the blobs referenced, under gcMu.
func (n *Node) gcBlobs(ctx context.Context, first func(refs map[blob.BlobID]blob.Ref)) (int64, error) {
	n.gcMu.Lock()
	defer n.gcMu.Unlock()
	refs, err := n.ReferencedBlobs(ctx)
	if err != nil {
		return 0, err
	}
	if first != nil {
		first(refs)
	}
	return n.blobs.GC(ctx, func(id blob.BlobID) bool { _, ok := refs[id]; return ok })
}

// BlobComplete reports whether every chunk of blob id is held.
func (n *Node) BlobComplete(id blob.BlobID) bool {
	m, err := n.blobs.Manifest(id)
	return err == nil && len(n.blobs.Missing(m)) == 0
}

// EnsureBlob makes sure blob id is held whole, fetching what is missing
// from the connected peers (without pinning: a key references it). It is
// how a blob too large to be fetched eagerly is fetched when read.
func (n *Node) EnsureBlob(ctx context.Context, id blob.BlobID, opts blob.FetchOptions) (blob.Stats, error) {
	if n.BlobComplete(id) {
		return blob.Stats{}, nil
	}
	if n.host == nil {
		return blob.Stats{}, fmt.Errorf("%w: blob %s is not all here (start 'loam daemon' to fetch it from peers)", ErrOffline, id)
	}
	return n.fetchBlob(ctx, id, nil, opts, false)
}

// countBlobFetch tracks downloads in progress.
func (n *Node) countBlobFetch(d int) {
	n.mu.Lock()
	n.counters.BlobFetches += d
	if d > 0 {
		n.counters.BlobsStarted += uint64(d)
	}
	n.mu.Unlock()
}

// wantedSet is the eager fetcher's queue: blobs to fetch, each with the
// earliest time of its next attempt.
type wantedSet struct {
	mu   sync.Mutex
	ids  map[blob.BlobID]*wanted
	kick chan struct{} // a blob was added
}

type wanted struct {
	size  int64         // the size the blob must have
	next  time.Time     // no attempt before
	delay time.Duration // the last retry delay
	tries int           // failed attempts
}

// maxBlobTries is how many times the eager fetcher tries a blob before it
// gives up on it until the node starts again: a writer may name blobs that
// nobody holds.
const maxBlobTries = 30

func newWantedSet() wantedSet {
	return wantedSet{ids: map[blob.BlobID]*wanted{}, kick: make(chan struct{}, 1)}
}

// add queues id, of size bytes, if it is not queued yet; it never blocks.
func (w *wantedSet) add(id blob.BlobID, size int64) {
	w.mu.Lock()
	_, ok := w.ids[id]
	if !ok {
		w.ids[id] = &wanted{size: size}
	}
	w.mu.Unlock()
	if !ok {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// due returns the queued blobs whose next attempt is due, and when the
// next one after those is.
func (w *wantedSet) due(now time.Time) (ids []blob.BlobID, next time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, x := range w.ids {
		if !x.next.After(now) {
			ids = append(ids, id)
		} else if next.IsZero() || x.next.Before(next) {
			next = x.next
		}
	}
	slices.SortFunc(ids, func(a, b blob.BlobID) int { return slices.Compare(a[:], b[:]) })
	return ids, next
}

// done removes id; failed backs it off.
func (w *wantedSet) done(id blob.BlobID) {
	w.mu.Lock()
	delete(w.ids, id)
	w.mu.Unlock()
}

func (w *wantedSet) failed(id blob.BlobID, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x := w.ids[id]; x != nil {
		if x.tries++; x.tries == maxBlobTries {
			delete(w.ids, id)
			return
		}
		x.delay = min(max(2*x.delay, minBlobRetry), maxBlobRetry)
		x.next = now.Add(x.delay)
	}
}

// BlobsQueued returns how many referenced blobs wait to be fetched eagerly.
func (n *Node) BlobsQueued() int { return n.wanted.Len() }

// size returns the size queued blob id must have (0 if not queued).
func (w *wantedSet) size(id blob.BlobID) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x := w.ids[id]; x != nil {
		return x.size
	}
	return 0
}

// storedSize returns the size of the bytes r names: the sealed size of a
// sealed blob's plaintext.
func storedSize(r blob.Ref) int64 {
	if r.Sealed {
		return seal.SealedSize(r.Size)
	}
	return r.Size
}

// Len returns how many blobs are queued.
func (w *wantedSet) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ids)
}

// wantBlobs queues the blobs that an event's changes newly reference, if
// they are small enough to fetch eagerly, and, in a private space this node
// holds no read key for (it seeds it), every blob its new commits name in
// blob ops: a seeder keeps what members may want, whatever its size. It
// runs on the store's applier goroutine and never blocks.
func (n *Node) wantBlobs(ev store.Event) {
	if n.host == nil {
		return
	}
	for _, c := range ev.Changes {
		if r, ok := RefOf(c.Entry); ok && r.Size <= n.fetchBlobs {
			n.wanted.add(r.ID, storedSize(r))
		}
	}
	if _, reads := n.rk.Current(ev.Space); reads || n.fetchBlobs < 0 || !n.rk.KnownPrivate(ev.Space) {
		return
	}
	for _, c := range ev.Stored {
		if slices.Contains(ev.Voided, c.ID) {
			continue // it does not count
		}
		for _, r := range blobOps(c) {
			n.wanted.add(r.ID, r.Size)
		}
	}
}

// startBlobFetcher starts the goroutine that fetches wanted blobs, one at a
// time, from the connected peers: first every blob the held spaces
// reference that is small enough and not all here, then each one that a
// change references. A blob no peer can supply yet is retried with backoff.
func (n *Node) startBlobFetcher() {
	n.wg.Go(func() {
		if n.fetchBlobs >= 0 {
			if refs, seeded, err := n.referencedBlobs(n.ctx); err == nil {
				for id, r := range refs {
					if r.Size <= n.fetchBlobs || seeded[id] {
						n.wanted.add(id, storedSize(r))
					}
				}
			}
		}
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			ids, next := n.wanted.due(time.Now())
			for _, id := range ids {
				if n.ctx.Err() != nil {
					return
				}
				if n.BlobComplete(id) {
					n.wanted.done(id)
					continue
				}
				_, err := n.fetchBlob(n.ctx, id, nil, blob.FetchOptions{Size: n.wanted.size(id)}, false)
				switch {
				case err == nil:
					n.wanted.done(id)
				case errors.Is(err, context.Canceled):
					return
				default:
					n.wanted.failed(id, time.Now())
				}
			}
			if len(ids) > 0 {
				continue // attempts may have made others due
			}
			wait := time.Hour
			if !next.IsZero() {
				wait = time.Until(next)
			}
			timer.Reset(wait)
			select {
			case <-n.ctx.Done():
				return
			case <-n.wanted.kick:
			case <-timer.C:
			}
		}
	})
}

// BlobInfo describes a blob held, wholly or in part.
type BlobInfo struct {
	ID     blob.BlobID
	Size   int64
	Chunks int  // chunks of the whole blob
	Held   int  // chunks held here
	Pinned bool // kept whatever keys reference it
}

// BlobInfos lists the blobs held, wholly or in part, by ID.
func (n *Node) BlobInfos(ctx context.Context) ([]BlobInfo, error) {
	if err := n.Closed(); err != nil {
		return nil, err
	}
	ids, err := n.blobs.Blobs()
	if err != nil {
		return nil, err
	}
	out := make([]BlobInfo, 0, len(ids))
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := n.blobs.Manifest(id)
		if err != nil {
			continue // removed meanwhile, or damaged and removed
		}
		out = append(out, BlobInfo{
			ID: id, Size: m.Size, Chunks: len(m.Chunks),
			Held: len(m.Chunks) - len(n.blobs.Missing(m)), Pinned: n.blobs.IsPinned(id),
		})
	}
	return out, nil
}

// SetPin pins blob id (kept whatever keys reference it) or unpins it. Only
// a blob whose manifest is held can be pinned.
func (n *Node) SetPin(id blob.BlobID, on bool) error {
	if !on {
		return n.blobs.Unpin(id)
	}
	if !n.blobs.HasManifest(id) {
		return fmt.Errorf("%w: blob %s is not held here (fetch it with 'loam blob get')", store.ErrNotFound, id)
	}
	return n.blobs.Pin(id)
}
