package loam

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Limits on what one write may carry.
const (
	MaxKeySize   = commit.MaxKeySize
	MaxValueSize = commit.MaxValueSize
	MaxBatchOps  = commit.MaxOps
)

// Space is a shared key-value database held by the node.
type Space struct {
	n  *Node
	sp *space.Space
}

// ID returns the space ID ("spc_…").
func (s *Space) ID() string { return s.sp.ID().String() }

// Name returns the local name.
func (s *Space) Name() string { return s.sp.Info().Name }

// KV is a visible key with its value and who wrote it when. When the key
// holds a blob, Blob says which and Value is nil: read it with
// Space.OpenBlob.
type KV struct {
	Key    []byte
	Value  []byte
	Blob   *BlobRef
	Author string
	Time   time.Time
}

func toKV(key []byte, e view.Entry) KV {
	kv := KV{Key: key, Value: e.Value, Author: e.Author.String(), Time: e.Time.Time()}
	if e.Kind == commit.KindPutBlob {
		kv.Value = nil
		if r, ok := node.RefOf(e); ok {
			kv.Blob = refOf(r)
		} else {
			kv.Blob = &BlobRef{} // a reference that does not decode: no blob to read
		}
	}
	return kv
}

// Put writes value under key as one commit, durable on return.
func (s *Space) Put(ctx context.Context, key, value []byte) error {
	b := s.Batch()
	b.Put(key, value)
	return b.Commit(ctx)
}

// Delete deletes key as one commit, durable on return. Deleting a key that
// does not exist still writes a tombstone.
func (s *Space) Delete(ctx context.Context, key []byte) error {
	b := s.Batch()
	b.Delete(key)
	return b.Commit(ctx)
}

// Get returns key's value, or an error wrapping ErrNotFound. For a key
// that holds a blob it fails with ErrIsBlob: use OpenBlob.
func (s *Space) Get(ctx context.Context, key []byte) ([]byte, error) {
	e, err := s.sp.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if e.Kind == commit.KindPutBlob {
		return nil, fmt.Errorf("%w: %q (read it with OpenBlob)", ErrIsBlob, clip(key))
	}
	return e.Value, nil
}

// Lookup returns key's value with its author and time.
func (s *Space) Lookup(ctx context.Context, key []byte) (KV, error) {
	e, err := s.sp.Get(ctx, key)
	if err != nil {
		return KV{}, err
	}
	return toKV(key, e), nil
}

// Batch collects writes committed together: atomically, in one signed
// commit. A Batch is not safe for concurrent use.
type Batch struct {
	s   *Space
	ops []commit.Op
	err error
}

// Batch starts a batch of writes.
func (s *Space) Batch() *Batch { return &Batch{s: s} }

// Put adds a put to the batch. Invalid input is reported by Commit.
func (b *Batch) Put(key, value []byte) {
	b.add(commit.Put(key, value))
}

// PutBlobRef adds a write of a reference to an existing blob under key (a
// blob added with Node.AddBlob, or one that peers hold). Invalid input is
// reported by Commit.
func (b *Batch) PutBlobRef(key []byte, ref BlobRef) {
	id, err := blob.ParseBlobID(ref.ID)
	r := blob.Ref{ID: id, Size: ref.Size, Type: ref.Type}
	if err == nil {
		err = r.Validate()
	}
	if err == nil && ref.Sealed {
		err = errSealedRef
	}
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("loam: write %d (key %q): %w", len(b.ops)+1, clip(key), err)
	}
	b.add(commit.Op{Kind: commit.KindPutBlob, Key: key, Payload: r.Encode()})
}

// errSealedRef refuses to write a reference to a sealed blob: it opens only
// in its own private space, where it is written with its bytes.
var errSealedRef = errors.New("the blob is sealed to a private space (read it there with OpenBlob and write its bytes with PutBlob)")

// Delete adds a delete to the batch.
func (b *Batch) Delete(key []byte) { b.add(commit.Del(key)) }

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

func (b *Batch) add(o commit.Op) {
	if b.err != nil {
		return
	}
	switch {
	case len(o.Key) == 0:
		b.err = fmt.Errorf("loam: write %d: empty key", len(b.ops)+1)
	case len(o.Key) > MaxKeySize:
		b.err = fmt.Errorf("loam: write %d: key is %d bytes, the limit is %d", len(b.ops)+1, len(o.Key), MaxKeySize)
	case len(o.Payload) > MaxValueSize:
		b.err = fmt.Errorf("loam: write %d (key %q): value is %d bytes, the inline limit is %d (store large values with PutBlob)", len(b.ops)+1, clip(o.Key), len(o.Payload), MaxValueSize)
	case len(b.ops) == MaxBatchOps:
		b.err = fmt.Errorf("loam: batch has more than %d writes; commit it and start another", MaxBatchOps)
	}
	b.ops = append(b.ops, o)
}

func clip(k []byte) string {
	if len(k) > 40 {
		return string(k[:40]) + "…"
	}
	return string(k)
}

// Commit writes the batch as one signed commit, durable on return. An empty
// batch commits nothing. On error nothing of the batch was written.
func (b *Batch) Commit(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if len(b.ops) == 0 {
		return nil
	}
	_, err := b.s.sp.Commit(ctx, b.ops)
	return err
}

// RangeOption narrows a Range or Watch.
type RangeOption func(*store.Query)

// Prefix selects the keys starting with p.
func Prefix(p string) RangeOption { return func(q *store.Query) { q.Prefix = []byte(p) } }

// Start selects keys ≥ k.
func Start(k string) RangeOption { return func(q *store.Query) { q.Start = []byte(k) } }

// End selects keys < k.
func End(k string) RangeOption { return func(q *store.Query) { q.End = []byte(k) } }

// Limit stops after n keys.
func Limit(n int) RangeOption { return func(q *store.Query) { q.Limit = n } }

// Reverse iterates from the last key to the first.
func Reverse() RangeOption { return func(q *store.Query) { q.Reverse = true } }

func query(opts []RangeOption) store.Query {
	var q store.Query
	for _, o := range opts {
		o(&q)
	}
	return q
}

// Range yields the visible keys selected by opts, in key order.
func (s *Space) Range(ctx context.Context, opts ...RangeOption) iter.Seq2[KV, error] {
	q := query(opts)
	return func(yield func(KV, error) bool) {
		for kv, err := range s.sp.Range(ctx, q) {
			if err != nil {
				yield(KV{}, err)
				return
			}
			if !yield(toKV(kv.Key, kv.Entry), nil) {
				return
			}
		}
	}
}

// Change is one change of a key's visible value, or a resync.
type Change struct {
	Key     []byte
	Value   []byte // nil when Deleted
	Deleted bool
	Author  string
	Time    time.Time
	// Resync says that changes were dropped because the reader fell
	// behind (the node bounds what it queues for each watch): read the
	// keys again (Range), then go on with the changes that follow, which
	// are every change applied after the drop. Its other fields are zero.
	Resync bool
}

// Watch returns the changes to keys under Prefix (other options are
// ignored) from now on, in the order they were applied, whoever wrote
// them. A reader that falls behind gets a Change with Resync set instead
// of the changes it missed (see Change.Resync). The channel is closed when
// ctx ends or the node closes.
func (s *Space) Watch(ctx context.Context, opts ...RangeOption) <-chan Change {
	q := query(opts)
	in := s.n.n.Hub().Watch(ctx, s.sp.ID(), q.Prefix)
	out := make(chan Change)
	go func() {
		defer close(out)
		for ev := range in {
			var ch Change
			if ev.Resync {
				ch.Resync = true
			} else {
				c := ev.Change
				ch = Change{Key: c.Key, Deleted: c.Entry.Tombstone()}
				if !c.Entry.Author.IsZero() {
					ch.Author, ch.Time = c.Entry.Author.String(), c.Entry.Time.Time()
				}
				if !ch.Deleted {
					ch.Value = c.Entry.Value
				}
			}
			select {
			case out <- ch:
			case <-ctx.Done():
				for range in { // let the hub's goroutine finish
				}
				return
			}
		}
	}()
	return out
}

// Conflicts returns the concurrent writes to key that lost to the visible
// one: values written by members who had not seen each other's write.
func (s *Space) Conflicts(ctx context.Context, key []byte) ([]KV, error) {
	es, err := s.sp.Conflicts(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make([]KV, 0, len(es))
	for _, e := range es {
		kv := toKV(key, e)
		if e.Tombstone() {
			kv.Value = nil
		}
		out = append(out, kv)
	}
	return out, nil
}

// State summarizes the space's view.
type State struct {
	Hash string // view hash, equal on replicas with equal visible state
	Keys int64  // visible keys
}

// State returns the view hash and key count.
func (s *Space) State(ctx context.Context) (State, error) {
	v, err := s.sp.View(ctx)
	if err != nil {
		return State{}, err
	}
	return State{Hash: v.Hash.String(), Keys: v.Visible}, nil
}

// VerifyReport summarizes a verified history.
type VerifyReport = space.Report

// Verify re-checks every stored commit: signature, hash chain, seq, time
// order and the author's grant. The error names the first bad commit and
// wraps ErrInvalidLog.
func (s *Space) Verify(ctx context.Context) (VerifyReport, error) {
	r, err := space.VerifyLog(ctx, s.n.n.Store(), s.sp.ID())
	if err != nil && !errors.Is(err, ErrInvalidLog) {
		return r, fmt.Errorf("loam: verify: %w", err)
	}
	return r, err
}

// Head is one author's latest commit in a space.
type Head struct {
	Author string
	Seq    uint64
	Commit string
	Time   time.Time
}

// Heads returns every author's latest commit: the space's version vector.
func (s *Space) Heads(ctx context.Context) ([]Head, error) {
	hs, err := s.n.n.Store().Heads(ctx, s.sp.ID())
	if err != nil {
		return nil, err
	}
	out := make([]Head, len(hs))
	for i, h := range hs {
		out[i] = Head{Author: h.Author.String(), Seq: h.Seq, Commit: h.ID.String(), Time: h.Time.Time()}
	}
	return out, nil
}

// Role returns this device's role in the space ("" if none).
func (s *Space) Role(ctx context.Context) (Role, error) {
	r, err := s.n.n.Store().Role(ctx, s.sp.ID(), s.sp.Author())
	if err != nil || r == 0 {
		return "", err
	}
	return Role(r.String()), nil
}
