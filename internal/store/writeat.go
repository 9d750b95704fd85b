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
// held (below a checkpoint's floor), at its row's wall time. A private
// space's write this node cannot open is skipped. A store whose space
// predates the tagDead index (no markDead) may miss a superseded
// tombstone, and so return the write it deleted.
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
	// Superseded rows hold the write's wall time only: read the whole
	// time from its commit, for the candidates whose wall is not past at.
	type row struct {
		v    view.Version
		wall uint64 // a history row's wall time; 0 for a dead row (it holds none)
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
			if tag == tagHistory && len(w) == 8 {
				if r.wall = binary.BigEndian.Uint64(w); r.wall > at.Wall {
					continue // signed after at
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
	// commit reads, not a million. Dead rows (wall 0) are read last, all.
	slices.SortFunc(rows, func(x, y row) int { return cmp.Compare(y.wall, x.wall) })
	for _, r := range rows {
		if r.wall != 0 && bestOK && r.wall < best.Time.Wall {
			continue
		}
		e, held, err := s.writeOf(ctx, sp, key, r.v)
		switch {
		case err != nil:
			return view.Entry{}, false, err
		case held:
			consider(e)
		case r.wall != 0:
			// Its commit is not held (below a checkpoint's floor): a
			// write without a value, so that no earlier one is taken
			// for it.
			e := view.Entry{Version: r.v, Kind: commit.KindPut, Erased: true}
			e.Time.Wall = r.wall
			consider(e)
		}
	}
	return best, bestOK, nil
}

// writeOf reads write v to key from its stored commit: its signed time,
// kind and value (opened if sealed). held is false if the commit is not
// stored, or its op is not a write to key this node can read.
func (s *Store) writeOf(ctx context.Context, sp keys.SpaceID, key []byte, v view.Version) (e view.Entry, held bool, err error) {
	for sc, err := range s.Commits(ctx, sp, v.Author, v.Seq) {
		if err != nil {
			return view.Entry{}, false, err
		}
		if sc.Seq != v.Seq {
			return view.Entry{}, false, nil
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return view.Entry{}, false, fmt.Errorf("%w: commit %s seq %d: %v", ErrCorrupt, v.Author, v.Seq, err)
		}
		if int(v.Op) >= len(c.Ops) {
			return view.Entry{}, false, nil
		}
		o := c.Ops[v.Op]
		e := view.Entry{Version: view.Version{Time: c.Time, Author: v.Author, Seq: v.Seq, Op: v.Op}}
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
	return view.Entry{}, false, nil
}
