package commit

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/keys"
)

// KindErase erases the payloads of earlier ops (format §7, "Erase"): its
// payload is an Erase. It is in the clear in private spaces too, so that
// a blind seeder drops the sealed payloads and blobs it names.
const KindErase Kind = 23

// Erase names the ops whose payloads every replica drops: each target is
// an erasable op (a data or sealed op: its payload is erased, format §6)
// or a blob op (the sealed blob it names is dropped; the op stays).
// Targets are sorted by (author, seq, op), distinct, 1..MaxEraseTargets.
type Erase struct {
	Targets []EraseTarget
}

// EraseTarget is one op of an earlier commit. Author, Seq and ID name the
// commit (the ID tells a forked seq's commits apart); Key repeats the op's
// key when it is a data op in the clear, so that admins of a prefix may
// erase under it (package acl decides from the target as named; a store
// applies only targets whose names match the commit it holds).
type EraseTarget struct {
	Author keys.AuthorID
	Seq    uint64
	ID     keys.CommitID
	Op     uint32
	Key    []byte
}

// MaxEraseTargets bounds the targets of one erase op (with 4 KiB keys an
// op stays under MaxValueSize only when keys are short; Build checks).
const MaxEraseTargets = 512

type wireErase struct {
	Targets []wireEraseTarget `cbor:"1,keyasint"`
}

type wireEraseTarget struct {
	Author []byte `cbor:"1,keyasint"`
	Seq    uint64 `cbor:"2,keyasint"`
	ID     []byte `cbor:"3,keyasint"`
	Op     uint64 `cbor:"4,keyasint"`
	Key    []byte `cbor:"5,keyasint,omitempty"`
}

func compareTargets(a, b EraseTarget) int {
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
		return c
	}
	if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Op, b.Op)
}

// EraseOp returns the op erasing e's targets, sorted. It fails for no
// targets, too many, or a payload over MaxValueSize (split the targets).
func EraseOp(e Erase) (Op, error) {
	ts := slices.Clone(e.Targets)
	slices.SortFunc(ts, compareTargets)
	ts = slices.CompactFunc(ts, func(a, b EraseTarget) bool { return compareTargets(a, b) == 0 })
	if len(ts) == 0 || len(ts) > MaxEraseTargets {
		return Op{}, fmt.Errorf("commit: an erase names %d ops, want 1..%d (split it)", len(ts), MaxEraseTargets)
	}
	w := wireErase{Targets: make([]wireEraseTarget, len(ts))}
	for i, t := range ts {
		w.Targets[i] = wireEraseTarget{Author: t.Author[:], Seq: t.Seq, ID: t.ID[:], Op: uint64(t.Op), Key: t.Key}
	}
	o := Op{Kind: KindErase, Payload: marshal(w)}
	if len(o.Payload) > MaxValueSize {
		return Op{}, fmt.Errorf("commit: an erase of %d ops is %d bytes, the limit is %d (split it)", len(ts), len(o.Payload), MaxValueSize)
	}
	return o, nil
}

// DecodeErase parses an erase op's payload strictly: targets sorted and
// distinct, each with a seq from 1, an op index under MaxOps and a key of
// at most MaxKeySize.
func DecodeErase(o Op) (Erase, error) {
	var w wireErase
	if err := decodeControl(o, KindErase, &w); err != nil {
		return Erase{}, err
	}
	if len(w.Targets) == 0 || len(w.Targets) > MaxEraseTargets {
		return Erase{}, fmt.Errorf("%w: erase names %d ops, want 1..%d", ErrMalformed, len(w.Targets), MaxEraseTargets)
	}
	e := Erase{Targets: make([]EraseTarget, len(w.Targets))}
	for i, wt := range w.Targets {
		t := &e.Targets[i]
		if err := id32((*[32]byte)(&t.Author), wt.Author, "erase target author"); err != nil {
			return Erase{}, err
		}
		if err := id32((*[32]byte)(&t.ID), wt.ID, "erase target commit"); err != nil {
			return Erase{}, err
		}
		if wt.Seq == 0 || wt.Op >= MaxOps || len(wt.Key) > MaxKeySize {
			return Erase{}, fmt.Errorf("%w: erase target %d: seq %d, op %d, key of %d bytes out of range", ErrMalformed, i, wt.Seq, wt.Op, len(wt.Key))
		}
		t.Seq, t.Op, t.Key = wt.Seq, uint32(wt.Op), wt.Key
		if i > 0 && compareTargets(e.Targets[i-1], *t) >= 0 {
			return Erase{}, fmt.Errorf("%w: erase targets are not sorted and distinct", ErrMalformed)
		}
	}
	return e, nil
}

// errNotTarget is wrapped by Names' errors.
var errNotTarget = errors.New("not the op an erase names")

// Names returns nil when t names op i of c (author, seq and ID) and, for a
// data op in the clear, its key, and the op can be erased or is a blob op:
// a store applies only such targets.
func (t *EraseTarget) Names(c *Commit, i int) error {
	switch {
	case t.Author != c.Author || t.Seq != c.Seq || t.ID != c.ID:
		return fmt.Errorf("%w: commit %s is not %s's seq %d", errNotTarget, t.ID.Short(), t.Author.Short(), t.Seq)
	case i < 0 || i >= len(c.Ops) || int(t.Op) != i:
		return fmt.Errorf("%w: op %d of %d", errNotTarget, t.Op, len(c.Ops))
	}
	o := &c.Ops[i]
	switch {
	case o.Kind.IsData():
		if !bytes.Equal(t.Key, o.Key) {
			return fmt.Errorf("%w: op %d writes %q, not %q", errNotTarget, i, o.Key, t.Key)
		}
	case o.Kind == KindSealed || o.Kind == KindBlob:
		if len(t.Key) != 0 {
			return fmt.Errorf("%w: op %d is %s, with no key in the clear", errNotTarget, i, o.Kind)
		}
	default:
		return fmt.Errorf("%w: a %s op cannot be erased", errNotTarget, o.Kind)
	}
	return nil
}
