package space

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
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
}

type writeResult struct {
	c   *commit.Commit
	err error
}

// Commit writes ops as part of the device's next commit and returns once
// it is durable and counts.
//
// Concurrent calls are merged, as LevelDB merges concurrent write batches:
// callers queue, and the space's committer (commit.go) takes the queue
// (up to mergeMaxOps ops and mergeMaxBytes) into one commit, so one
// signature and one fsync serve many writers. The ops of one call always
// stay together in one commit, so each call is atomic.
//
// If ctx ends first, Commit returns an error wrapping ctx's: "nothing was
// written" if the write had not been taken into a commit yet, else the
// write may still be committed. A write the store keeps but does not
// count (the device was revoked, or forked) is an error that says so,
// wrapping ErrReadOnly.
func (s *Space) Commit(ctx context.Context, ops []commit.Op) (*commit.Commit, error) {
	if err := commit.ValidateOps(ops); err != nil {
		return nil, fmt.Errorf("space: %w", err)
	}
	if err := s.canWrite(ctx, ops); err != nil {
		return nil, err
	}
	var epoch uint64
	if s.readKey != nil {
		var err error
		if epoch, ops, err = s.seal(ops); err != nil {
			return nil, err
		}
	}
	return s.enqueue(ctx, epoch, ops)
}

// SetHold makes every write first ask hold, which refuses it with an
// error (wrapping ErrReadOnly and ErrAwaiting) while writes must wait.
// Call it before the space is used.
func (s *Space) SetHold(hold func() error) { s.hold = hold }

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

// maxInFlight bounds the commits signed and submitted whose outcome the
// committer has not seen yet: while it waits for the oldest, the queue
// grows, so under load groups get large and signatures and fsyncs are
// shared; with few writers nothing waits.
const maxInFlight = 2

// enqueue queues ops for the next merged commit and waits for its result,
// or for ctx to end.
func (s *Space) enqueue(ctx context.Context, epoch uint64, ops []commit.Op) (*commit.Commit, error) {
	w := &write{ops: ops, epoch: epoch, done: make(chan writeResult, 1)}
	for i := range ops {
		w.bytes += len(ops[i].Key) + len(ops[i].Payload) + 16
	}
	s.wmu.Lock()
	s.queue = append(s.queue, w)
	if !s.running {
		s.running = true
		go s.commitLoop()
	}
	s.wmu.Unlock()
	select {
	case r := <-w.done:
		return r.c, r.err
	case <-ctx.Done():
	}
	s.wmu.Lock()
	if i := slices.Index(s.queue, w); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
		s.wmu.Unlock()
		return nil, fmt.Errorf("space: %w before the write was committed: nothing was written", ctx.Err())
	}
	s.wmu.Unlock()
	select {
	case r := <-w.done: // it finished as ctx ended
		return r.c, r.err
	default:
	}
	return nil, fmt.Errorf("space: %w while the write was being committed: it may still be (read its keys to know)", ctx.Err())
}

// Join commits this device's self-grant through an invite: the one commit
// a device may make before it holds a role. g is from commit.InviteGrant
// for this device, or from commit.InvitePersonGrant for its person (#12);
// then cert, if not nil, is this device's certificate by that identity,
// carried first in the same commit (package acl). The store decides
// whether the invite is valid.
func (s *Space) Join(ctx context.Context, g commit.Grant, cert []byte) (*commit.Commit, error) {
	if g.Invite.IsZero() || (!g.Person && (g.Subject != s.dev.Author() || cert != nil)) {
		return nil, fmt.Errorf("space: join: not an invite self-grant for this device or its person")
	}
	ops := []commit.Op{commit.GrantOp(g)}
	if cert != nil {
		ops = []commit.Op{commit.CertOp(cert), commit.GrantOp(g)}
	}
	c, err := s.enqueue(ctx, 0, ops)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.accessGen++ // picks up the new role
	s.mu.Unlock()
	return c, nil
}
