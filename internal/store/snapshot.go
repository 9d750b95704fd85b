package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Read-only accessors for package snapshot (#14, checkpoints): the rows a
// checkpoint's sections summarize, as this store holds them now.

// CellRow is one key's cell: its live writes, a tombstone or an erased
// write included.
type CellRow struct {
	Key  []byte
	Cell view.Cell
}

// Cells yields every non-empty cell of a space in key order, tombstoned
// keys included. Keys and values are copies the caller may keep.
func (s *Store) Cells(ctx context.Context, sp keys.SpaceID) iter.Seq2[CellRow, error] {
	return s.CellsUnder(ctx, sp, nil)
}

// CellsUnder yields the non-empty cells of the keys under prefix, as
// Cells does.
func (s *Store) CellsUnder(ctx context.Context, sp keys.SpaceID, prefix []byte) iter.Seq2[CellRow, error] {
	p := cellKey(sp, prefix)
	skip := 1 + keys.Size
	return func(yield func(CellRow, error) bool) {
		var e err0
		for k, v := range s.scan(ctx, p, false, &e) {
			c, err := view.DecodeCell(bytes.Clone(v))
			if err != nil {
				yield(CellRow{}, fmt.Errorf("%w: cell %q: %v", ErrCorrupt, k[skip:], err))
				return
			}
			if !yield(CellRow{Key: bytes.Clone(k[skip:]), Cell: c}, nil) {
				return
			}
		}
		if e.err != nil {
			yield(CellRow{}, fmt.Errorf("store: cells: %w", e.err))
		}
	}
}

// Gain is one entry of a commit's gains: Author's entry of its knowledge
// rose to Seq (docs/design.md, "Causality without vectors per commit").
type Gain struct {
	Author keys.AuthorID
	Seq    uint64
}

// GainRow is the gains of the main-chain commit (Author, Seq), sorted by
// author. A commit that gained nothing has no row.
type GainRow struct {
	Author keys.AuthorID
	Seq    uint64
	Gains  []Gain
}

// Gains yields a space's gain rows by author, then seq: those of the
// authors this store had met when it was called.
func (s *Store) Gains(ctx context.Context, sp keys.SpaceID) iter.Seq2[GainRow, error] {
	return func(yield func(GainRow, error) bool) {
		// Rows written before session 11 (by author ID) are converted when
		// the applier first loads the space: have it load the space first,
		// or they would be left out.
		if old, err := s.holdsOldGains(ctx, sp); err != nil || old {
			if err == nil {
				_, err = s.Apply(ctx, sp, nil)
			}
			if err != nil {
				yield(GainRow{}, fmt.Errorf("store: gains: converting the rows written before session 11: %w", err))
				return
			}
		}
		st := newSpaceState(sp)
		if err := s.loadNumbers(ctx, st); err != nil {
			yield(GainRow{}, fmt.Errorf("store: gains: %w", err))
			return
		}
		byID := make([]uint32, len(st.authors))
		for i := range byID {
			byID[i] = uint32(i)
		}
		slices.SortFunc(byID, func(x, y uint32) int { return bytes.Compare(st.authors[x][:], st.authors[y][:]) })
		for _, num := range byID {
			p := gainsKey(sp, num, 0)[:1+keys.Size+4]
			var e err0
			for k, v := range s.scan(ctx, p, false, &e) {
				gs, err := decodeGains(v, len(st.authors))
				if err != nil {
					// A row written since the numbers were read may name
					// an author numbered since: numbers only grow.
					again := newSpaceState(sp)
					if err := s.loadNumbers(ctx, again); err != nil {
						yield(GainRow{}, fmt.Errorf("store: gains: %w", err))
						return
					}
					st.authors = again.authors
					gs, err = decodeGains(v, len(st.authors))
				}
				if err != nil || len(k) != len(p)+8 {
					yield(GainRow{}, fmt.Errorf("%w: gains row %x: %v", ErrCorrupt, k, err))
					return
				}
				r := GainRow{Author: st.authors[num], Seq: binary.BigEndian.Uint64(k[len(p):]), Gains: make([]Gain, len(gs))}
				for i, g := range gs {
					r.Gains[i] = Gain{Author: st.authors[g.num], Seq: g.seq}
				}
				slices.SortFunc(r.Gains, func(x, y Gain) int { return bytes.Compare(x.Author[:], y.Author[:]) })
				if !yield(r, nil) {
					return
				}
			}
			if e.err != nil {
				yield(GainRow{}, fmt.Errorf("store: gains: %w", e.err))
				return
			}
		}
	}
}

// holdsOldGains reports whether sp has rows of the forms its causal
// index had before session 11 (tagVV, tagPast), which load converts.
func (s *Store) holdsOldGains(ctx context.Context, sp keys.SpaceID) (bool, error) {
	for _, tag := range []byte{tagVV, tagPast} {
		var e err0
		for range s.scan(ctx, spaceKey(tag, sp), false, &e) {
			return true, nil
		}
		if e.err != nil {
			return false, e.err
		}
	}
	return false, nil
}

// Cuts returns a space's revocation cuts: each revoked author's commits
// with a seq above its cut do not count.
func (s *Store) Cuts(ctx context.Context, sp keys.SpaceID) (map[keys.AuthorID]uint64, error) {
	return s.cutRows(ctx, sp)
}
