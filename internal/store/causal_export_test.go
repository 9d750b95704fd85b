package store

import (
	"context"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Knower returns a function that answers K(author, seq) (for each other
// author, the highest seq in the causal past of that commit) as a fresh
// applier folds it from the stored gains, keeping at most budget bytes of
// knowledge vectors. It only reads: use it while no request is applied.
func Knower(s *Store, sp keys.SpaceID, budget int) (func(au keys.AuthorID, seq uint64) (map[keys.AuthorID]uint64, error), error) {
	a := &applier{s: s, spaces: map[keys.SpaceID]*spaceState{}}
	st, err := a.load(sp)
	if err != nil {
		return nil, err
	}
	return func(au keys.AuthorID, seq uint64) (map[keys.AuthorID]uint64, error) {
		saved := knowBudget
		knowBudget = budget
		defer func() { knowBudget = saved }()
		bc := &batch{pasts: map[authorSeq][]gain{}, from: map[authorSeq]uint64{}}
		k, err := a.knownAt(bc, st, au, seq)
		if err != nil {
			return nil, err
		}
		out := map[keys.AuthorID]uint64{}
		for y, i := range st.nums {
			if int(i) < len(k.vec) && k.vec[i] > 0 {
				out[y] = k.vec[i]
			}
		}
		return out, nil
	}, nil
}

// WriteOldVectors rewrites space sp's causal rows as versions before #16
// wrote them: the whole version vector (its own author included) of each
// main-chain commit with deps, tag 0x13, and no gains. vv gives a
// commit's vector. Close the store after: its caches are stale.
func WriteOldVectors(s *Store, sp keys.SpaceID, vv func(au keys.AuthorID, seq uint64) (view.VV, bool)) error {
	b := s.db.NewBatch()
	defer b.Close()
	p := spaceKey(tagPast, sp)
	if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
		return err
	}
	for sc, err := range s.AllCommits(context.Background(), sp) {
		if err != nil {
			return err
		}
		v, ok := vv(sc.Author, sc.Seq)
		if !ok {
			continue
		}
		if err := b.Set(vvKey(sp, sc.Author, sc.Seq), view.AppendVV(nil, v), nil); err != nil {
			return err
		}
	}
	return b.Commit(nil)
}
