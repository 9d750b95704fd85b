package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// rebuild decides a space's authorization again from all its stored
// commits, as acl.Evaluate does, and, if that changed which commits count, or if
// force is set (a fork was found), recomputes the view from the commits
// that count. It runs on the applier goroutine after a batch stored a
// fork, a revocation or a join through an invite (or on load, if a crash
// came between), and returns the visible changes it made and the decision.
//
// It holds the control commits in memory, the data commits that do not
// count, and one commit per author read from the store (decide,
// rebuildView), not the space's commits, except in a space with
// forks or app rules, where acl.Evaluate decides every commit, held
// without its data ops' values unless the rules read them. What it
// writes it commits in pieces (commitPiece), shown to readers once whole
// (commitView).
//
// cs are the commits of the batch for the space (nil on load): when they
// hold one revoking commit whose cuts void only data commits, the space
// is decided from the cut instead (redecide.go), unless a.fullOnly.
func (a *applier) rebuild(sp keys.SpaceID, force bool, cs []*commit.Commit) ([]Change, *acl.Decision, error) {
	st := a.spaces[sp]
	if st == nil {
		// A rebuild of the same group failed and dropped every state (the
		// applier is broken): the space's flag stays, its next load
		// decides it.
		return nil, nil, fmt.Errorf("store: rebuild of space %s: not decided after an earlier failure in its group (%v)", sp, a.broken)
	}
	st.pieces, st.piecedCells = 0, false
	defer st.closePieceIt()
	ctx := context.Background()
	if err := a.fault("rebuild", nil); err != nil {
		return nil, nil, err
	}
	if st.floor != nil {
		d, err := a.floorRebuild(st)
		return nil, d, err
	}
	if !force && !a.s.fullRedecide {
		changes, d, err := a.redecideFast(st, cs)
		if !errors.Is(err, errSlow) {
			return changes, d, err
		}
	}

	decide, rebuildView := (*applier).decide, (*applier).rebuildView
	if ref := a.s.reference; ref != nil { // this package's tests only
		decide, rebuildView = ref.decide, ref.view
	}
	bc := a.newBatch()
	d, control, err := decide(a, ctx, bc, st)
	if err != nil {
		bc.b.Close()
		return nil, nil, err
	}

	invalid := map[acl.Loc]bool{}
	for l, why := range d.Invalid {
		if !errors.Is(why, acl.ErrForked) {
			invalid[l] = true
		}
	}
	changed := !maps.Equal(invalid, st.invalid)

	for _, tag := range []byte{tagInvalid, tagCut, tagRevoking} {
		p := spaceKey(tag, sp)
		if err := bc.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return nil, nil, err
		}
	}
	for l := range invalid {
		if err := bc.b.Set(invalidKey(sp, l.Author, l.Seq), []byte(d.Invalid[l].Error()), nil); err != nil {
			return nil, nil, a.halfBuilt(st, err)
		}
		if a.pieceFull(bc) { // a revocation may void most of the space
			if err := a.commitPiece(bc, st); err != nil {
				return nil, nil, a.halfBuilt(st, err)
			}
		}
	}
	for au, cut := range d.Cuts {
		if err := bc.b.Set(spaceKey(tagCut, sp, au[:]), be64(cut), nil); err != nil {
			return nil, nil, a.halfBuilt(st, err)
		}
	}
	for _, c := range control { // a revoking commit is a control commit
		if err := noteRevoking(bc, sp, c); err != nil {
			return nil, nil, a.halfBuilt(st, err)
		}
	}
	control = nil // the view is replayed from the store (rebuildView)
	if err := bc.b.Set(markKey(sp, markRevoking), nil, nil); err != nil {
		return nil, nil, a.halfBuilt(st, err)
	}
	st.invalid, st.cuts, st.valid = invalid, d.Cuts, d.State(sp)
	st.watchErasing()
	st.fastFrom = map[keys.AuthorID]uint64{}
	if err := a.rewriteOnce(bc, st); err != nil {
		return nil, nil, a.halfBuilt(st, err)
	}

	var changes []Change
	viewed := force || changed
	if viewed {
		var err error
		if changes, err = rebuildView(a, bc, st, d); err != nil {
			return nil, nil, a.halfBuilt(st, err)
		}
	}
	st.view.rebuild, st.view.redecide, st.view.pieced = false, false, false
	bc.dirty[sp] = st
	if viewed && a.s.reference == nil { // the reference (tests) found its changes
		changes, err := a.commitView(ctx, bc, st)
		if err != nil {
			return nil, nil, err
		}
		return changes, d, nil
	}
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, nil, fmt.Errorf("store: rebuild: %w", err)
	}
	st.pieces, st.piecedCells = 0, false
	return changes, d, nil
}

// defaultPieceBytes is the size of a piece of a rebuilt view
// (commitPiece): what its batch holds, and its cells estimated at
// cellBytes each.
const defaultPieceBytes = 32 << 20

// cellBytes estimates the memory a cell of a batch holds: the cellState
// (about 200 bytes with its inline entry), its map entry and key, and the
// commit its live write's value aliases (a few hundred bytes for a small
// one).
const cellBytes = 512

// pieceFull reports whether bc, rebuilding a view, holds a piece.
func (a *applier) pieceFull(bc *batch) bool {
	limit := a.s.pieceBytes
	if limit == 0 {
		limit = defaultPieceBytes
	}
	return int(bc.b.Len())+len(bc.cells)*cellBytes >= limit
}

// commitPiece commits what bc holds of st's view being rebuilt (with the
// decision, if it is the first piece) and empties bc's batch and cells
// for the next piece. The view state it writes says rebuild, so that a
// load after a crash before the last piece rebuilds the view again
// (load). Readers are not shown it (holdReads): they keep the view
// before the rebuild until the last piece (commitView). Later reads of
// the rebuild's own cells go to the database (pieceCell); its other
// reads still see the snapshot, as when the rebuild was one batch.
func (a *applier) commitPiece(bc *batch, st *spaceState) error {
	st.view.rebuild, st.view.pieced = true, true
	bc.dirty[st.id] = st
	a.holdReads = true
	err := a.commit(bc) // closes bc.b
	a.holdReads = false
	delete(bc.dirty, st.id)
	if err != nil {
		return err
	}
	st.pieces++
	st.piecedCells = st.piecedCells || bc.fresh[st.id] // fresh: bc deleted the old cells
	if err := st.closePieceIt(); err != nil {
		return err
	}
	bc.b = a.s.db.NewBatch()
	bc.cells, bc.slab = map[string]*cellState{}, nil
	return a.fault("piece", nil)
}

// pieceCell reads the cell row at k of st's space as a rebuild's earlier
// piece wrote it: from the database, which holds the pieces committed,
// not from the snapshot readers see. It seeks one iterator, open until
// the next piece (a point read a cell cost a third of the rebuild's CPU
// at 300,000 commits: each opens an iterator per level and reads filter
// blocks).
func (a *applier) pieceCell(st *spaceState, k []byte) (view.Cell, bool, error) {
	if st.pieceIt == nil {
		p := spaceKey(tagCell, st.id)
		it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return view.Cell{}, false, err
		}
		st.pieceIt = it
	}
	it := st.pieceIt
	if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
		return view.Cell{}, false, it.Error()
	}
	c, err := view.DecodeCell(bytes.Clone(it.Value()))
	if err != nil {
		return view.Cell{}, false, fmt.Errorf("%w: cell %q: %v", ErrCorrupt, k[1+keys.Size:], err)
	}
	return c, true, nil
}

// closePieceIt closes the iterator pieceCell reads with, if open.
func (st *spaceState) closePieceIt() error {
	if st.pieceIt == nil {
		return nil
	}
	err := st.pieceIt.Close()
	st.pieceIt = nil
	return err
}

// commitView commits the last piece of st's rebuilt view, finds the
// visible changes between the cells before (the snapshot readers still
// see) and after (the database), then shows readers the new view.
func (a *applier) commitView(ctx context.Context, bc *batch, st *spaceState) ([]Change, error) {
	before, err := a.s.acquire()
	if err != nil {
		bc.b.Close()
		return nil, a.halfBuilt(st, err)
	}
	defer a.s.release(before)
	a.holdReads = true
	err = a.commit(bc)
	a.holdReads = false
	if err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, fmt.Errorf("store: rebuild: %w", err) // the applier is broken (commitBatch)
	}
	st.pieces, st.piecedCells = 0, false
	changes, err := a.viewChanges(ctx, before.snap, spaceKey(tagCell, st.id))
	a.s.publish() // the view is whole and durable, whatever viewChanges read
	return changes, err
}

// halfBuilt returns err, a rebuild's failure. If a piece of the view was
// committed, the database holds a half-rebuilt view whose view state says
// rebuild: the applier takes no more writes (broken), readers keep the
// view before the rebuild, and opening the store again rebuilds it.
func (a *applier) halfBuilt(st *spaceState, err error) error {
	if st.pieces == 0 {
		return err
	}
	a.broken = fmt.Errorf("store: rebuild: the view of space %s is half rebuilt (%d pieces written; restart loam, which rebuilds it): %w", st.id, st.pieces, err)
	st.pieces, st.piecedCells = 0, false
	a.spaces = map[keys.SpaceID]*spaceState{}
	return a.broken
}

// decide decides st's space again: in two levels from the store
// (decideStreamed) where that is acl.Evaluate, with Evaluate over every
// commit otherwise. It returns the decision and the control commits (or
// all), slim.
func (a *applier) decide(ctx context.Context, bc *batch, st *spaceState) (*acl.Decision, []*commit.Commit, error) {
	d, control, ok, err := a.decideStreamed(ctx, bc, st)
	if ok || err != nil {
		return d, control, err
	}
	all, err := a.decisionInput(ctx, st.id)
	if err != nil {
		return nil, nil, err
	}
	return acl.Evaluate(st.id, all, st.forked), all, nil
}

// redecided corrects the outcomes of a request's commits after its space's
// authorization was decided again.
func redecided(d *acl.Decision, forked map[keys.AuthorID]uint64, cs []*commit.Commit, outs []Outcome) {
	for j, c := range cs {
		o := &outs[j]
		why, invalid := d.Invalid[acl.Loc{Author: c.Author, Seq: c.Seq}]
		switch {
		case errors.Is(why, acl.ErrForked):
			if o.Status == Applied {
				*o = forkedOutcome(c, forked[c.Author])
			}
		case o.Status == Applied && invalid:
			*o = revokedOutcome(c, why)
		case o.Status == Revoked && !invalid:
			*o = Outcome{Status: Applied}
		}
	}
}
