package reconcile

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// SnapshotProtocolID names the snapshot protocol (#14,
// docs/protocol/snapshot.md): a fresh joiner asks a peer for its latest
// checkpoint's offer, then for the snapshot's sections, instead of the
// space's whole history.
//
// Messages are canonical CBOR maps with integer keys, one per frame of
// package frame, as in the sync and blob protocols. The joiner sends
// Offer, and gets Offered or None; it then sends Section for each part it
// needs, and gets the part's bytes from the offset to its end in Data
// messages of at most MaxSnapData bytes each. Err ends an exchange with a
// reason. The fields of each type:
//
//	key  field     Offer Offered None Section Data Err
//	1    type      1     2       3    4       5    6
//	2    disc      req   -       -    req     -    -     the space's discovery ID
//	3    proof     req   -       -    req     -    -     keys.SyncProof(space, joiner, server)
//	4    commit    -     req     -    -       -    -     the checkpoint commit C, encoded
//	5    verdicts  -     opt     -    -       -    -     verdict commits naming C, ≤ MaxSnapVerdicts
//	6    sizes     -     req     -    -       -    -     the byte size of each part, SnapParts of them
//	7    id        -     -       -    req     -    -     C's ID
//	8    part      -     -       -    req     -    -     1..SnapParts (SnapKept…SnapACL)
//	9    offset    -     -       -    opt     -    -     where to start, < the part's size
//	10   data      -     -       -    -       req  -     1..MaxSnapData bytes
//	11   reason    -     -       -    -       -    req   UTF-8, ≤ 1024 bytes
//
// Fields equal to their zero value are omitted, so every message has one
// encoding, the only one DecodeSnapMsg accepts.
//
// Changelog:
//   - 1 (2026-12-06): Offer, Offered, None, Section, Data, Err.
const SnapshotProtocolID = "/loam/snapshot/1"

// Snapshot protocol message types.
const (
	SnapMsgOffer   = 1
	SnapMsgOffered = 2
	SnapMsgNone    = 3
	SnapMsgSection = 4
	SnapMsgData    = 5
	SnapMsgErr     = 6
)

// The parts of a snapshot, in the order a joiner fetches them. SnapKept
// is the kept commits themselves (EncodeKeptCommits); the others are the
// snapshot package's sections (snapshot.Sections): the kept IDs, the
// cells, the causal table and the acl decision.
const (
	SnapKept   = 1
	SnapIDs    = 2
	SnapCells  = 3
	SnapCausal = 4
	SnapACL    = 5
	SnapParts  = 5
)

// Limits of the snapshot protocol.
const (
	// MaxSnapData bounds one Data message's bytes.
	MaxSnapData = 1 << 20
	// MaxSnapFrame bounds one encoded message: an Offered with the
	// largest commit and its verdicts, or a Data message.
	MaxSnapFrame = commit.MaxCommitSize + MaxSnapVerdicts*(64<<10) + 4<<10
	// MaxSnapVerdicts bounds the verdicts an offer carries.
	MaxSnapVerdicts = 16
	// MaxSnapVerdictSize bounds one verdict commit's bytes.
	MaxSnapVerdictSize = 64 << 10
	// MaxSnapPart bounds one part's size, and MaxSnapTotal all five: a
	// joiner holds a snapshot in memory to check it.
	MaxSnapPart   = 1 << 30
	MaxSnapTotal  = 1 << 30
	maxSnapReason = 1024
)

// ErrBadSnapMsg reports a snapshot protocol message that breaks the
// format or its limits: the peer misbehaved.
var ErrBadSnapMsg = fmt.Errorf("%w (snapshot protocol)", ErrBadMessage)

type wireSnapMsg struct {
	Type     uint64   `cbor:"1,keyasint"`
	Disc     []byte   `cbor:"2,keyasint,omitempty"`
	Proof    []byte   `cbor:"3,keyasint,omitempty"`
	Commit   []byte   `cbor:"4,keyasint,omitempty"`
	Verdicts [][]byte `cbor:"5,keyasint,omitempty"`
	Sizes    []uint64 `cbor:"6,keyasint,omitempty"`
	ID       []byte   `cbor:"7,keyasint,omitempty"`
	Part     uint64   `cbor:"8,keyasint,omitempty"`
	Offset   uint64   `cbor:"9,keyasint,omitempty"`
	Data     []byte   `cbor:"10,keyasint,omitempty"`
	Reason   string   `cbor:"11,keyasint,omitempty"`
}

var snapDecMode = keys.StrictCBOR(keys.CBORLimits{Nesting: 4, ArrayElems: MaxSnapVerdicts, MapPairs: 16, Closed: true})

// SnapMsg is a message of the snapshot protocol. Fields a type does not
// carry are zero.
type SnapMsg struct {
	Type     int
	Disc     keys.Digest       // Offer, Section
	Proof    keys.Digest       // Offer, Section
	Commit   []byte            // Offered: C, not yet verified
	Verdicts [][]byte          // Offered
	Sizes    [SnapParts]uint64 // Offered
	ID       keys.CommitID     // Section
	Part     int               // Section
	Offset   uint64            // Section
	Data     []byte            // Data
	Reason   string            // Err
}

// Encode returns the message's canonical CBOR encoding. Encode only what
// DecodeSnapMsg accepts.
func (m *SnapMsg) Encode() []byte {
	w := wireSnapMsg{Type: uint64(m.Type), Commit: m.Commit, Verdicts: m.Verdicts, Part: uint64(m.Part), Offset: m.Offset, Data: m.Data, Reason: m.Reason}
	switch m.Type {
	case SnapMsgOffer, SnapMsgSection:
		w.Disc, w.Proof = m.Disc[:], m.Proof[:]
	case SnapMsgOffered:
		w.Sizes = m.Sizes[:]
	}
	if m.Type == SnapMsgSection {
		w.ID = m.ID[:]
	}
	b, err := keys.CanonicalCBOR.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("reconcile: encode snapshot message: %v", err))
	}
	return b
}

func badSnap(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSnapMsg, fmt.Sprintf(format, args...))
}

const (
	sfDisc = 1 << (iota + 2)
	sfProof
	sfCommit
	sfVerdicts
	sfSizes
	sfID
	sfPart
	sfOffset
	sfData
	sfReason
)

var snapFields = map[uint64]int{
	SnapMsgOffer:   sfDisc | sfProof,
	SnapMsgOffered: sfCommit | sfVerdicts | sfSizes,
	SnapMsgNone:    0,
	SnapMsgSection: sfDisc | sfProof | sfID | sfPart | sfOffset,
	SnapMsgData:    sfData,
	SnapMsgErr:     sfReason,
}

var snapRequired = map[uint64]int{
	SnapMsgOffer:   sfDisc | sfProof,
	SnapMsgOffered: sfCommit | sfSizes,
	SnapMsgSection: sfDisc | sfProof | sfID | sfPart,
	SnapMsgData:    sfData,
	SnapMsgErr:     sfReason,
}

// DecodeSnapMsg parses one message strictly: it accepts exactly the
// canonical encoding of a message within the protocol's limits (errors
// wrap ErrBadSnapMsg). It does not verify the commits an Offered carries.
func DecodeSnapMsg(b []byte) (*SnapMsg, error) {
	if len(b) > MaxSnapFrame {
		return nil, badSnap("%d bytes, the limit is %d", len(b), MaxSnapFrame)
	}
	var w wireSnapMsg
	if err := snapDecMode.Unmarshal(b, &w); err != nil {
		return nil, badSnap("%v", err)
	}
	present := 0
	for _, f := range []struct {
		bit int
		set bool
	}{
		{sfDisc, w.Disc != nil}, {sfProof, w.Proof != nil}, {sfCommit, w.Commit != nil},
		{sfVerdicts, w.Verdicts != nil}, {sfSizes, w.Sizes != nil}, {sfID, w.ID != nil},
		{sfPart, w.Part != 0}, {sfOffset, w.Offset != 0}, {sfData, w.Data != nil}, {sfReason, w.Reason != ""},
	} {
		if f.set {
			present |= f.bit
		}
	}
	mask, ok := snapFields[w.Type]
	if !ok {
		return nil, badSnap("unknown message type %d", w.Type)
	}
	if extra := present &^ mask; extra != 0 {
		return nil, badSnap("type %d carries fields it does not have (key bits %b)", w.Type, extra)
	}
	if missing := snapRequired[w.Type] &^ present; missing != 0 {
		return nil, badSnap("type %d lacks fields (key bits %b)", w.Type, missing)
	}
	m := &SnapMsg{Type: int(w.Type), Commit: w.Commit, Verdicts: w.Verdicts, Offset: w.Offset, Data: w.Data, Reason: w.Reason}
	digest := func(dst []byte, src []byte, what string) error {
		if len(src) != len(dst) {
			return badSnap("%s is %d bytes, want %d", what, len(src), len(dst))
		}
		copy(dst, src)
		return nil
	}
	if present&sfDisc != 0 {
		if err := digest(m.Disc[:], w.Disc, "disc"); err != nil {
			return nil, err
		}
	}
	if present&sfProof != 0 {
		if err := digest(m.Proof[:], w.Proof, "proof"); err != nil {
			return nil, err
		}
	}
	if present&sfID != 0 {
		if err := digest(m.ID[:], w.ID, "id"); err != nil {
			return nil, err
		}
	}
	switch w.Type {
	case SnapMsgOffered:
		if len(w.Commit) == 0 || len(w.Commit) > commit.MaxCommitSize {
			return nil, badSnap("checkpoint commit of %d bytes", len(w.Commit))
		}
		if len(w.Verdicts) > MaxSnapVerdicts {
			return nil, badSnap("%d verdicts, the limit is %d", len(w.Verdicts), MaxSnapVerdicts)
		}
		for _, v := range w.Verdicts {
			if len(v) == 0 || len(v) > MaxSnapVerdictSize {
				return nil, badSnap("verdict of %d bytes", len(v))
			}
		}
		if len(w.Sizes) != SnapParts {
			return nil, badSnap("%d sizes, want %d", len(w.Sizes), SnapParts)
		}
		var total uint64
		for i, s := range w.Sizes {
			if s > MaxSnapPart {
				return nil, badSnap("part %d of %d bytes, the limit is %d", i+1, s, MaxSnapPart)
			}
			total += s
			m.Sizes[i] = s
		}
		if total > MaxSnapTotal {
			return nil, badSnap("a snapshot of %d bytes, the limit is %d", total, MaxSnapTotal)
		}
	case SnapMsgSection:
		if w.Part > SnapParts {
			return nil, badSnap("part %d, want 1..%d", w.Part, SnapParts)
		}
		if w.Offset >= MaxSnapPart {
			return nil, badSnap("offset %d", w.Offset)
		}
		m.Part = int(w.Part)
	case SnapMsgData:
		if len(w.Data) == 0 || len(w.Data) > MaxSnapData {
			return nil, badSnap("data of %d bytes, want 1..%d", len(w.Data), MaxSnapData)
		}
	case SnapMsgErr:
		if len(w.Reason) > maxSnapReason {
			return nil, badSnap("reason of %d bytes", len(w.Reason))
		}
	}
	if !bytes.Equal(m.Encode(), b) {
		return nil, badSnap("not in canonical form")
	}
	return m, nil
}

// EncodeKeptCommits returns the kept commits part: per commit, in the
// order given, uvarint(length) ‖ its encoded bytes.
func EncodeKeptCommits(cs []*commit.Commit) []byte {
	var out []byte
	for _, c := range cs {
		b := c.Bytes()
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

// DecodeKeptCommits parses a kept commits part strictly and verifies each
// commit's signature (commit.Verify); it returns them in order. Every
// length is in its shortest form, 1..commit.MaxCommitSize.
func DecodeKeptCommits(b []byte) ([]*commit.Commit, error) {
	var out []*commit.Commit
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
			return nil, fmt.Errorf("%w: a length is not a shortest uvarint", ErrBadSnapMsg)
		}
		b = b[k:]
		if n == 0 || n > commit.MaxCommitSize || n > uint64(len(b)) {
			return nil, fmt.Errorf("%w: a commit of %d bytes (%d left)", ErrBadSnapMsg, n, len(b))
		}
		c, err := commit.Verify(b[:n])
		if err != nil {
			return nil, fmt.Errorf("%w: commit %d: %v", ErrBadSnapMsg, len(out), err)
		}
		out = append(out, c)
		b = b[n:]
	}
	return out, nil
}
