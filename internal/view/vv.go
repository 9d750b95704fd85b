package view

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/keys"
)

// VV is a version vector: for each author, the highest seq in a commit's
// causal past (including the commit itself).
type VV map[keys.AuthorID]uint64

// Saw reports whether the vector covers seq of author.
func (v VV) Saw(author keys.AuthorID, seq uint64) bool { return v[author] >= seq }

// Merge raises v to cover o.
func (v VV) Merge(o VV) {
	for a, s := range o {
		if s > v[a] {
			v[a] = s
		}
	}
}

// AppendVV appends a canonical encoding: uvarint(n), then per author in
// byte order: author (32), uvarint seq.
func AppendVV(dst []byte, v VV) []byte {
	authors := make([]keys.AuthorID, 0, len(v))
	for a := range v {
		authors = append(authors, a)
	}
	slices.SortFunc(authors, func(a, b keys.AuthorID) int { return bytes.Compare(a[:], b[:]) })
	dst = binary.AppendUvarint(dst, uint64(len(authors)))
	for _, a := range authors {
		dst = append(dst, a[:]...)
		dst = binary.AppendUvarint(dst, v[a])
	}
	return dst
}

// DecodeVV parses AppendVV's encoding strictly.
func DecodeVV(b []byte) (VV, error) {
	r := reader{b: b}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(b))/keys.Size {
		return nil, fmt.Errorf("%w: bad version vector length", ErrCorrupt)
	}
	v := make(VV, n)
	var prev keys.AuthorID
	for i := range n {
		var a keys.AuthorID
		copy(a[:], r.take(keys.Size))
		if i > 0 && bytes.Compare(prev[:], a[:]) >= 0 {
			return nil, fmt.Errorf("%w: version vector authors out of order", ErrCorrupt)
		}
		prev = a
		v[a] = r.uvarint()
	}
	if r.err != nil || len(r.b) != 0 || len(v) != int(n) {
		return nil, fmt.Errorf("%w: bad version vector", ErrCorrupt)
	}
	return v, nil
}
