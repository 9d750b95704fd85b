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

// SetInMemoryRebuild makes s rebuild a space as it did before the
// rebuild streamed: every commit decoded in memory for acl.Evaluate and
// for the view's replay, the old cells in a map. The reference the
// streaming rebuild is compared with; the returned func undoes it.
func SetInMemoryRebuild(s *Store) func() {
	s.reference = &reference{decide: inMemoryDecide, view: inMemoryView}
	return func() { s.reference = nil }
}

// inMemoryDecide is acl.Evaluate over every commit of st's space.
func inMemoryDecide(a *applier, ctx context.Context, _ *batch, st *spaceState) (*acl.Decision, []*commit.Commit, error) {
	all, err := inMemoryInput(a, ctx, st.id)
	if err != nil {
		return nil, nil, err
	}
	return acl.Evaluate(st.id, all, st.forked), all, nil
}

// inMemoryInput is every main-chain commit of sp, decoded.
func inMemoryInput(a *applier, ctx context.Context, sp keys.SpaceID) ([]*commit.Commit, error) {
	var all []*commit.Commit
	for sc, err := range a.s.AllCommits(ctx, sp) {
		if err != nil {
			return nil, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
		}
		all = append(all, c)
	}
	return all, nil
}

// inMemoryView is rebuildView as it was before it streamed.
func inMemoryView(a *applier, bc *batch, st *spaceState, d *acl.Decision) ([]Change, error) {
	sp := st.id
	byAuthor := map[keys.AuthorID][]*commit.Commit{}
	main := map[keys.CommitID]bool{}
	all, err := inMemoryInput(a, context.Background(), sp)
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		byAuthor[c.Author] = append(byAuthor[c.Author], c)
		main[c.ID] = true
	}
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
	for _, p := range [][]byte{cellPrefix, spaceKey(tagHistory, sp), spaceKey(tagErased, sp), spaceKey(tagLost, sp), spaceKey(tagDead, sp), policyKey(sp)} {
		if err := bc.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return nil, err
		}
	}
	if err := bc.b.Set(markKey(sp, markDead), nil, nil); err != nil {
		return nil, err
	}
	st.maxKey, st.hasMax, st.maxLoaded = nil, false, true
	st.view.Hash, st.view.Visible = view.Hash{}, 0

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
