package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/loamdb/loam/internal/keys"
)

// Rotation is a rotate op of a commit the store applied to a space's
// view: its payload (commit.DecodeRotate) and where it is.
type Rotation struct {
	Author  keys.AuthorID
	Seq     uint64
	Op      uint32
	Genesis bool // in the space's genesis commit (which makes it private)
	Payload []byte
}

// Rotations yields the rotate ops applied to a space's view, in author,
// seq and op order: what Options.Rotated was given, kept durably with the
// commits, so that a node that stopped before it saved a key it learnt
// from one learns it again. Stores written before this index began hold
// no rows for older rotations (their keys were saved when learnt).
func (s *Store) Rotations(ctx context.Context, sp keys.SpaceID) iter.Seq2[Rotation, error] {
	return func(yield func(Rotation, error) bool) {
		var e err0
		for k, v := range s.scan(ctx, spaceKey(tagRotation, sp), false, &e) {
			r, err := decodeRotationRow(k, v)
			if !yield(r, err) || err != nil {
				return
			}
		}
		if e.err != nil {
			yield(Rotation{}, fmt.Errorf("store: rotations: %w", e.err))
		}
	}
}

// decodeRotationRow decodes a rotation index row; the payload is a copy.
func decodeRotationRow(k, v []byte) (Rotation, error) {
	if len(k) != 1+2*keys.Size+8+4 {
		return Rotation{}, fmt.Errorf("%w: rotation row", ErrCorrupt)
	}
	r := Rotation{
		Author:  keys.AuthorID(k[1+keys.Size:]),
		Seq:     binary.BigEndian.Uint64(k[1+2*keys.Size:]),
		Op:      binary.BigEndian.Uint32(k[1+2*keys.Size+8:]),
		Payload: bytes.Clone(v),
	}
	r.Genesis = r.Author == keys.AuthorID(k[1:1+keys.Size]) && r.Seq == 1
	return r, nil
}
