package store

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// idAt returns the ID of the main-chain commit (author, seq).
func (a *applier) idAt(bc *batch, sp keys.SpaceID, au keys.AuthorID, seq uint64) (keys.CommitID, error) {
	if id, ok := bc.atSeq[authorSeq{sp, au, seq}]; ok {
		return id, nil
	}
	v, err := a.s.get(commitKey(sp, au, seq))
	if errors.Is(err, pebble.ErrNotFound) && a.belowFloor(sp, au, seq) {
		return keys.CommitID{}, belowFloorErr(au, seq)
	}
	if err != nil {
		return keys.CommitID{}, fmt.Errorf("%w: commit %s/%d below head: %v", ErrCorrupt, au.Short(), seq, err)
	}
	cv, err := decodeCommitValue(v)
	return cv.ID, err
}

// locate finds where a known commit sits: main chain or off-chain.
func (a *applier) locate(bc *batch, sp keys.SpaceID, id keys.CommitID) (loc, bool, error) {
	if l, ok := bc.ids[id]; ok {
		return l, true, nil
	}
	if l, ok := bc.offIDs[id]; ok {
		return l, true, nil
	}
	for _, tag := range []byte{tagCommitID, tagOffchain} {
		v, err := a.s.get(spaceKey(tag, sp, id[:]))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return loc{}, false, err
		}
		l, _, err := decodeLocRow(v)
		if err != nil {
			return loc{}, false, err
		}
		return l, true, nil
	}
	return loc{}, false, nil
}

func (a *applier) known(bc *batch, sp keys.SpaceID, id keys.CommitID) (bool, error) {
	_, ok, err := a.locate(bc, sp, id)
	return ok, err
}

// fork records c as evidence against its author: it has the seq of a
// stored commit and a different ID.
func (a *applier) fork(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	k := spaceKey(tagFork, st.id, c.Author[:], be64(c.Seq), c.ID[:])
	if _, err := a.s.get(k); err == nil {
		return Outcome{Status: Duplicate}, nil
	}
	if err := bc.b.Set(k, c.Bytes(), nil); err != nil {
		return Outcome{}, err
	}
	// Index it as known too: other authors may have seen it and name it in deps.
	if err := a.setOffchain(bc, st, c); err != nil {
		return Outcome{}, err
	}
	if main, err := a.mainCommit(bc, st.id, c.Author, c.Seq); err == nil {
		if f, err := commit.NewFork(main, c); err == nil {
			bc.forks = append(bc.forks, f)
		}
	}
	if fs, ok := st.forked[c.Author]; !ok || c.Seq < fs {
		st.forked[c.Author] = c.Seq
		st.view.rebuild = true
		bc.rebuild[st.id] = true
		bc.forced[st.id] = true
		bc.dirty[st.id] = st
	}
	return forkedOutcome(c, c.Seq), nil
}

// offchain keeps a forked author's commit that continues the other branch:
// known (it may be another commit's dep) but never in the view.
func (a *applier) offchain(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	if ok, err := a.known(bc, st.id, c.ID); err != nil || ok {
		return Outcome{Status: Duplicate}, err
	}
	if err := a.setOffchain(bc, st, c); err != nil {
		return Outcome{}, err
	}
	return forkedOutcome(c, st.forked[c.Author]), nil
}

func (a *applier) setOffchain(bc *batch, st *spaceState, c *commit.Commit) error {
	v := append(append(c.Author[:len(c.Author):len(c.Author)], be64(c.Seq)...), c.Bytes()...)
	bc.offIDs[c.ID] = loc{c.Author, c.Seq}
	bc.stored = append(bc.stored, c)
	return bc.b.Set(spaceKey(tagOffchain, st.id, c.ID[:]), v, nil)
}

// mainCommit returns the main-chain commit (author, seq), from this batch or
// the store.
func (a *applier) mainCommit(bc *batch, sp keys.SpaceID, au keys.AuthorID, seq uint64) (*commit.Commit, error) {
	if c, ok := bc.byLoc[authorSeq{sp, au, seq}]; ok {
		return c, nil
	}
	k := commitKey(sp, au, seq)
	v, err := a.s.get(k)
	if err != nil {
		return nil, err
	}
	_, b, err := a.s.commitRow(k, v)
	if err != nil {
		return nil, err
	}
	return commit.Decode(b)
}

// forkedOutcome is the outcome of a commit stored that does not count
// because its author forked at seq at.
func forkedOutcome(c *commit.Commit, at uint64) Outcome {
	return Outcome{Status: Forked, Err: fmt.Errorf("%w: %s: %s has two commits at seq %d", ErrForked, c, c.Author, at)}
}
