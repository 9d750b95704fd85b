package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble/v2"

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
	for _, tag := range []byte{tagPast, tagGains, tagAuthorNum} {
		p := spaceKey(tag, sp)
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
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

// appendOldGains encodes gains as rows written before session 11 held
// them (eachOldGain).
func appendOldGains(dst []byte, gs []oldGain) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(gs)))
	for _, g := range gs {
		dst = append(dst, g.author[:]...)
		dst = binary.AppendUvarint(dst, g.seq)
	}
	return dst
}

// WriteOldGains rewrites space sp's gains rows as versions before
// session 11 wrote them: authors by ID (tag 0x15), no author numbers.
// Close the store after: its caches are stale.
func WriteOldGains(s *Store, sp keys.SpaceID) error {
	st := newSpaceState(sp)
	if err := s.loadNumbers(context.Background(), st); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	p := spaceKey(tagGains, sp)
	var e err0
	for k, v := range s.scan(context.Background(), p, false, &e) {
		num, seq := binary.BigEndian.Uint32(k[len(p):]), binary.BigEndian.Uint64(k[len(p)+4:])
		gs, err := decodeGains(v, len(st.authors))
		if err != nil {
			return err
		}
		old := make([]oldGain, len(gs))
		for i, g := range gs {
			old[i] = oldGain{author: st.authors[g.num], seq: g.seq}
		}
		slices.SortFunc(old, func(x, y oldGain) int { return bytes.Compare(x.author[:], y.author[:]) })
		if err := b.Set(pastKey(sp, st.authors[num], seq), appendOldGains(nil, old), nil); err != nil {
			return err
		}
	}
	if e.err != nil {
		return e.err
	}
	for _, tag := range []byte{tagGains, tagAuthorNum} {
		p := spaceKey(tag, sp)
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	return b.Commit(nil)
}

// SetConvertPiece sets how many old rows a load converts per batch, and
// returns a function that restores it.
func SetConvertPiece(n int) func() {
	saved := convertRowsPiece
	convertRowsPiece = n
	return func() { convertRowsPiece = saved }
}

var errPowerCut = errors.New("power cut (test)")

// ConvertVVsCut converts space sp's old version vectors as a load
// does, but stops (as a power cut would) before the second piece's batch
// is committed: the first piece is durable. Use it while no request is
// applied; close the store after.
func ConvertVVsCut(s *Store, sp keys.SpaceID) (err error) {
	s.publish() // the rows WriteOldVectors committed
	a := &applier{s: s, spaces: map[keys.SpaceID]*spaceState{}}
	st := newSpaceState(sp)
	if err := s.loadNumbers(context.Background(), st); err != nil {
		return err
	}
	n := 0
	s.batchSeen = func(*pebble.Batch) {
		if n++; n == 2 {
			panic(errPowerCut)
		}
	}
	defer func() {
		s.batchSeen = nil
		if p := recover(); p != nil && p != errPowerCut {
			panic(p)
		}
	}()
	return a.convertVVs(st)
}
