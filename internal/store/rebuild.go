package store

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
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
// without its data ops' values unless the rules read them.
//
// cs are the commits of the batch for the space (nil on load): when they
// hold one revoking commit whose cuts void only data commits, the space
// is decided from the cut instead (redecide.go), unless a.fullOnly.
func (a *applier) rebuild(sp keys.SpaceID, force bool, cs []*commit.Commit) ([]Change, *acl.Decision, error) {
	st := a.spaces[sp]
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
			return nil, nil, err
		}
	}
	for au, cut := range d.Cuts {
		if err := bc.b.Set(spaceKey(tagCut, sp, au[:]), be64(cut), nil); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range control { // a revoking commit is a control commit
		if err := noteRevoking(bc, sp, c); err != nil {
			return nil, nil, err
		}
	}
	control = nil // the view is replayed from the store (rebuildView)
	if err := bc.b.Set(markKey(sp, markRevoking), nil, nil); err != nil {
		return nil, nil, err
	}
	st.invalid, st.cuts, st.valid = invalid, d.Cuts, d.State(sp)
	st.fastFrom = map[keys.AuthorID]uint64{}
	if err := a.rewriteOnce(bc, st); err != nil {
		return nil, nil, err
	}

	var changes []Change
	if force || changed {
		var err error
		if changes, err = rebuildView(a, bc, st, d); err != nil {
			return nil, nil, err
		}
	}
	st.view.rebuild, st.view.redecide = false, false
	bc.dirty[sp] = st
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, nil, fmt.Errorf("store: rebuild: %w", err)
	}
	return changes, d, nil
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
