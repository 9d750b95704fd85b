package snapshot

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// loadGains reads the gains of S(F)'s commits from src into s.gains.
func (s *sf) loadGains(ctx context.Context, src *store.Store) error {
	s.gains = map[keys.AuthorID][]store.GainRow{}
	for r, err := range src.Gains(ctx, s.sp) {
		if err != nil {
			return err
		}
		i, ok := s.idx[r.Author]
		if !ok {
			return fmt.Errorf("snapshot: gains of %s seq %d, an author not in the frontier", r.Author.Short(), r.Seq)
		}
		if r.Seq > s.frontier[i].Seq {
			continue // after F: the store's heads are past it
		}
		s.gains[r.Author] = append(s.gains[r.Author], r)
	}
	return nil
}

// causal encodes the causal section: the gains of S(F)'s commits that
// have any (loadGains).
func (s *sf) causal() ([]byte, error) {
	var rows []store.GainRow
	for _, h := range s.frontier {
		rows = append(rows, s.gains[h.Author]...)
	}
	return encodeCausal(s.idx, rows)
}

// encodeCausal encodes the causal section of rows, in (author, seq)
// order; idx maps each author to its index in the frontier.
func encodeCausal(idx map[keys.AuthorID]int, rows []store.GainRow) ([]byte, error) {
	n := 0
	for i, r := range rows {
		if i == 0 || r.Author != rows[i-1].Author {
			n++
		}
	}
	b := binary.AppendUvarint(nil, uint64(n))
	for i := 0; i < len(rows); {
		a := rows[i].Author
		j := i
		for j < len(rows) && rows[j].Author == a {
			j++
		}
		ai, ok := idx[a]
		if !ok {
			return nil, fmt.Errorf("snapshot: gains of %s, an author not in the frontier", a.Short())
		}
		b = binary.AppendUvarint(b, uint64(ai))
		b = binary.AppendUvarint(b, uint64(j-i))
		prev := uint64(0)
		for _, r := range rows[i:j] {
			b = binary.AppendUvarint(b, r.Seq-prev)
			prev = r.Seq
			b = binary.AppendUvarint(b, uint64(len(r.Gains)))
			for _, g := range r.Gains {
				gi, ok := idx[g.Author]
				if !ok {
					return nil, fmt.Errorf("snapshot: %s seq %d gained %s, an author not in the frontier", r.Author.Short(), r.Seq, g.Author.Short())
				}
				b = binary.AppendUvarint(b, uint64(gi))
				b = binary.AppendUvarint(b, g.Seq)
			}
		}
		i = j
	}
	return b, nil
}

// decision encodes the acl section: the commits of S(F) that do not
// count, the cuts and the tracked writes of S(F), read from src.
func (s *sf) decision(ctx context.Context, src *store.Store, voided map[acl.Loc]string) ([]byte, error) {
	var d Decision
	for l := range voided {
		if i, ok := s.idx[l.Author]; ok && l.Seq <= s.frontier[i].Seq {
			d.Invalid = append(d.Invalid, l)
		}
	}
	slices.SortFunc(d.Invalid, compareLoc)
	cs, err := src.Cuts(ctx, s.sp)
	if err != nil {
		return nil, err
	}
	for a, c := range cs {
		d.Cuts = append(d.Cuts, acl.Loc{Author: a, Seq: c})
	}
	slices.SortFunc(d.Cuts, compareLoc)
	ws, err := src.OnceWrites(ctx, s.sp)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if i, ok := s.idx[w.Author]; ok && w.Seq <= s.frontier[i].Seq {
			d.Once = append(d.Once, w)
		}
	}
	slices.SortFunc(d.Once, compareOnce) // the rows' order already
	return encodeACL(d), nil
}
