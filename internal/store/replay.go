package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

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
// holds one commit per author at a time, not the space's commits, and
// commits the view in pieces (commitPiece), the cells of one piece at a
// time. It returns no changes: commitView, which commits the last piece,
// finds them, comparing the cells before and after.
func (a *applier) rebuildView(bc *batch, st *spaceState, d *acl.Decision) ([]Change, error) {
	ctx := context.Background()
	sp := st.id
	bc.fresh[sp] = true
	// Erasures are decided again too: a write erased by an erase that no
	// longer counts is lost (its payload is gone here), no longer erased.
	for _, p := range [][]byte{spaceKey(tagCell, sp), spaceKey(tagHistory, sp), spaceKey(tagErased, sp), spaceKey(tagLost, sp), spaceKey(tagDead, sp), policyKey(sp)} {
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
		bc.changes = bc.changes[:0] // the changes are found from the cells (commitView)
		if !d.Valid(c.Author, c.Seq) {
			return nil
		}
		if err := a.applyOps(bc, st, c, p); err != nil {
			return err
		}
		if a.pieceFull(bc) {
			return a.commitPiece(bc, st)
		}
		return nil
	})
	return nil, err
}

// viewChanges returns the visible changes between the cells under
// cellPrefix in before (the view before a rebuild) and in the database
// (the view rebuilt, committed): a cell whose winner's version differs,
// and a cell before with a visible winner that is gone. It scans both in
// key order, holding no cell but the changes.
func (a *applier) viewChanges(ctx context.Context, before *pebble.Snapshot, cellPrefix []byte) ([]Change, error) {
	opts := &pebble.IterOptions{LowerBound: cellPrefix, UpperBound: prefixEnd(cellPrefix)}
	oldIt, err := before.NewIterWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer oldIt.Close()
	newIt, err := a.s.db.NewIterWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer newIt.Close()
	decode := func(v []byte) (view.Cell, error) { // valid until the iterator moves
		c, err := view.DecodeCell(v)
		if err != nil {
			return view.Cell{}, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
		}
		return c, nil
	}
	var changes []Change
	oldOK, newOK := oldIt.First(), newIt.First()
	for oldOK || newOK {
		cmp := 0
		switch {
		case !oldOK:
			cmp = 1
		case !newOK:
			cmp = -1
		default:
			cmp = bytes.Compare(oldIt.Key(), newIt.Key())
		}
		if cmp < 0 { // gone
			old, err := decode(oldIt.Value())
			if err != nil {
				return nil, err
			}
			if o, _ := old.Winner(); !o.Tombstone() {
				changes = append(changes, Change{Key: bytes.Clone(oldIt.Key()[len(cellPrefix):]), Entry: view.Entry{Kind: commit.KindDel}})
			}
			oldOK = oldIt.Next()
			continue
		}
		nc, err := decode(newIt.Value())
		if err != nil {
			return nil, err
		}
		w, _ := nc.Winner()
		same := false
		if cmp == 0 {
			old, err := decode(oldIt.Value())
			if err != nil {
				return nil, err
			}
			o, _ := old.Winner()
			same = o.Version == w.Version
			oldOK = oldIt.Next()
		}
		if !same {
			w.Value = bytes.Clone(w.Value)
			changes = append(changes, Change{Key: bytes.Clone(newIt.Key()[len(cellPrefix):]), Entry: w})
		}
		newOK = newIt.Next()
	}
	return changes, errors.Join(oldIt.Error(), newIt.Error())
}
