package snapshot

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/store"
)

// causal encodes the causal section: the gains of S(F)'s commits that
// have any, read from src.
func (s *sf) causal(ctx context.Context, src *store.Store) ([]byte, error) {
	rows := make([][]store.GainRow, len(s.frontier))
	for r, err := range src.Gains(ctx, s.sp) {
		if err != nil {
			return nil, err
		}
		i, ok := s.idx[r.Author]
		if !ok {
			return nil, fmt.Errorf("snapshot: gains of %s seq %d, an author not in the frontier", r.Author.Short(), r.Seq)
		}
		if r.Seq > s.frontier[i].Seq {
			continue // after F: the store's heads are past it
		}
		rows[i] = append(rows[i], r)
	}
	n := 0
	for _, rs := range rows {
		if len(rs) > 0 {
			n++
		}
	}
	b := binary.AppendUvarint(nil, uint64(n))
	for i, rs := range rows {
		if len(rs) == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = binary.AppendUvarint(b, uint64(len(rs)))
		prev := uint64(0)
		for _, r := range rs {
			b = binary.AppendUvarint(b, r.Seq-prev)
			prev = r.Seq
			b = binary.AppendUvarint(b, uint64(len(r.Gains)))
			for _, g := range r.Gains {
				gi, ok := s.idx[g.Author]
				if !ok {
					return nil, fmt.Errorf("snapshot: %s seq %d gained %s, an author not in the frontier", r.Author.Short(), r.Seq, g.Author.Short())
				}
				b = binary.AppendUvarint(b, uint64(gi))
				b = binary.AppendUvarint(b, g.Seq)
			}
		}
	}
	return b, nil
}

// decision encodes the acl section: the commits of S(F) that do not
// count, and the cuts, read from src.
func (s *sf) decision(ctx context.Context, src *store.Store) ([]byte, error) {
	voided, err := src.Voided(ctx, s.sp)
	if err != nil {
		return nil, err
	}
	var invalid []locOf
	for l := range voided {
		if i, ok := s.idx[l.Author]; ok && l.Seq <= s.frontier[i].Seq {
			invalid = append(invalid, locOf{l.Author, l.Seq})
		}
	}
	slices.SortFunc(invalid, compareLoc)
	cs, err := src.Cuts(ctx, s.sp)
	if err != nil {
		return nil, err
	}
	cuts := make([]locOf, 0, len(cs))
	for a, c := range cs {
		cuts = append(cuts, locOf{a, c})
	}
	slices.SortFunc(cuts, compareLoc)
	return encodeACL(invalid, cuts), nil
}
