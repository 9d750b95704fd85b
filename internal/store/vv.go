package store

import (
	"bytes"
	"maps"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

type vvAt struct {
	seq uint64
	vv  view.VV
}

// commitVV computes c's version vector from its prev's and its deps'.
func (a *applier) commitVV(bc *batch, st *spaceState, c *commit.Commit) (view.VV, error) {
	vv := view.VV{}
	if c.Seq > 1 {
		p, err := a.vvOf(bc, st, c.Author, c.Seq-1)
		if err != nil {
			return nil, err
		}
		vv.Merge(p)
	}
	for _, d := range c.Deps {
		l, ok, err := a.locate(bc, st.id, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		dv, err := a.vvOf(bc, st, l.author, l.seq)
		if err != nil {
			return nil, err
		}
		vv.Merge(dv)
	}
	vv[c.Author] = c.Seq
	return vv, nil
}

// vvOf returns the version vector of the commit (au, seq): the latest stored
// vector of au at or below seq, raised to seq.
func (a *applier) vvOf(bc *batch, st *spaceState, au keys.AuthorID, seq uint64) (view.VV, error) {
	if v, ok := bc.vvs[authorSeq{st.id, au, seq}]; ok {
		return v, nil
	}
	var base view.VV
	if l, ok := st.lastVV[au]; ok && l.seq <= seq {
		base = l.vv
	} else {
		// Rows of this batch are the newest of their author: look there first.
		best := uint64(0)
		for k, v := range bc.vvs {
			if k.sp == st.id && k.author == au && k.seq <= seq && k.seq > best {
				best, base = k.seq, v
			}
		}
		if best == 0 {
			var err error
			if base, err = a.storedVV(st.id, au, seq); err != nil {
				return nil, err
			}
		}
	}
	out := maps.Clone(base)
	if out == nil {
		out = view.VV{}
	}
	if out[au] < seq {
		out[au] = seq
	}
	return out, nil
}

func (a *applier) storedVV(sp keys.SpaceID, au keys.AuthorID, seq uint64) (view.VV, error) {
	lower := spaceKey(tagVV, sp, au[:])
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: vvKey(sp, au, seq+1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Last() {
		return nil, it.Error()
	}
	return view.DecodeVV(bytes.Clone(it.Value()))
}
