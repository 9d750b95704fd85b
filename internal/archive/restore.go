package archive

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/store"
)

// RestoreOptions configure a restore.
type RestoreOptions struct {
	// Name is the local name to hold the space under; empty means the
	// name it had where it was archived.
	Name string
}

// Bounds of a restore's memory: commits are applied in batches, and
// those waiting for their causal past are carried to the next batch.
const (
	batchCommits = 1024
	batchBytes   = 8 << 20
	maxWaiting   = 64 << 20 // bytes of commits waiting for their causal past
)

// ErrRefused wraps the error of a restore that stopped at a commit the
// store refused (a bad signature, chain or grant): nothing was kept.
var ErrRefused = errors.New("the archive holds a commit that does not verify")

// Restore reads an archive from r and adds its space to n through the
// store's normal write path: every commit is verified (signature, then
// chain, seq, time and authorization by the store), none is re-signed,
// and no network is used. It is all or nothing: if the archive is
// damaged, cut short or holds a commit that does not verify, or ctx
// ends, everything it added is removed and the error says why.
func Restore(ctx context.Context, n *node.Node, r io.Reader, o RestoreOptions) (sum Summary, err error) {
	d, h, err := NewDecoder(r)
	if err != nil {
		return Summary{}, err
	}
	name := o.Name
	if name == "" {
		name = h.Name
	}
	sum = Summary{Space: h.Space, Name: name, Private: h.Private, ReadKeys: len(h.ReadKeys) > 0}
	end, err := n.BeginRestore(ctx, h.Space, name, h.ReadKeys)
	if err != nil {
		return sum, err
	}
	var releases []func()
	defer func() {
		err = end(err)
		for _, rel := range releases {
			rel()
		}
		if err != nil {
			sum = Summary{}
		}
	}()
	a := applier{st: n.Store(), sp: h.Space}
	for {
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		switch {
		case it.Commit != nil:
			c, err := commit.Verify(it.Commit)
			if err != nil {
				return sum, fmt.Errorf("%w: commit %d: %w", ErrRefused, sum.Commits+1, err)
			}
			if c.Space != h.Space {
				return sum, fmt.Errorf("%w: commit %s is of another space (%s)", ErrBadArchive, c, c.Space)
			}
			sum.Commits++
			if err := a.add(ctx, c); err != nil {
				return sum, err
			}
		case it.Blob != nil:
			if err := a.flush(ctx); err != nil { // the commits come first: apply them all
				return sum, err
			}
			id, m, release, err := n.Blobs().AddLeased(ctx, it.Blob.R)
			if err != nil {
				if d.err != nil { // the archive's bytes, not the blob store
					return sum, d.err
				}
				return sum, err
			}
			releases = append(releases, release)
			if id != it.Blob.ID || m.Size != it.Blob.Size {
				return sum, fmt.Errorf("%w: blob %s does not hold its bytes (damaged)", ErrBadArchive, it.Blob.ID)
			}
			sum.Blobs++
			sum.BlobBytes += m.Size
		}
	}
	if err := a.flush(ctx); err != nil {
		return sum, err
	}
	if len(a.waiting) > 0 {
		return sum, fmt.Errorf("%w: %d commits miss part of their causal past (first: %s), the archive is incomplete", ErrBadArchive, len(a.waiting), a.waiting[0])
	}
	return sum, nil
}

// applier applies a restore's commits in batches.
type applier struct {
	st      *store.Store
	sp      keys.SpaceID
	batch   []*commit.Commit
	bytes   int
	waiting []*commit.Commit // Pending after the last batch
	wbytes  int
}

func (a *applier) add(ctx context.Context, c *commit.Commit) error {
	a.batch = append(a.batch, c)
	a.bytes += len(c.Bytes())
	if len(a.batch) >= batchCommits || a.bytes >= batchBytes {
		return a.flush(ctx)
	}
	return nil
}

// flush applies the waiting commits and the batch.
func (a *applier) flush(ctx context.Context) error {
	if len(a.batch) == 0 {
		return nil
	}
	cs := append(a.waiting, a.batch...)
	a.batch, a.bytes, a.waiting, a.wbytes = nil, 0, nil, 0
	res, err := a.st.Apply(ctx, a.sp, cs)
	if err != nil {
		return err
	}
	for i, o := range res.Outcomes {
		switch o.Status {
		case store.Applied, store.Duplicate, store.Forked, store.Revoked, store.Dropped, store.Filled:
		case store.Pending:
			a.waiting = append(a.waiting, cs[i])
			a.wbytes += len(cs[i].Bytes())
		default:
			return fmt.Errorf("%w: %s: %s: %v", ErrRefused, cs[i], o.Status, o.Err)
		}
	}
	if a.wbytes > maxWaiting {
		return fmt.Errorf("%w: more than %d MiB of commits wait for their causal past (is it an archive of 'loam space archive'?)", ErrBadArchive, maxWaiting>>20)
	}
	return nil
}
