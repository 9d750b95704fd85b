package commit

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/loamdb/loam/internal/keys"
)

// The commit decoder as it was before decode.go, on the fxamacker CBOR
// library with reflection, then a re-encoding to check canonical form:
// kept, unchanged but for names, as the oracle FuzzDecodeAgrees holds
// the hand-written decoder to. Do not "fix" it: it defines what a commit
// is, and a difference is a bug of decode.go or a format change to make
// on purpose (docs/format/commit.md) in both.

var (
	// The decoders of codec.go before: the envelope and ops closed, the
	// header open with null and undefined rejected.
	oracleClosedDec = keys.StrictCBOR(keys.CBORLimits{Nesting: 8, ArrayElems: MaxOps, MapPairs: 64, Closed: true})
	oracleOpenDec   = keys.StrictCBOR(keys.CBORLimits{Nesting: 8, ArrayElems: MaxOps, MapPairs: 64, NoNull: true})
)

// oracleDecode is Decode as it was before the hand-written decoder: it parses and structurally validates an encoded commit: strict CBOR,
// limits, field shapes, op rules, and the ops root against the ops. It does
// not check the signature (see VerifySig) nor anything that needs other
// commits. Decode keeps b: the caller must not modify it afterwards.
func oracleDecode(b []byte) (*Commit, error) {
	c, err := oracleDecodeRaw(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return c, nil
}

func oracleDecodeRaw(b []byte) (*Commit, error) {
	if len(b) > MaxCommitSize {
		return nil, fmt.Errorf("%d bytes, the limit is %d", len(b), MaxCommitSize)
	}
	var w wireCommit
	if err := oracleClosedDec.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if len(w.Header) == 0 || len(w.Header) > MaxHeaderSize {
		return nil, fmt.Errorf("header is %d bytes, want 1..%d", len(w.Header), MaxHeaderSize)
	}
	if len(w.Sig) != keys.SigSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(w.Sig), keys.SigSize)
	}
	var wh wireHeader
	if err := oracleOpenDec.Unmarshal(w.Header, &wh); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	c := &Commit{raw: b}
	c.headerRaw = headerSlice(b, w.Header)
	if err := oracleFromWireHeader(&wh, &c.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := checkHeader(&c.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(w.Ops) != c.NumOps {
		return nil, fmt.Errorf("header says %d ops, body has %d", c.NumOps, len(w.Ops))
	}
	c.Ops = make([]Op, len(w.Ops))
	for i := range w.Ops {
		if err := oracleFromWireOp(&w.Ops[i], &c.Ops[i]); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	if err := checkBlobOps(c.Ops); err != nil {
		return nil, err
	}
	var root keys.Digest
	if root, c.digests = opsRoot(c.Ops); root != c.OpsRoot {
		return nil, errors.New("ops do not match the signed ops root")
	}
	// One commit, one encoding: the envelope and ops must be canonical, so
	// no relay can change a commit's bytes without changing its ID.
	if !bytes.Equal(encodeCommit(w.Header, w.Sig, c.Ops), b) {
		return nil, errors.New("not in canonical CBOR encoding")
	}
	copy(c.Sig[:], w.Sig)
	c.ID = keys.CommitID(keys.CommitHeaderHash.Sum(w.Header))
	return c, nil
}

func oracleFromWireHeader(w *wireHeader, h *Header) error {
	if err := id32((*[32]byte)(&h.Space), w.Space, "space"); err != nil {
		return err
	}
	if err := id32((*[32]byte)(&h.Author), w.Author, "author"); err != nil {
		return err
	}
	h.Seq = w.Seq
	if w.Prev != nil {
		if err := id32((*[32]byte)(&h.Prev), w.Prev, "prev"); err != nil {
			return err
		}
		if h.Prev.IsZero() {
			return errors.New("prev is present but zero")
		}
	}
	if len(w.Time) != 2 || w.Time[1] > math.MaxUint32 {
		return errors.New("time must be [wall µs, logical] with a 32-bit logical part")
	}
	h.Time = HLC{Wall: w.Time[0], Logical: uint32(w.Time[1])}
	h.Epoch = w.Epoch
	if len(w.Deps) > MaxDeps {
		return fmt.Errorf("%d deps, the limit is %d", len(w.Deps), MaxDeps)
	}
	if len(w.Deps) > 0 {
		h.Deps = make([]keys.CommitID, len(w.Deps))
		for i, d := range w.Deps {
			if err := id32((*[32]byte)(&h.Deps[i]), d, "dep"); err != nil {
				return err
			}
			if i > 0 && bytes.Compare(h.Deps[i-1][:], h.Deps[i][:]) >= 0 {
				return errors.New("deps are not sorted and unique")
			}
		}
	}
	if err := id32((*[32]byte)(&h.OpsRoot), w.OpsRoot, "ops root"); err != nil {
		return err
	}
	if w.NumOps > MaxOps {
		return fmt.Errorf("op count %d, the limit is %d", w.NumOps, MaxOps)
	}
	h.NumOps = int(w.NumOps)
	return nil
}

func oracleFromWireOp(w *wireOp, o *Op) error {
	if w.Kind == 0 || w.Kind > math.MaxUint8 {
		return fmt.Errorf("kind %d is not valid", w.Kind)
	}
	o.Kind = Kind(w.Kind)
	o.Key = w.Key
	if w.Digest != nil {
		if w.Payload != nil {
			return errors.New("op has both a payload and an erased-payload digest")
		}
		o.Erased = true
		if !o.Kind.Erasable() {
			return fmt.Errorf("a %s op cannot be erased: every replica decides access from its payload", o.Kind)
		}
		if err := id32((*[32]byte)(&o.PayloadDigest), w.Digest, "payload digest"); err != nil {
			return err
		}
		if w.Len > MaxCommitSize {
			return fmt.Errorf("erased payload length %d is too large", w.Len)
		}
		o.PayloadLen = int(w.Len)
	} else {
		if w.Len != 0 {
			return errors.New("op has a payload length but no erased-payload digest")
		}
		o.Payload = w.Payload
	}
	return o.validate()
}

// oracleDecodeHeader is DecodeHeader as it was before the hand-written decoder: it reads only the header of an encoded commit, for callers that
// need a stored commit's seq, time or deps without its ops. It checks the
// header strictly but not the ops or the signature: use it on bytes that
// were verified when stored.
func oracleDecodeHeader(b []byte) (Header, keys.CommitID, error) {
	// The envelope starts: a3 (map of 3) 01 (key 1) then the header byte string.
	if len(b) < 3 || b[0] != 0xa3 || b[1] != 0x01 {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: not a commit envelope", ErrMalformed)
	}
	n, off := uint64(0), 0
	switch ai := b[2]; {
	case ai >= 0x40 && ai < 0x58:
		n, off = uint64(ai-0x40), 3
	case ai == 0x58 && len(b) >= 4:
		n, off = uint64(b[3]), 4
	case ai == 0x59 && len(b) >= 5:
		n, off = uint64(b[3])<<8|uint64(b[4]), 5
	case ai == 0x5a && len(b) >= 7:
		n, off = uint64(b[3])<<24|uint64(b[4])<<16|uint64(b[5])<<8|uint64(b[6]), 7
	default:
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: bad header length", ErrMalformed)
	}
	if n > MaxHeaderSize || uint64(len(b)-off) < n {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	hb := b[off : off+int(n)]
	var wh wireHeader
	if err := oracleOpenDec.Unmarshal(hb, &wh); err != nil {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h Header
	if err := oracleFromWireHeader(&wh, &h); err != nil {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if err := checkHeader(&h); err != nil {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	return h, keys.CommitID(keys.CommitHeaderHash.Sum1(hb)), nil
}
