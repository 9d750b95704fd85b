package commit

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNotFork is returned for a pair of commits that is not fork evidence.
var ErrNotFork = errors.New("not a fork")

// Fork is evidence of equivocation: two validly signed commits by one author
// with the same space and seq and different IDs. A is the one with the
// smaller ID, so every node holds the same evidence in the same order.
type Fork struct {
	A, B *Commit
}

// NewFork checks that a and b are fork evidence and orders them.
func NewFork(a, b *Commit) (Fork, error) {
	if a.Space != b.Space || a.Author != b.Author || a.Seq != b.Seq {
		return Fork{}, fmt.Errorf("%w: %s and %s differ in space, author or seq", ErrNotFork, a, b)
	}
	if a.ID == b.ID {
		return Fork{}, fmt.Errorf("%w: %s is the same commit twice", ErrNotFork, a)
	}
	for _, c := range []*Commit{a, b} {
		if err := c.VerifySig(); err != nil {
			return Fork{}, fmt.Errorf("%w: %v", ErrNotFork, err)
		}
	}
	if bytes.Compare(a.ID[:], b.ID[:]) > 0 {
		a, b = b, a
	}
	return Fork{A: a, B: b}, nil
}

type wireFork struct {
	_ struct{} `cbor:",toarray"`
	A []byte
	B []byte
}

// Encode returns the evidence as a CBOR array of the two encoded commits.
func (f Fork) Encode() []byte { return marshal(wireFork{A: f.A.Bytes(), B: f.B.Bytes()}) }

// DecodeFork parses and fully checks fork evidence received from a peer.
func DecodeFork(b []byte) (Fork, error) {
	if len(b) > 2*MaxCommitSize+16 {
		return Fork{}, fmt.Errorf("%w: evidence is %d bytes", ErrMalformed, len(b))
	}
	var w wireFork
	if err := closedDec.Unmarshal(b, &w); err != nil {
		return Fork{}, fmt.Errorf("%w: fork evidence: %v", ErrMalformed, err)
	}
	a, err := Decode(w.A)
	if err != nil {
		return Fork{}, fmt.Errorf("fork evidence A: %w", err)
	}
	c, err := Decode(w.B)
	if err != nil {
		return Fork{}, fmt.Errorf("fork evidence B: %w", err)
	}
	f, err := NewFork(a, c)
	if err != nil {
		return Fork{}, err
	}
	if f.A != a {
		return Fork{}, fmt.Errorf("%w: fork evidence is not in canonical order", ErrMalformed)
	}
	return f, nil
}
