package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// rebuild decides a space's authorization again from all its stored
// commits (acl.Evaluate) and, if that changed which commits count, or if
// force is set (a fork was found), recomputes the view from the commits
// that count. It runs on the applier goroutine after a batch stored a
// fork, a revocation or a join through an invite (or on load, if a crash
// came between), and returns the visible changes it made and the decision.
//
// It holds the space's commits in memory: forks and revocations are rare,
// joins are one per member, so simplicity wins over streaming here.
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

	var all []*commit.Commit
	byAuthor := map[keys.AuthorID][]*commit.Commit{}
	main := map[keys.CommitID]bool{}
	for sc, err := range a.s.AllCommits(ctx, sp) {
		if err != nil {
			return nil, nil, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
		}
		all = append(all, c)
		byAuthor[c.Author] = append(byAuthor[c.Author], c)
		main[c.ID] = true
	}
	d := acl.Evaluate(sp, all, st.forked)

	invalid := map[acl.Loc]bool{}
	for l, why := range d.Invalid {
		if !errors.Is(why, acl.ErrForked) {
			invalid[l] = true
		}
	}
	changed := !maps.Equal(invalid, st.invalid)

	bc := a.newBatch()
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
	for _, c := range all {
		if err := noteRevoking(bc, sp, c); err != nil {
			return nil, nil, err
		}
	}
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
		if changes, err = a.rebuildView(bc, st, byAuthor, main, d); err != nil {
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

// rebuildView recomputes the cells of a space into bc from the commits
// that count, applied in causal order.
func (a *applier) rebuildView(bc *batch, st *spaceState, byAuthor map[keys.AuthorID][]*commit.Commit, main map[keys.CommitID]bool, d *acl.Decision) ([]Change, error) {
	sp := st.id
	cellPrefix := spaceKey(tagCell, sp)
	old := map[string]view.Entry{}
	var e err0
	for k, v := range a.s.scan(context.Background(), cellPrefix, false, &e) {
		c, err := view.DecodeCell(v)
		if err != nil {
			return nil, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
		}
		w, _ := c.Winner()
		w.Value = bytes.Clone(w.Value)
		old[string(k[len(cellPrefix):])] = w
	}
	if e.err != nil {
		return nil, e.err
	}

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

	// Apply in causal order: an author's next commit once its deps are done.
	done := map[keys.CommitID]bool{}
	next := map[keys.AuthorID]int{}
	for progress := true; progress; {
		progress = false
		for au, cs := range byAuthor {
			for next[au] < len(cs) {
				c := cs[next[au]]
				ready := true
				for _, d := range c.Deps {
					if main[d] && !done[d] {
						ready = false
						break
					}
				}
				if !ready {
					break
				}
				p, err := a.pastOf(bc, st, c)
				if err != nil {
					return nil, err
				}
				if d.Valid(au, c.Seq) {
					if err := a.applyOps(bc, st, c, p); err != nil {
						return nil, err
					}
				}
				st.advance(c, p)
				a.checkBudget(st, c.Author)
				done[c.ID] = true
				next[au]++
				progress = true
			}
		}
	}

	var changes []Change
	for _, cs := range bc.cells {
		key := cs.key[len(cellPrefix):]
		w, _ := cs.cell.Winner()
		o, had := old[string(key)]
		delete(old, string(key))
		if had && o.Version == w.Version {
			continue
		}
		changes = append(changes, Change{Key: key, Entry: w})
	}
	for k, o := range old {
		if !o.Tombstone() {
			changes = append(changes, Change{Key: []byte(k), Entry: view.Entry{Kind: commit.KindDel}})
		}
	}
	return changes, nil
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
