package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// WinnerAt returns the write to key that the key's cell showed as of
// time at: of the writes to key held here (live, superseded, deleted or
// erased) signed at or before at, the greatest by the view's order
// (view.Version.Compare), which is the winner the cell held when only
// they were applied (a write that superseded it saw it, so is signed
// after it). ok is false if no such write is held.
//
// It reads the key's cell and its rows of the superseded-writes index
// (tagHistory) and of superseded tombstones and erased writes (tagDead),
// then the value of a superseded write from its stored commit (a private
// space's sealed op opened with Options.Unseal). A write whose payload
// retention or an erase dropped is returned Erased, without a value (its
// row stays, in tagDead); so is a superseded write whose commit is not
// held (below a checkpoint's floor), at its row's wall time; a superseded
// tombstone or erased write whose commit is not held is returned as its
// dead row has it (time and kind; rows written before session 13 have
// neither, and such a write is skipped). A private space's write this
// node cannot open is skipped. A store whose space predates the tagDead
// index (no markDead) may miss a superseded tombstone, and so return the
// write it deleted. A replica installed from a checkpoint holds no rows
// of the writes superseded before its floor: as of a time before the
// floor, it may answer otherwise than a full replica.
//
// It costs one cell read, two prefix scans of the key's rows, and commit
// reads of the superseded writes latest at or before at (by their rows'
// wall times: usually one) and of every superseded tombstone and erased
// write: for reading the past of a few keys, not of a whole space.
func (s *Store) WinnerAt(ctx context.Context, sp keys.SpaceID, key []byte, at commit.HLC) (view.Entry, bool, error) {
	var best view.Entry
	var bestOK bool
	consider := func(e view.Entry) {
		if e.Time.Compare(at) > 0 || bestOK && e.Version.Compare(best.Version) <= 0 {
			return
		}
		best, bestOK = e, true
	}
	c, err := s.cell(sp, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return view.Entry{}, false, err
	}
	for _, e := range c.Live {
		consider(e)
	}
	// Superseded rows hold the write's wall time (history rows) or its
	// time and kind (dead rows since session 13): read the write from its
	// commit, for the candidates not signed after at; where the commit
	// is not held, the row stands in for it.
	type row struct {
		v     view.Version
		wall  uint64      // the write's wall time; 0 for an older dead row (it holds none)
		stand *view.Entry // the write without its value, for when its commit is not held
	}
	var rows []row
	for _, tag := range []byte{tagHistory, tagDead} {
		p := spaceKey(tag, sp, key)
		var e err0
		for k, w := range s.scan(ctx, p, false, &e) {
			const suffix = keys.Size + 8 + 4
			rest := k[len(p):]
			if len(rest) != suffix {
				continue // a longer key with key as its prefix
			}
			r := row{}
			switch {
			case tag == tagHistory && len(w) == 8:
				if r.wall = binary.BigEndian.Uint64(w); r.wall > at.Wall {
					continue // signed after at
				}
				// A write without a value, so that no earlier one is
				// taken for it.
				r.stand = &view.Entry{Kind: commit.KindPut, Erased: true}
				r.stand.Time.Wall = r.wall
			case tag == tagDead:
				if e, ok := decodeDeadValue(w); ok {
					if e.Time.Compare(at) > 0 {
						continue // signed after at
					}
					r.wall, r.stand = e.Time.Wall, &e
				}
			}
			copy(r.v.Author[:], rest)
			r.v.Seq = binary.BigEndian.Uint64(rest[keys.Size:])
			r.v.Op = binary.BigEndian.Uint32(rest[keys.Size+8:])
			rows = append(rows, r)
		}
		if e.err != nil {
			return view.Entry{}, false, e.err
		}
	}
	// Latest wall time first: once a row's wall is before the best
	// write's, no later row can be greater (the view's order compares
	// times first), so a key rewritten a million times costs a few
	// commit reads, not a million. Older dead rows (wall 0) are read
	// last, all.
	slices.SortFunc(rows, func(x, y row) int { return cmp.Compare(y.wall, x.wall) })
	for _, r := range rows {
		if r.wall != 0 && bestOK && r.wall < best.Time.Wall {
			continue
		}
		e, held, stored, err := s.writeOf(ctx, sp, key, r.v)
		switch {
		case err != nil:
			return view.Entry{}, false, err
		case held:
			consider(e)
		case !stored && r.stand != nil: // below a checkpoint's floor
			e := *r.stand
			e.Author, e.Seq, e.Op = r.v.Author, r.v.Seq, r.v.Op
			consider(e)
		}
	}
	return best, bestOK, nil
}

// writeOf reads write v to key from its stored commit: its signed time,
// kind and value (opened if sealed). held is false if the commit is not
// stored (stored is false), or its op is not a write to key this node can
// read.
func (s *Store) writeOf(ctx context.Context, sp keys.SpaceID, key []byte, v view.Version) (e view.Entry, held, stored bool, err error) {
	for sc, err := range s.Commits(ctx, sp, v.Author, v.Seq) {
		if err != nil {
			return view.Entry{}, false, false, err
		}
		if sc.Seq != v.Seq {
			return view.Entry{}, false, false, nil
		}
		e, held, err := s.opWrite(sp, sc.Bytes, key, v)
		return e, held, true, err
	}
	return view.Entry{}, false, false, nil
}

// opWrite reads write v to key from its commit's bytes b (see writeOf).
func (s *Store) opWrite(sp keys.SpaceID, b, key []byte, v view.Version) (e view.Entry, held bool, err error) {
	c, err := commit.Decode(b)
	if err != nil {
		return view.Entry{}, false, fmt.Errorf("%w: commit %s seq %d: %v", ErrCorrupt, v.Author, v.Seq, err)
	}
	if int(v.Op) >= len(c.Ops) {
		return view.Entry{}, false, nil
	}
	o := c.Ops[v.Op]
	e = view.Entry{Version: view.Version{Time: c.Time, Author: v.Author, Seq: v.Seq, Op: v.Op}}
	switch {
	case o.Erased:
		// Erased: no value; a sealed op's key is not known, the row
		// names it under key.
		e.Kind, e.Erased = o.Kind, true
		if o.Kind == commit.KindSealed {
			e.Kind = commit.KindPut
		}
		return e, o.Kind == commit.KindSealed || o.Kind.IsData() && bytes.Equal(o.Key, key), nil
	case o.Kind == commit.KindSealed:
		if s.unseal == nil {
			return view.Entry{}, false, nil
		}
		po, ok := s.unseal(sp, c.Epoch, o.Payload)
		if !ok {
			return view.Entry{}, false, nil
		}
		o = po
	}
	if !o.Kind.IsData() || !bytes.Equal(o.Key, key) {
		return view.Entry{}, false, nil
	}
	e.Kind, e.Value = o.Kind, o.Payload
	return e, true, nil
}
