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

// rebuild recomputes a space's view from its stored commits, leaving out
// each forked author's commits from its fork seq on. It runs on the applier
// goroutine after a fork was found (or on load, if a crash came between),
// and returns the visible changes it made.
//
// It holds the space's commits in memory: forks are rare and a sign of a
// misbehaving author, so simplicity wins over streaming here.
func (a *applier) rebuild(sp keys.SpaceID) ([]Change, error) {
	st := a.spaces[sp]
	ctx := context.Background()
	cellPrefix := spaceKey(tagCell, sp)

	old := map[string]view.Entry{}
	var e err0
	for k, v := range a.s.scan(ctx, cellPrefix, false, &e) {
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

	byAuthor := map[keys.AuthorID][]*commit.Commit{}
	main := map[keys.CommitID]bool{}
	for sc, err := range a.s.AllCommits(ctx, sp) {
		if err != nil {
			return nil, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: rebuild: %v", ErrCorrupt, err)
		}
		byAuthor[c.Author] = append(byAuthor[c.Author], c)
		main[c.ID] = true
	}

	bc := a.newBatch()
	bc.fresh[sp] = true
	if err := bc.b.DeleteRange(cellPrefix, prefixEnd(cellPrefix), nil); err != nil {
		return nil, err
	}
	gp := spaceKey(tagGrant, sp)
	if err := bc.b.DeleteRange(gp, prefixEnd(gp), nil); err != nil {
		return nil, err
	}
	st.acl = acl.New(sp)
	st.authedFrom = map[keys.AuthorID]uint64{}
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
				if fs, forked := st.forked[au]; !forked || c.Seq < fs {
					auth, err := a.authorize(bc, st, c)
					if err != nil {
						return nil, err
					}
					if auth != nil {
						if err := a.addGrants(bc, st, auth.effective); err != nil {
							return nil, err
						}
					}
					if err := a.applyOps(bc, st, c, nil); err != nil {
						return nil, err
					}
				}
				done[c.ID] = true
				next[au]++
				progress = true
			}
		}
	}
	st.view.rebuild = false
	bc.dirty[sp] = st
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, fmt.Errorf("store: rebuild: %w", err)
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
