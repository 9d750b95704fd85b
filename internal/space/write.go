package space

import (
	"context"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/store"
)

// Limits of a merged commit: concurrent writes are merged up to these.
const (
	mergeMaxOps   = 1024
	mergeMaxBytes = 1 << 20
)

// write is one caller's ops waiting to be committed.
type write struct {
	ops   []commit.Op
	epoch uint64 // key epoch the ops are sealed under (0 in a public space)
	bytes int
	done  chan writeResult // buffered 1
	lead  chan struct{}    // buffered 1: this write's goroutine leads the next group
}

type writeResult struct {
	c   *commit.Commit
	err error
}

// Commit writes ops as part of the device's next commit and returns once
// it is durable.
//
// Concurrent calls are merged, as LevelDB merges concurrent write batches:
// callers queue, and the caller at the head of the queue leads. It takes
// the queue (up to mergeMaxOps ops and mergeMaxBytes) into one commit,
// assigns its seq, hands leadership to the next waiter, and only then signs
// and submits, so the next group is prepared while this one is signed and
// synced. The ops of one call always stay together in one commit, so each
// call is atomic; one signature and one fsync serve many writers.
func (s *Space) Commit(ctx context.Context, ops []commit.Op) (*commit.Commit, error) {
	if err := commit.ValidateOps(ops); err != nil {
		return nil, fmt.Errorf("space: %w", err)
	}
	if err := s.canWrite(ops); err != nil {
		return nil, err
	}
	var epoch uint64
	if s.readKey != nil {
		var err error
		if epoch, ops, err = s.seal(ops); err != nil {
			return nil, err
		}
	}
	return s.enqueue(epoch, ops)
}

// SetPrivate makes s a private space: from now on its data ops are sealed
// under the epoch key readKey returns. Call it once, before s is shared.
func (s *Space) SetPrivate(readKey func() (keys.EpochKey, error)) { s.readKey = readKey }

// Private reports whether s seals its data ops.
func (s *Space) Private() bool { return s.readKey != nil }

// ErrClearBlob refuses a blob reference that a private space cannot hold:
// one to a blob in the clear, or one whose blob op does not match it.
var ErrClearBlob = errors.New("a private space holds only sealed blobs")

// ErrEpochChanged refuses a sealed blob reference of an epoch other than
// the one the write is sealed under: the key rotated (a reader was
// removed) since the blob was sealed. Seal the blob again under the new
// epoch and retry.
var ErrEpochChanged = errors.New("the space's read key rotated while the blob was sealed")

// checkSealedBlobs checks, in a private space whose write is sealed under
// epoch, that every putblob references a blob sealed under that epoch and
// that the op after it is the blob op naming the sealed bytes (their ID
// and sealed size) for seeders, as node.PutBlob writes them; and that no
// blob op stands alone. A reference to a blob in the clear would put a
// private space's file in the clear; one sealed under an older epoch could
// be opened by a reader removed since.
func (s *Space) checkSealedBlobs(ops []commit.Op, epoch uint64) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %s (write the file's bytes to the key in space %s: loam put -f FILE, Space.PutBlob)", ErrClearBlob, why, s.info.Name)
	}
	for i := 0; i < len(ops); i++ {
		switch ops[i].Kind {
		case commit.KindBlob:
			return bad("a blob op that follows no blob reference")
		case commit.KindPutBlob:
		default:
			continue
		}
		r, err := blob.DecodeRef(ops[i].Payload)
		if err != nil {
			return fmt.Errorf("space: %w", err)
		}
		if !r.Sealed {
			return bad("a reference to a blob stored in the clear")
		}
		if r.Epoch != epoch {
			return fmt.Errorf("%w: the blob is sealed under epoch %d, the space is now at epoch %d", ErrEpochChanged, r.Epoch, epoch)
		}
		if i+1 == len(ops) || ops[i+1].Kind != commit.KindBlob {
			return bad("a sealed blob reference without its blob op")
		}
		named, err := blob.DecodeRef(ops[i+1].Payload)
		if err != nil {
			return fmt.Errorf("space: blob op: %w", err)
		}
		if named != (blob.Ref{ID: r.ID, Size: seal.SealedSize(r.Size)}) {
			return bad("the blob op does not name the referenced blob's sealed bytes")
		}
		i++
	}
	return nil
}

// EpochKey returns the read key, and its epoch, that s seals writes under
// now: for sealing what a write will reference, such as a blob.
func (s *Space) EpochKey() (keys.EpochKey, error) {
	if s.readKey == nil {
		return keys.EpochKey{}, fmt.Errorf("space %s is not private: it seals nothing", s.info.Name)
	}
	return s.readKey()
}

// seal returns ops with every data op replaced by a sealed op at the same
// position, and the epoch they are sealed under.
func (s *Space) seal(ops []commit.Op) (uint64, []commit.Op, error) {
	ek, err := s.readKey()
	if err != nil {
		return 0, nil, err
	}
	// Checked against the epoch used here, so that a rotation cannot slip
	// between the check and the seal.
	if err := s.checkSealedBlobs(ops, ek.Epoch); err != nil {
		return 0, nil, err
	}
	out := make([]commit.Op, len(ops))
	for i, o := range ops {
		if o.Kind.IsData() {
			ct, err := seal.SealPayload(seal.ReadKey(ek.Key), s.info.ID, ek.Epoch, commit.EncodeSealedOp(o))
			if err != nil {
				return 0, nil, fmt.Errorf("space: seal: %w", err)
			}
			o = commit.Op{Kind: commit.KindSealed, Payload: ct}
		}
		out[i] = o
	}
	return ek.Epoch, out, nil
}

// enqueue queues ops for the next merged commit and waits for the result,
// leading a group if this write is at the head of the queue.
func (s *Space) enqueue(epoch uint64, ops []commit.Op) (*commit.Commit, error) {
	w := &write{ops: ops, epoch: epoch, done: make(chan writeResult, 1), lead: make(chan struct{}, 1)}
	for i := range ops {
		w.bytes += len(ops[i].Key) + len(ops[i].Payload) + 16
	}
	s.wmu.Lock()
	s.queue = append(s.queue, w)
	leader := !s.leading
	s.leading = true
	s.wmu.Unlock()
	if !leader {
		select {
		case r := <-w.done:
			return r.c, r.err
		case <-w.lead:
		}
	}
	s.leadGroup()
	r := <-w.done
	return r.c, r.err
}

// maxInFlight bounds the commits being signed or synced at once. While the
// leader waits for a slot the queue grows, so under load groups get large
// and signatures and fsyncs are shared; with few writers nothing waits.
const maxInFlight = 2

// Join commits this device's self-grant through an invite (g, from
// commit.InviteGrant): the one commit a device may make before it holds a
// role. The store decides whether the invite is valid.
func (s *Space) Join(ctx context.Context, g commit.Grant) (*commit.Commit, error) {
	if g.Subject != s.dev.Author() || g.Invite.IsZero() {
		return nil, fmt.Errorf("space: join: not an invite self-grant for this device")
	}
	c, err := s.enqueue(0, []commit.Op{commit.GrantOp(g)})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return c, s.reload(ctx) // picks up the new role
}

// leadGroup commits the writes at the head of the queue. The caller's own
// write is the first of them.
func (s *Space) leadGroup() {
	s.inflight <- struct{}{}
	defer func() { <-s.inflight }()
	s.wmu.Lock()
	n, ops, bytes := 0, 0, 0
	for n < len(s.queue) {
		w := s.queue[n]
		if n > 0 && (ops+len(w.ops) > mergeMaxOps || bytes+w.bytes > mergeMaxBytes || w.epoch != s.queue[0].epoch) {
			break
		}
		ops += len(w.ops)
		bytes += w.bytes
		n++
	}
	group := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.wmu.Unlock()

	merged := group[0].ops
	if len(group) > 1 {
		merged = make([]commit.Op, 0, ops)
		for _, w := range group {
			merged = append(merged, w.ops...)
		}
	}
	c, prev, mine, err := s.prepare(group[0].epoch, merged)

	// Hand leadership on before signing and syncing.
	s.wmu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].lead <- struct{}{}
	} else {
		s.leading = false
	}
	s.wmu.Unlock()

	if err == nil {
		err = s.signAndApply(c, prev, mine)
	}
	for _, w := range group {
		w.done <- writeResult{c, err}
	}
}

// prepare assigns the next seq, prev, time and deps and encodes the commit.
// It returns the channel closed when the previous commit was submitted and
// the one to close when this one is.
func (s *Space) prepare(epoch uint64, ops []commit.Op) (*commit.Commit, chan struct{}, chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	deps := make([]keys.CommitID, 0, len(s.deps))
	for _, id := range s.deps {
		if len(deps) == commit.MaxDeps {
			break
		}
		deps = append(deps, id)
	}
	c, err := commit.Prepare(commit.Header{
		Space:  s.info.ID,
		Author: s.dev.Author(),
		Seq:    s.head.Seq + 1,
		Prev:   s.head.ID,
		Time:   s.clock.Now(),
		Epoch:  epoch,
		Deps:   deps,
	}, ops)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("space: %w", err)
	}
	s.head = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
	s.heads[c.Author] = s.head
	clear(s.deps)
	prev, mine := s.submitted, make(chan struct{})
	s.submitted = mine
	return c, prev, mine, nil
}

// signAndApply signs c, submits it after the previous commit and waits
// until it is durable.
func (s *Space) signAndApply(c *commit.Commit, prev, mine chan struct{}) error {
	c.Sign(s.dev)
	<-prev
	t := s.st.Submit(s.info.ID, []*commit.Commit{c})
	close(mine)
	res, err := t.Wait(context.Background())
	if err == nil && res.Outcomes[0].Status != store.Applied {
		err = fmt.Errorf("space: commit %s: %s: %w", c, res.Outcomes[0].Status, res.Outcomes[0].Err)
	}
	if err != nil {
		// Commits prepared after this one will fail too; start again from
		// what the store holds.
		s.mu.Lock()
		if rerr := s.reload(context.Background()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		s.mu.Unlock()
	}
	return err
}
