package archive

import (
	"context"
	"fmt"
	"io"
	"iter"
	"slices"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/store"
)

// WriteOptions choose what an archive carries besides the space's
// commits and blobs.
type WriteOptions struct {
	// WithKeys adds a private space's read keys: whoever holds the
	// archive can then read the space. Without them it is what a seeder
	// holds: the space restores, and only its members read it.
	WithKeys bool
}

// Summary says what an archive held, or what a restore stored.
type Summary struct {
	Space     keys.SpaceID
	Name      string
	Private   bool
	ReadKeys  bool  // the archive carries the space's read keys
	Commits   int   //
	Blobs     int   //
	BlobBytes int64 //
	// MissingBlobs counts the blobs the space references that this node
	// did not hold whole, left out of the archive (a restore fetches them
	// from peers when they are read).
	MissingBlobs int
}

// Write writes space id of n as an archive to w: its genesis and every
// stored commit as signed, in an order where each commit's causal past
// comes first, then every blob it references that n holds whole (sealed
// ones as stored), then the end record.
func Write(ctx context.Context, n *node.Node, id keys.SpaceID, w io.Writer, o WriteOptions) (Summary, error) {
	st := n.Store()
	in, err := st.Space(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	private, err := n.IsPrivate(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	h := Header{Space: id, Name: in.Name, Created: in.Created, Private: private}
	if o.WithKeys && private {
		h.ReadKeys = n.ReadKeys(id)
	}
	sum := Summary{Space: id, Name: in.Name, Private: private, ReadKeys: len(h.ReadKeys) > 0}
	e, err := NewEncoder(w, h)
	if err != nil {
		return sum, err
	}
	refs := map[blob.BlobID]int64{}
	err = causalCommits(ctx, st, id, func(b []byte) error {
		if err := e.Commit(b); err != nil {
			return err
		}
		sum.Commits++
		c, err := commit.Decode(b)
		if err != nil {
			return fmt.Errorf("archive: stored commit: %w", err)
		}
		for _, op := range c.Ops {
			if op.Kind == commit.KindBlob && !op.Erased {
				if r, err := blob.DecodeRef(op.Payload); err == nil && !r.Sealed {
					refs[r.ID] = r.Size
				}
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	for kv, err := range st.Range(ctx, id, store.Query{}) {
		if err != nil {
			return sum, err
		}
		if r, ok := node.RefOf(kv.Entry); ok && !r.Sealed {
			refs[r.ID] = r.Size
		}
	}
	ids := make([]blob.BlobID, 0, len(refs))
	for bid := range refs {
		ids = append(ids, bid)
	}
	slices.SortFunc(ids, func(a, b blob.BlobID) int { return slices.Compare(a[:], b[:]) })
	for _, bid := range ids {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		if !n.BlobComplete(bid) {
			sum.MissingBlobs++
			continue
		}
		br, err := n.OpenBlob(bid)
		if err != nil {
			return sum, err
		}
		err = e.Blob(bid, br.Size(), br)
		br.Close()
		if err != nil {
			return sum, err
		}
		sum.Blobs++
		sum.BlobBytes += br.Size()
	}
	return sum, e.Close()
}

// causalCommits yields the stored commits of space id so that each comes
// after its author's previous commit and its deps: it takes, author by
// author, the commits whose deps were yielded, until none is left. A
// commit whose deps are not all stored on the main chains comes after
// the others, then the fork evidence held.
func causalCommits(ctx context.Context, st *store.Store, id keys.SpaceID, yield func([]byte) error) error {
	heads, err := st.Heads(ctx, id)
	if err != nil {
		return err
	}
	cs := make([]*cursor, len(heads))
	for i, h := range heads {
		next, stop := iter.Pull2(st.Commits(ctx, id, h.Author, 0))
		defer stop()
		cs[i] = &cursor{next: next}
		if err := cs[i].advance(); err != nil {
			return err
		}
	}
	seen := map[keys.CommitID]bool{}
	emit := func(c *cursor) error {
		if err := yield(c.raw); err != nil {
			return err
		}
		seen[c.cur.ID] = true
		return c.advance()
	}
	for {
		left, progress := false, false
		for _, c := range cs {
			for !c.done && c.ready(seen) {
				if err := emit(c); err != nil {
					return err
				}
				progress = true
			}
			left = left || !c.done
		}
		if !left {
			break
		}
		if !progress { // deps off the main chains: go on in author order
			i := slices.IndexFunc(cs, func(c *cursor) bool { return !c.done })
			if err := emit(cs[i]); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	forks, err := st.Forks(ctx, id)
	if err != nil {
		return err
	}
	for _, f := range forks {
		for _, c := range []*commit.Commit{f.A, f.B} {
			if !seen[c.ID] {
				seen[c.ID] = true
				if err := yield(c.Bytes()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// cursor walks one author's stored commits.
type cursor struct {
	next func() (store.StoredCommit, error, bool)
	cur  *commit.Commit // the next commit to yield
	raw  []byte         // its bytes
	done bool
}

func (c *cursor) advance() error {
	sc, err, ok := c.next()
	if !ok {
		c.done, c.cur, c.raw = true, nil, nil
		return nil
	}
	if err != nil {
		return err
	}
	cm, err := commit.Decode(sc.Bytes)
	if err != nil {
		return fmt.Errorf("archive: stored commit of %s seq %d: %w", sc.Author, sc.Seq, err)
	}
	c.cur, c.raw = cm, sc.Bytes
	return nil
}

// ready reports whether every dep of the next commit was yielded.
func (c *cursor) ready(seen map[keys.CommitID]bool) bool {
	return !slices.ContainsFunc(c.cur.Deps, func(d keys.CommitID) bool { return !seen[d] })
}
