package commit

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/loamdb/loam/internal/keys"
)

// Checkpoints (#14, docs/plans/checkpoints.md): an admin of the whole space
// vouches, in a checkpoint op, for what the commits up to a frontier add
// up to, so that a fresh peer may install that summary instead of every
// commit; members who replayed the same commits say whether it is true in
// verdict ops. Both are control ops: in the clear in private spaces too,
// never erased, with no key.
const (
	// KindCheckpoint: its payload is a Checkpoint. Only an admin of the
	// whole space may write one.
	KindCheckpoint Kind = 25
	// KindVerdict: its payload is a Verdict. Any member with a grant may
	// write one.
	KindVerdict Kind = 26
)

// MaxFrontier bounds a checkpoint's frontier (its authors). A checkpoint
// op, like a rotate, is bounded by the commit size rather than by
// MaxValueSize: a frontier head is about 90 bytes, so a space of more than
// about 700 authors would not fit in 64 KiB.
const MaxFrontier = 32768

// Checkpoint is the summary a checkpoint commits to: the frontier F (each
// author's last commit in S(F), the set of commits it names), the view at
// F, the digests of the snapshot's four sections (package snapshot), and
// what S(F) held.
type Checkpoint struct {
	Frontier []FrontierHead // sorted by author, distinct, 1..MaxFrontier
	View     keys.Digest    // the view hash at F
	Visible  uint64         // visible keys at F
	Cells    keys.Digest    // digest of the cells section
	Kept     keys.Digest    // digest of the kept commits' IDs
	Causal   keys.Digest    // digest of the causal section
	ACL      keys.Digest    // digest of the acl decision at F
	Stats    CheckpointStats
}

// FrontierHead is one author's last commit in S(F).
type FrontierHead struct {
	Author keys.AuthorID
	Seq    uint64 // ≥ 1
	ID     keys.CommitID
	Time   HLC
}

// CheckpointStats says what S(F) held, so that a joiner can tell whether
// the snapshot is worth taking.
type CheckpointStats struct {
	Commits uint64 // commits in S(F)
	Bytes   uint64 // their encoded bytes
	Kept    uint64 // commits of S(F) the snapshot keeps
	Cells   uint64 // non-empty cells at F
}

// Checkpoint fields, numbered as in the payload map: a verdict's Field
// names the first that did not match.
const (
	CheckpointFrontier   uint8 = 1
	CheckpointView       uint8 = 2
	CheckpointCells      uint8 = 3
	CheckpointKept       uint8 = 4
	CheckpointCausal     uint8 = 5
	CheckpointACL        uint8 = 6
	CheckpointStatsField uint8 = 7
)

type wireCheckpoint struct {
	Frontier []wireFrontierHead `cbor:"1,keyasint"`
	View     wireViewAt         `cbor:"2,keyasint"`
	Cells    []byte             `cbor:"3,keyasint"`
	Kept     []byte             `cbor:"4,keyasint"`
	Causal   []byte             `cbor:"5,keyasint"`
	ACL      []byte             `cbor:"6,keyasint"`
	Stats    wireStats          `cbor:"7,keyasint"`
}

type wireFrontierHead struct {
	_       struct{} `cbor:",toarray"`
	Author  []byte
	Seq     uint64
	ID      []byte
	Wall    uint64
	Logical uint64
}

type wireViewAt struct {
	_       struct{} `cbor:",toarray"`
	Hash    []byte
	Visible uint64
}

type wireStats struct {
	_       struct{} `cbor:",toarray"`
	Commits uint64
	Bytes   uint64
	Kept    uint64
	Cells   uint64
}

// Validate checks the frontier: 1..MaxFrontier heads, sorted by author and
// distinct, each with a seq from 1.
func (k *Checkpoint) Validate() error {
	if len(k.Frontier) == 0 || len(k.Frontier) > MaxFrontier {
		return fmt.Errorf("a checkpoint's frontier has %d authors, want 1..%d", len(k.Frontier), MaxFrontier)
	}
	for i, h := range k.Frontier {
		if h.Seq == 0 {
			return fmt.Errorf("checkpoint frontier head %d has seq 0", i)
		}
		if i > 0 && bytes.Compare(k.Frontier[i-1].Author[:], h.Author[:]) >= 0 {
			return errors.New("a checkpoint's frontier is not sorted by author and distinct")
		}
	}
	return nil
}

// CheckpointOp returns the op of k. It fails for a frontier Validate
// refuses.
func CheckpointOp(k Checkpoint) (Op, error) {
	if err := k.Validate(); err != nil {
		return Op{}, fmt.Errorf("commit: %w", err)
	}
	w := wireCheckpoint{
		Frontier: make([]wireFrontierHead, len(k.Frontier)),
		View:     wireViewAt{Hash: k.View[:], Visible: k.Visible},
		Cells:    k.Cells[:],
		Kept:     k.Kept[:],
		Causal:   k.Causal[:],
		ACL:      k.ACL[:],
		Stats:    wireStats{Commits: k.Stats.Commits, Bytes: k.Stats.Bytes, Kept: k.Stats.Kept, Cells: k.Stats.Cells},
	}
	for i, h := range k.Frontier {
		w.Frontier[i] = wireFrontierHead{Author: h.Author[:], Seq: h.Seq, ID: h.ID[:], Wall: h.Time.Wall, Logical: uint64(h.Time.Logical)}
	}
	return Op{Kind: KindCheckpoint, Payload: marshal(w)}, nil
}

// DecodeCheckpoint parses a checkpoint op's payload strictly: canonical,
// every field present, identifiers and digests of 32 bytes, a frontier
// Validate accepts with logical clocks under 2³².
func DecodeCheckpoint(o Op) (Checkpoint, error) {
	var w wireCheckpoint
	if err := decodeControl(o, KindCheckpoint, &w); err != nil {
		return Checkpoint{}, err
	}
	var k Checkpoint
	for _, d := range []struct {
		dst   *keys.Digest
		b     []byte
		field string
	}{
		{&k.View, w.View.Hash, "checkpoint view hash"},
		{&k.Cells, w.Cells, "checkpoint cells digest"},
		{&k.Kept, w.Kept, "checkpoint kept digest"},
		{&k.Causal, w.Causal, "checkpoint causal digest"},
		{&k.ACL, w.ACL, "checkpoint acl digest"},
	} {
		if err := id32((*[32]byte)(d.dst), d.b, d.field); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	k.Visible = w.View.Visible
	k.Stats = CheckpointStats{Commits: w.Stats.Commits, Bytes: w.Stats.Bytes, Kept: w.Stats.Kept, Cells: w.Stats.Cells}
	if len(w.Frontier) > MaxFrontier {
		return Checkpoint{}, fmt.Errorf("%w: a checkpoint's frontier has %d authors, the limit is %d", ErrMalformed, len(w.Frontier), MaxFrontier)
	}
	k.Frontier = make([]FrontierHead, len(w.Frontier))
	for i, wh := range w.Frontier {
		h := &k.Frontier[i]
		if err := id32((*[32]byte)(&h.Author), wh.Author, "checkpoint frontier author"); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if err := id32((*[32]byte)(&h.ID), wh.ID, "checkpoint frontier commit"); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if wh.Logical > math.MaxUint32 {
			return Checkpoint{}, fmt.Errorf("%w: checkpoint frontier head %d: logical clock %d out of range", ErrMalformed, i, wh.Logical)
		}
		h.Seq, h.Time = wh.Seq, HLC{Wall: wh.Wall, Logical: uint32(wh.Logical)}
	}
	if err := k.Validate(); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return k, nil
}

// Verdict is a member's word on a checkpoint it checked: OK, or the
// first field (CheckpointFrontier..CheckpointStatsField) that did not match
// what it computed.
type Verdict struct {
	Checkpoint keys.CommitID
	OK         bool
	Field      uint8 // 0 when OK, else 1..7
}

type wireVerdict struct {
	Checkpoint []byte `cbor:"1,keyasint"`
	OK         bool   `cbor:"2,keyasint"`
	Field      uint64 `cbor:"3,keyasint,omitempty"`
}

// Validate checks that an OK verdict names no field and a dispute one of
// the checkpoint's.
func (v Verdict) Validate() error {
	switch {
	case v.OK && v.Field != 0:
		return fmt.Errorf("an ok verdict names field %d, want none", v.Field)
	case !v.OK && (v.Field < CheckpointFrontier || v.Field > CheckpointStatsField):
		return fmt.Errorf("a dispute names field %d, want 1..%d", v.Field, CheckpointStatsField)
	}
	return nil
}

// VerdictOp returns the op of v. It fails for a verdict Validate refuses.
func VerdictOp(v Verdict) (Op, error) {
	if err := v.Validate(); err != nil {
		return Op{}, fmt.Errorf("commit: %w", err)
	}
	return Op{Kind: KindVerdict, Payload: marshal(wireVerdict{Checkpoint: v.Checkpoint[:], OK: v.OK, Field: uint64(v.Field)})}, nil
}

// DecodeVerdict parses a verdict op's payload strictly.
func DecodeVerdict(o Op) (Verdict, error) {
	var w wireVerdict
	if err := decodeControl(o, KindVerdict, &w); err != nil {
		return Verdict{}, err
	}
	var v Verdict
	if err := id32((*[32]byte)(&v.Checkpoint), w.Checkpoint, "verdict checkpoint"); err != nil {
		return Verdict{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Field > uint64(CheckpointStatsField) {
		return Verdict{}, fmt.Errorf("%w: a verdict names field %d, want 1..%d", ErrMalformed, w.Field, CheckpointStatsField)
	}
	v.OK, v.Field = w.OK, uint8(w.Field)
	if err := v.Validate(); err != nil {
		return Verdict{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return v, nil
}
