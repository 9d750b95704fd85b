package loam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/space"
)

// Limits on what one write may carry.
const (
	MaxKeySize   = commit.MaxKeySize
	MaxValueSize = commit.MaxValueSize
	MaxBatchOps  = commit.MaxOps
)

// Space is a shared key-value database held by the node.
type Space struct {
	n    *Node
	impl spaceImpl
}

// spaceImpl is what a Space does, in this process (localSpace) or through
// a daemon's API (remoteSpace).
type spaceImpl interface {
	info() SpaceInfo
	lookup(ctx context.Context, key []byte) (KV, error)
	commit(ctx context.Context, ops []commit.Op) error
	scan(ctx context.Context, q rangeQuery) iter.Seq2[KV, error]
	watch(ctx context.Context, q watchQuery) (<-chan Change, error)
	conflicts(ctx context.Context, key []byte) ([]KV, error)
	state(ctx context.Context) (State, error)
	verify(ctx context.Context) (VerifyReport, error)
	heads(ctx context.Context) ([]Head, error)
	role(ctx context.Context) (Role, error)
	putBlob(ctx context.Context, key []byte, r io.Reader, mediaType string) (BlobRef, error)
	openBlob(ctx context.Context, key []byte) (blobReader, error)
	invite(ctx context.Context, role Role, expires time.Duration, uses uint32) (string, error)
	members(ctx context.Context) ([]Member, error)
	revoke(ctx context.Context, target string) (Revoked, error)
	grant(ctx context.Context, subject string, role Role) error // identity.go
	erase(ctx context.Context, key []byte, o space.EraseOptions) (int, error)
	setRetention(ctx context.Context, r commit.Retention) error // retention.go
	retention(ctx context.Context) (commit.Retention, error)
	checkpoint(ctx context.Context) (Checkpoint, error)                        // checkpoint.go
	history(ctx context.Context, fetch bool) (History, error)                  // checkpoint.go
	declareRules(ctx context.Context, sc commit.Schema) (commit.Schema, error) // rules.go
	rules(ctx context.Context) ([]commit.Schema, error)
	ledgerSpace // energy.go
	waitSynced(ctx context.Context) error
}

// ID returns the space ID ("spc_…").
func (s *Space) ID() string { return s.impl.info().ID }

// Name returns the local name.
func (s *Space) Name() string { return s.impl.info().Name }

// Info describes the space.
func (s *Space) Info() SpaceInfo { return s.impl.info() }

// KV is a visible key with its value and who wrote it when. When the key
// holds a blob, Blob says which and Value is nil: read it with
// Space.OpenBlob.
type KV struct {
	Key    []byte
	Value  []byte
	Blob   *BlobRef
	Author string
	Time   time.Time
	// Erased: the value was erased (Value and Blob are nil); Range and
	// Watch yield erased keys, Get and Lookup fail with ErrErased.
	Erased bool
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
	kv, err := s.impl.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	if kv.Blob != nil {
		return nil, fmt.Errorf("%w: %q (read it with OpenBlob)", ErrIsBlob, clip(key))
	}
	return kv.Value, nil
}

// Lookup returns key's value with its author and time.
func (s *Space) Lookup(ctx context.Context, key []byte) (KV, error) { return s.impl.lookup(ctx, key) }

// Erase erases the values of every write held to key: each replica that
// receives the erase drops them (and the blobs they reference) from its
// disk, while the history still verifies; a read then fails with
// ErrErased, saying by whom and when. A member may erase its own writes;
// erasing another's needs admin (of a prefix the key has). It returns how
// many writes it named (ErrNothingToErase for none). Erase cannot take
// back a copy someone already made.
func (s *Space) Erase(ctx context.Context, key []byte) (int, error) {
	return s.impl.erase(ctx, key, space.EraseOptions{})
}

// ErasePrefix is Erase for every key under prefix.
func (s *Space) ErasePrefix(ctx context.Context, prefix []byte) (int, error) {
	return s.impl.erase(ctx, prefix, space.EraseOptions{Prefix: true})
}

// EraseSuperseded erases the values of the writes to key that a later
// write superseded, keeping the live value: what an edit leaves behind.
func (s *Space) EraseSuperseded(ctx context.Context, key []byte) (int, error) {
	return s.impl.erase(ctx, key, space.EraseOptions{Superseded: true})
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
	return b.s.impl.commit(ctx, b.ops)
}

// rangeQuery is what RangeOptions select.
type rangeQuery struct {
	watchQuery
	limit   int  // yield at most limit keys; the implementations take 0 for no limit
	limited bool // Limit was given: Range yields nothing for a limit ≤ 0
	reverse bool
}

// watchQuery is what WatchOptions select.
type watchQuery struct{ prefix, start, end []byte }

// match reports whether key is selected.
func (q watchQuery) match(key []byte) bool {
	return (q.start == nil || string(key) >= string(q.start)) && (q.end == nil || string(key) < string(q.end))
}

// RangeOption narrows a Range: Prefix, Start, End, Limit, Reverse.
type RangeOption interface{ applyRange(*rangeQuery) }

// WatchOption narrows a Watch: Prefix, Start, End. (A limit or an order
// means nothing for changes yet to come: Limit and Reverse are
// RangeOptions only.)
type WatchOption interface{ applyWatch(*watchQuery) }

// KeyOption selects keys by prefix or bound, in a Range or a Watch.
type KeyOption struct {
	which byte // 'p', 's' or 'e'
	key   []byte
}

func (o KeyOption) applyRange(q *rangeQuery) { o.applyWatch(&q.watchQuery) }

func (o KeyOption) applyWatch(q *watchQuery) {
	switch o.which {
	case 'p':
		q.prefix = o.key
	case 's':
		q.start = o.key
	case 'e':
		q.end = o.key
	}
}

// Prefix selects the keys starting with p.
func Prefix(p string) KeyOption { return KeyOption{'p', []byte(p)} }

// Start selects keys ≥ k.
func Start(k string) KeyOption { return KeyOption{'s', []byte(k)} }

// End selects keys < k.
func End(k string) KeyOption { return KeyOption{'e', []byte(k)} }

type rangeFunc func(*rangeQuery)

func (f rangeFunc) applyRange(q *rangeQuery) { f(q) }

// Limit stops after n keys; with n ≤ 0 the Range yields none.
func Limit(n int) RangeOption {
	return rangeFunc(func(q *rangeQuery) { q.limit, q.limited = n, true })
}

// Reverse iterates from the last key to the first.
func Reverse() RangeOption { return rangeFunc(func(q *rangeQuery) { q.reverse = true }) }

// Range yields the visible keys selected by opts, in key order.
func (s *Space) Range(ctx context.Context, opts ...RangeOption) iter.Seq2[KV, error] {
	var q rangeQuery
	for _, o := range opts {
		o.applyRange(&q)
	}
	if q.limited && q.limit <= 0 {
		return func(func(KV, error) bool) {}
	}
	return s.impl.scan(ctx, q)
}

// Change is one change of a key's visible value, or a resync.
type Change struct {
	Key     []byte
	Value   []byte // nil when Deleted or Erased
	Deleted bool
	Erased  bool // the key's value was erased (Space.Erase)
	Author  string
	Time    time.Time
	// Resync says that changes were dropped because the reader fell
	// behind (the node bounds what it queues for each watch): read the
	// keys again (Range), then go on with the changes that follow, which
	// are every change applied after the drop. Its other fields are zero.
	Resync bool
}

// Watch returns the changes to the keys opts select from now on, in the
// order they were applied, whoever wrote them: every change applied after
// Watch returns arrives. A reader that falls behind gets a Change with
// Resync set instead of the changes it missed (see Change.Resync). The
// channel is closed when ctx ends, the node closes, or the daemon ends
// the watch.
func (s *Space) Watch(ctx context.Context, opts ...WatchOption) (<-chan Change, error) {
	var q watchQuery
	for _, o := range opts {
		o.applyWatch(&q)
	}
	return s.impl.watch(ctx, q)
}

// Conflicts returns the concurrent writes to key that lost to the visible
// one: values written by members who had not seen each other's write.
func (s *Space) Conflicts(ctx context.Context, key []byte) ([]KV, error) {
	return s.impl.conflicts(ctx, key)
}

// State summarizes the space's view.
type State struct {
	Hash string // view hash, equal on replicas with equal visible state
	Keys int64  // visible keys
}

// State returns the view hash and key count.
func (s *Space) State(ctx context.Context) (State, error) { return s.impl.state(ctx) }

// VerifyReport summarizes a verified history.
type VerifyReport struct {
	Commits int // commits verified
	Ops     int // writes in them
	Authors int // authors that signed them
	Forks   int // authors that signed two commits at one seq
}

// Verify re-checks every stored commit: signature, hash chain, seq, time
// order and the author's grant. The error names the first bad commit and
// wraps ErrInvalidLog.
func (s *Space) Verify(ctx context.Context) (VerifyReport, error) { return s.impl.verify(ctx) }

// Head is one author's latest commit in a space.
type Head struct {
	Author string
	Seq    uint64
	Commit string
	Time   time.Time
}

// Heads returns every author's latest commit: the space's version vector.
func (s *Space) Heads(ctx context.Context) ([]Head, error) { return s.impl.heads(ctx) }

// Role returns this device's role in the space ("" if none).
func (s *Space) Role(ctx context.Context) (Role, error) { return s.impl.role(ctx) }
