package store

import (
	"bytes"
	"context"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// reference is a rebuild's two steps, the decision (with the commits it
// read: at least the revoking ones) and the view's replay, as this
// package's tests set them on a store (Store.reference): the whole path as
// it was before it streamed (every commit decoded in memory, the old cells
// in a map), which the streaming one is compared with.
type reference struct {
	decide func(a *applier, ctx context.Context, bc *batch, st *spaceState) (*acl.Decision, []*commit.Commit, error)
	view   func(a *applier, bc *batch, st *spaceState, d *acl.Decision) ([]Change, error)
}

// decisionInput returns every main-chain commit of sp as acl.Evaluate
// reads it (slim): header, ID and ops, without the encoded commit, the
// signature or the op digests, and without the values of data ops unless
// some commit of the space declares app rules (the rules read values).
// A space without app rules is read once; one with them twice.
func (a *applier) decisionInput(ctx context.Context, sp keys.SpaceID) ([]*commit.Commit, error) {
	read := func(values bool) ([]*commit.Commit, bool, error) {
		var all []*commit.Commit
		rules := false
		for sc, err := range a.s.AllCommits(ctx, sp) {
			if err != nil {
				return nil, false, err
			}
			c, err := commit.Decode(sc.Bytes)
			if err != nil {
				return nil, false, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
			}
			s := slim(c, values)
			rules = rules || s.rules
			all = append(all, s.c)
		}
		return all, rules, nil
	}
	all, rules, err := read(false)
	if err != nil || !rules {
		return all, err
	}
	all, _, err = read(true)
	return all, err
}

// slimCommit is a commit as slim makes it, and whether it declares app
// rules.
type slimCommit struct {
	c     *commit.Commit
	rules bool
}

// slim copies what acl.Evaluate reads of c: its header, ID and ops, each
// op's key and, but for data ops when values is false, its payload. The
// copy shares no memory with c's encoding, which can then be freed.
func slim(c *commit.Commit, values bool) slimCommit {
	s := slimCommit{c: &commit.Commit{Header: c.Header, ID: c.ID, Ops: make([]commit.Op, len(c.Ops))}}
	for i, o := range c.Ops {
		o.Key = bytes.Clone(o.Key)
		if o.Kind.IsData() && !values {
			o.Payload = nil
		} else {
			o.Payload = bytes.Clone(o.Payload)
		}
		s.rules = s.rules || o.Kind == commit.KindSchema
		s.c.Ops[i] = o
	}
	return s
}

// rebuildView recomputes the cells of a space into bc from the commits
// that count (d), replayed in causal order from the store (walk): it
// holds one commit per author at a time, not the space's commits. The changes are
// found by comparing the new cells with the stored ones (the batch is not
// committed yet, so the store still reads the old cells), without a map
// of the old cells.
func (a *applier) rebuildView(bc *batch, st *spaceState, d *acl.Decision) ([]Change, error) {
	ctx := context.Background()
	sp := st.id
	cellPrefix := spaceKey(tagCell, sp)
	bc.fresh[sp] = true
	// Erasures are decided again too: a write erased by an erase that no
	// longer counts is lost (its payload is gone here), no longer erased.
	for _, p := range [][]byte{cellPrefix, spaceKey(tagHistory, sp), spaceKey(tagErased, sp), spaceKey(tagLost, sp), spaceKey(tagDead, sp), policyKey(sp)} {
		if err := bc.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return nil, err
		}
	}
	if err := bc.b.Set(markKey(sp, markDead), nil, nil); err != nil { // replayed below
		return nil, err
	}
	st.maxKey, st.hasMax, st.maxLoaded = nil, false, true
	st.view.Hash, st.view.Visible = view.Hash{}, 0

	err := a.walk(ctx, bc, st, func(c *commit.Commit, p *past) error {
		bc.changes = bc.changes[:0] // the changes are found from the cells below
		if !d.Valid(c.Author, c.Seq) {
			return nil
		}
		return a.applyOps(bc, st, c, p)
	})
	if err != nil {
		return nil, err
	}
	return a.viewChanges(ctx, bc, cellPrefix)
}

// viewChanges returns the visible changes between the cells stored under
// cellPrefix and those of bc (every cell of the space, rebuilt): a new
// cell whose winner's version differs from the stored one's, and a stored
// cell with a visible winner that bc does not hold.
func (a *applier) viewChanges(ctx context.Context, bc *batch, cellPrefix []byte) ([]Change, error) {
	var changes []Change
	for _, cs := range bc.cells {
		if !bytes.HasPrefix(cs.key, cellPrefix) {
			continue
		}
		w, _ := cs.cell.Winner()
		old, ok, err := a.s.storedCell(cs.key)
		if err != nil {
			return nil, err
		}
		if ok {
			if o, _ := old.Winner(); o.Version == w.Version {
				continue
			}
		}
		changes = append(changes, Change{Key: cs.key[len(cellPrefix):], Entry: w})
	}
	var e err0
	for k, v := range a.s.scan(ctx, cellPrefix, false, &e) {
		if _, ok := bc.cells[string(k)]; ok {
			continue
		}
		old, err := view.DecodeCell(v)
		if err != nil {
			return nil, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
		}
		if o, _ := old.Winner(); !o.Tombstone() {
			changes = append(changes, Change{Key: bytes.Clone(k[len(cellPrefix):]), Entry: view.Entry{Kind: commit.KindDel}})
		}
	}
	return changes, e.err
}
