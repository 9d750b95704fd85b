package commit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/keys"
)

// Errors returned by Decode and Verify. Wrapped errors say what is wrong.
var (
	ErrMalformed    = errors.New("malformed commit")
	ErrBadSignature = errors.New("bad commit signature")
)

// Header is the signed part of a commit.
type Header struct {
	Space   keys.SpaceID
	Author  keys.AuthorID
	Seq     uint64        // 1-based, contiguous per author and space
	Prev    keys.CommitID // ID of the author's commit Seq-1; zero for Seq 1
	Time    HLC
	Epoch   uint64          // key epoch of a private space; 0 for public spaces
	Deps    []keys.CommitID // other authors' heads seen since Prev, sorted
	OpsRoot keys.Digest
	NumOps  int
}

// Commit is a decoded, structurally valid commit. It is immutable: the
// methods that change it (Erase) return a new Commit.
type Commit struct {
	Header
	ID  keys.CommitID
	Sig [keys.SigSize]byte
	Ops []Op

	raw       []byte // the exact encoded commit
	headerRaw []byte // the exact header bytes inside raw
	digests   []byte // op digests, 32 bytes each, in op order
	sigOff    int    // offset of the signature in raw (prepared commits)
}

// OpDigest returns the digest of op i (see Op.Digest), computed once when
// the commit was built or decoded.
func (c *Commit) OpDigest(i int) keys.Digest { return keys.Digest(c.digests[i*keys.Size:]) }

// Bytes returns the encoded commit, exactly as received or built. The caller
// must not modify it.
func (c *Commit) Bytes() []byte { return c.raw }

// HeaderBytes returns the signed header bytes.
func (c *Commit) HeaderBytes() []byte { return c.headerRaw }

func (c *Commit) String() string {
	return fmt.Sprintf("%s (%s seq %d)", c.ID.Short(), c.Author.Short(), c.Seq)
}

// Signer signs commits as one author.
type Signer interface {
	Author() keys.AuthorID
	Sign(ctx string, d keys.Digest) [keys.SigSize]byte
}

type wireHeader struct {
	Space   []byte   `cbor:"1,keyasint"`
	Author  []byte   `cbor:"2,keyasint"`
	Seq     uint64   `cbor:"3,keyasint"`
	Prev    []byte   `cbor:"4,keyasint,omitempty"`
	Time    []uint64 `cbor:"5,keyasint"`
	Epoch   uint64   `cbor:"6,keyasint,omitempty"`
	Deps    [][]byte `cbor:"7,keyasint,omitempty"`
	OpsRoot []byte   `cbor:"8,keyasint"`
	NumOps  uint64   `cbor:"9,keyasint"`
}

type wireOp struct {
	Kind    uint64 `cbor:"1,keyasint"`
	Key     []byte `cbor:"2,keyasint,omitempty"`
	Payload []byte `cbor:"3,keyasint,omitempty"`
	Digest  []byte `cbor:"4,keyasint,omitempty"`
	Len     uint64 `cbor:"5,keyasint,omitempty"`
}

type wireCommit struct {
	Header []byte   `cbor:"1,keyasint"`
	Sig    []byte   `cbor:"2,keyasint"`
	Ops    []wireOp `cbor:"3,keyasint"`
}

// Build validates ops, fills in the header's ops root, op count and sorted
// deps, and signs the commit as s. h.Author must be s's author.
func Build(h Header, ops []Op, s Signer) (*Commit, error) {
	if h.Author != s.Author() {
		return nil, fmt.Errorf("commit: build: header author %s is not the signer %s", h.Author.Short(), s.Author().Short())
	}
	c, err := Prepare(h, ops)
	if err != nil {
		return nil, err
	}
	c.Sign(s)
	return c, nil
}

// Prepare is Build without the signature: it validates and encodes the
// commit and computes its ID, leaving a zero signature for Sign to fill in.
// Writers prepare under a lock (seq and prev must be assigned in order) and
// sign outside it, in parallel.
func Prepare(h Header, ops []Op) (*Commit, error) {
	if len(ops) == 0 || len(ops) > MaxOps {
		return nil, fmt.Errorf("commit: build: %d ops, want 1..%d", len(ops), MaxOps)
	}
	if err := ValidateOps(ops); err != nil {
		return nil, fmt.Errorf("commit: build: %w", err)
	}
	h.Deps = sortDeps(h.Deps)
	var digests []byte
	h.OpsRoot, digests = opsRoot(ops)
	h.NumOps = len(ops)
	if err := checkHeader(&h); err != nil {
		return nil, fmt.Errorf("commit: build: %w", err)
	}
	hb := marshal(toWireHeader(&h))
	c := &Commit{Header: h, Ops: ops, headerRaw: hb, digests: digests}
	c.ID = keys.CommitID(keys.CommitHeaderHash.Sum(hb))
	c.raw = encodeCommit(hb, c.Sig[:], ops)
	if size := len(c.raw) + eraseReserve*len(ops); size > MaxCommitSize {
		return nil, fmt.Errorf("commit: build: %d ops make %d bytes with room to erase payloads, the limit is %d (split the batch)", len(ops), size, MaxCommitSize)
	}
	c.headerRaw = headerSlice(c.raw, hb)
	// After the header: key 2 (0x02), then the byte string head 0x58 0x40.
	c.sigOff = bytes.Index(c.raw, hb) + len(hb) + 3
	return c, nil
}

// Sign signs a prepared commit as s, whose author must be the header's.
// The signature is written in place: it has a fixed size and position (the
// 64-byte string under key 2, right after the header), so nothing is
// re-encoded.
func (c *Commit) Sign(s Signer) {
	if s.Author() != c.Author {
		panic(fmt.Sprintf("commit: sign: signer %s is not the author %s", s.Author().Short(), c.Author.Short()))
	}
	c.Sig = s.Sign(keys.CtxCommitSig, keys.Digest(c.ID))
	copy(c.raw[c.sigOff:c.sigOff+keys.SigSize], c.Sig[:])
}

func sortDeps(deps []keys.CommitID) []keys.CommitID {
	if len(deps) == 0 {
		return nil
	}
	d := slices.Clone(deps)
	slices.SortFunc(d, func(a, b keys.CommitID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(d)
}

func toWireHeader(h *Header) wireHeader {
	w := wireHeader{
		Space:   h.Space[:],
		Author:  h.Author[:],
		Seq:     h.Seq,
		Time:    []uint64{h.Time.Wall, uint64(h.Time.Logical)},
		Epoch:   h.Epoch,
		OpsRoot: h.OpsRoot[:],
		NumOps:  uint64(h.NumOps),
	}
	if h.Seq > 1 {
		w.Prev = h.Prev[:]
	}
	for i := range h.Deps {
		w.Deps = append(w.Deps, h.Deps[i][:])
	}
	return w
}

func encodeCommit(header, sig []byte, ops []Op) []byte {
	w := wireCommit{Header: header, Sig: sig, Ops: make([]wireOp, len(ops))}
	for i := range ops {
		o := &ops[i]
		w.Ops[i] = wireOp{Kind: uint64(o.Kind), Key: o.Key, Payload: o.Payload}
		if o.Erased {
			w.Ops[i].Payload = nil
			w.Ops[i].Digest = o.PayloadDigest[:]
			w.Ops[i].Len = uint64(o.PayloadLen)
		}
	}
	return marshal(w)
}

// headerSlice returns the sub-slice of raw holding header, so a Commit keeps
// one buffer alive rather than two.
func headerSlice(raw, header []byte) []byte {
	if i := bytes.Index(raw, header); i >= 0 {
		return raw[i : i+len(header) : i+len(header)]
	}
	return header
}

// checkHeader enforces the header rules shared by Build and Decode.
func checkHeader(h *Header) error {
	switch {
	case h.Seq == 0:
		return errors.New("seq is 0, seqs start at 1")
	case h.Seq == 1 && !h.Prev.IsZero():
		return errors.New("seq 1 has a prev")
	case h.Seq > 1 && h.Prev.IsZero():
		return fmt.Errorf("seq %d has no prev", h.Seq)
	case h.NumOps == 0 || h.NumOps > MaxOps:
		return fmt.Errorf("op count %d, want 1..%d", h.NumOps, MaxOps)
	case len(h.Deps) > MaxDeps:
		return fmt.Errorf("%d deps, the limit is %d", len(h.Deps), MaxDeps)
	case h.Time.Wall == 0:
		return errors.New("time is zero")
	}
	return nil
}

func id32(dst *[keys.Size]byte, b []byte, field string) error {
	if len(b) != keys.Size {
		return fmt.Errorf("%s is %d bytes, want %d", field, len(b), keys.Size)
	}
	copy(dst[:], b)
	return nil
}

// ValidateOps checks each op's limits and the rules of its kind.
func ValidateOps(ops []Op) error {
	for i := range ops {
		if err := ops[i].validate(); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return checkBlobOps(ops)
}

// checkBlobOps checks that a commit has no more blob ops than sealed ops
// (or putblobs, before they are sealed): each names the blob of one sealed
// putblob, so that a writer cannot make seeders fetch and keep blobs by the
// thousand in one small commit.
func checkBlobOps(ops []Op) error {
	blobs, sealed := 0, 0
	for i := range ops {
		switch ops[i].Kind {
		case KindBlob:
			blobs++
		case KindSealed, KindPutBlob:
			sealed++
		}
	}
	if blobs > sealed {
		return fmt.Errorf("%d blob ops and %d sealed ops: each blob op names the blob of a sealed putblob", blobs, sealed)
	}
	return nil
}

// VerifySig checks the author's signature over the commit ID.
func (c *Commit) VerifySig() error {
	if !keys.Verify(c.Author, keys.CtxCommitSig, keys.Digest(c.ID), c.Sig[:]) {
		return fmt.Errorf("%w: %s", ErrBadSignature, c)
	}
	return nil
}

// VerifySigs checks the signatures of many commits as one batch, and names
// the first bad one if the batch fails.
func VerifySigs(cs []*Commit) error {
	bv := keys.NewBatchVerifier(len(cs))
	for _, c := range cs {
		bv.Add(keys.AuthorID(c.Author), keys.CtxCommitSig, keys.Digest(c.ID), c.Sig[:])
	}
	if bv.Verify() {
		return nil
	}
	for _, c := range cs {
		if err := c.VerifySig(); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: batch failed but every commit verifies alone", ErrBadSignature)
}

// Verify decodes b and checks its signature: what a receiver does with
// untrusted bytes before anything that needs state.
func Verify(b []byte) (*Commit, error) {
	c, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if err := c.VerifySig(); err != nil {
		return nil, err
	}
	return c, nil
}

// Erase returns a copy of c with the payload of op i replaced by its digest
// and length. The ID and signature are unchanged and still verify.
func (c *Commit) Erase(i int) (*Commit, error) {
	if i < 0 || i >= len(c.Ops) {
		return nil, fmt.Errorf("commit: erase: op %d out of range (%d ops)", i, len(c.Ops))
	}
	if k := c.Ops[i].Kind; !k.Erasable() {
		return nil, fmt.Errorf("commit: erase: a %s op cannot be erased: every replica decides access from its payload", k)
	}
	n := *c
	n.Ops = slices.Clone(c.Ops)
	o := &n.Ops[i]
	if !o.Erased {
		o.PayloadDigest, o.PayloadLen = o.payloadDigest()
		o.Erased, o.Payload = true, nil
	}
	hb := slices.Clone(c.headerRaw)
	n.raw = encodeCommit(hb, c.Sig[:], n.Ops)
	n.headerRaw = headerSlice(n.raw, hb)
	return &n, nil
}
