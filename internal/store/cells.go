package store

import (
	"bytes"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

type cellState struct {
	key   []byte
	cell  view.Cell
	dirty bool
	one   [1]view.Entry // backs cell.Live for a new key, saving an allocation
}

// applyOps adds c's ops to the view. p is c's causal past if already
// computed, else nil (computed on first need).
func (a *applier) applyOps(bc *batch, st *spaceState, c *commit.Commit, p *past) error {
	var vvErr error
	seenBy := func(i int) view.SeenFunc {
		return func(e *view.Entry) bool {
			if e.Author == c.Author {
				return e.Seq < c.Seq || (e.Seq == c.Seq && int(e.Op) < i)
			}
			if p == nil && vvErr == nil {
				p, vvErr = a.pastOf(bc, st, c)
			}
			return vvErr == nil && p.saw(e.Author, e.Seq)
		}
	}
	for i := range c.Ops {
		o := &c.Ops[i]
		switch {
		case o.Kind.IsData():
			e := view.Entry{
				Version: view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)},
				Kind:    o.Kind,
				Value:   o.Payload,
			}
			if o.Erased { // it arrived erased: lost until an erase that counts names it
				e.Erased, e.Lost, e.PayloadDigest, e.PayloadLen = true, true, o.PayloadDigest, o.PayloadLen
				if err := a.markLost(bc, st.id, c.ID, o.Key, &e); err != nil {
					return err
				}
			}
			if err := a.applyData(bc, st, o, e, c.OpDigest(i), seenBy(i)); err != nil {
				return err
			}
			if vvErr != nil {
				return vvErr
			}
		case o.Kind == commit.KindRetention:
			if err := a.applyRetention(bc, st, c, i); err != nil {
				return err
			}
		case o.Kind == commit.KindErase:
			seen := seenBy(len(c.Ops))
			if err := a.applyErase(bc, st, c, i, func(au keys.AuthorID, seq uint64) bool {
				return seen(&view.Entry{Version: view.Version{Author: au, Seq: seq}})
			}); err != nil {
				return err
			}
			if vvErr != nil {
				return vvErr
			}
		case o.Kind == commit.KindRotate && !o.Erased:
			if err := bc.b.Set(rotationKey(st.id, c.Author, c.Seq, uint32(i)), o.Payload, nil); err != nil {
				return err
			}
			if a.s.rotated != nil {
				a.s.rotated(st.id, isGenesis(c), o.Payload)
			}
		case o.Kind == commit.KindSealed && a.s.unseal != nil && !o.Erased:
			po, ok := a.s.unseal(st.id, c.Epoch, o.Payload)
			if !ok {
				continue // no key for the epoch, or garbage: not in the view
			}
			e := view.Entry{
				Version: view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)},
				Kind:    po.Kind,
				Value:   po.Payload,
			}
			if err := a.applyData(bc, st, &po, e, view.EntryDigest(po.Key, &e), seenBy(i)); err != nil {
				return err
			}
			if vvErr != nil {
				return vvErr
			}
		}
	}
	return nil
}

// applyData applies one write; digest is its op digest (view.EntryDigest).
func (a *applier) applyData(bc *batch, st *spaceState, o *commit.Op, e view.Entry, digest keys.Digest, seen view.SeenFunc) error {
	cs, err := a.cell(bc, st, o.Key)
	if err != nil {
		return err
	}
	old, hadOld := cs.cell.Winner()
	for i := range cs.cell.Live {
		if cs.cell.Live[i].Version == e.Version {
			return nil // held already
		}
	}
	if err := a.indexSuperseded(bc, st, o.Key, cs, seen); err != nil {
		return err
	}
	if !cs.cell.Apply(e, seen) {
		return nil
	}
	cs.dirty = true
	nw, _ := cs.cell.Winner()
	if hadOld && old.Version == nw.Version {
		return nil // a concurrent write lost: visible state unchanged
	}
	if hadOld && old.Visible() {
		st.view.Hash.Toggle(view.EntryDigest(o.Key, &old))
		st.view.Visible--
	}
	if nw.Visible() {
		if nw.Version != e.Version { // an older live write won again (not reachable in causal order)
			digest = view.EntryDigest(o.Key, &nw)
		}
		st.view.Hash.Toggle(digest)
		st.view.Visible++
	}
	bc.changes = append(bc.changes, Change{Key: o.Key, Entry: nw})
	return nil
}

func (a *applier) cell(bc *batch, st *spaceState, key []byte) (*cellState, error) {
	sp := st.id
	bc.kbuf = append(append(append(bc.kbuf[:0], tagCell), sp[:]...), key...)
	if cs, ok := bc.cells[string(bc.kbuf)]; ok { // no allocation for a map lookup
		return cs, nil
	}
	ks := string(bc.kbuf)
	if len(bc.slab) == 0 {
		bc.slab = make([]cellState, 256)
	}
	cs := &bc.slab[0]
	bc.slab = bc.slab[1:]
	cs.key = unsafe.Slice(unsafe.StringData(ks), len(ks)) // read-only view of the map key
	cs.cell.Live = cs.one[:0]
	if !st.maxLoaded {
		if err := a.loadMaxKey(st); err != nil {
			return nil, err
		}
	}
	beyond := !st.hasMax || bytes.Compare(key, st.maxKey) > 0
	if beyond {
		st.maxKey, st.hasMax = key, true // aliases the commit, which outlives the batch
	}
	if !beyond && (!bc.fresh[sp] || st.piecedCells) {
		var c view.Cell
		var ok bool
		var err error
		if bc.fresh[sp] { // a rebuild's earlier piece wrote it (rebuild.go)
			c, ok, err = a.pieceCell(st, cs.key)
		} else {
			c, ok, err = a.s.storedCell(cs.key)
		}
		if err != nil {
			return nil, err
		}
		if ok {
			cs.cell = c
		}
	}
	bc.cells[ks] = cs
	return cs, nil
}

func (a *applier) loadMaxKey(st *spaceState) error {
	p := spaceKey(tagCell, st.id)
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() {
		st.maxKey, st.hasMax = bytes.Clone(it.Key()[len(p):]), true
	}
	st.maxLoaded = true
	return it.Error()
}
