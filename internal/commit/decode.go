package commit

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/loamdb/loam/internal/keys"
)

// The decoder is written by hand (docs/design.md, "Decoding commits by
// hand"): one walk over the bytes, no reflection, no allocation per dep,
// and no re-encoding, since the walk itself accepts only the canonical
// envelope and ops. It accepts exactly the byte strings the fxamacker-based
// decoder it replaced accepted, which FuzzDecodeAgrees checks against
// that decoder, kept as a test oracle (oracle_test.go).

// Decode parses and structurally validates an encoded commit: strict CBOR,
// limits, field shapes, op rules, and the ops root against the ops. It does
// not check the signature (see VerifySig) nor anything that needs other
// commits. Decode keeps b: the caller must not modify it afterwards. The
// ops' keys and payloads are sub-slices of b.
func Decode(b []byte) (*Commit, error) {
	c, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return c, nil
}

// errNotCanonical is every departure from the envelope's and ops' one
// encoding: one commit, one encoding, so that no relay can change a
// commit's bytes without changing its ID.
var errNotCanonical = errors.New("not in canonical CBOR encoding")

// decode reads the envelope {1: header, 2: signature, 3: [ops]}, which
// must be canonical CBOR exactly as Prepare writes it.
func decode(b []byte) (*Commit, error) {
	if len(b) > MaxCommitSize {
		return nil, fmt.Errorf("%d bytes, the limit is %d", len(b), MaxCommitSize)
	}
	r := cborReader{b: b}
	if len(b) < 2 || b[0] != majorMap|3 || b[1] != 1 {
		return nil, errNotCanonical
	}
	r.b = r.b[2:]
	hb, ok := r.canonBytes()
	if !ok {
		return nil, errNotCanonical
	}
	if len(hb) == 0 || len(hb) > MaxHeaderSize {
		return nil, fmt.Errorf("header is %d bytes, want 1..%d", len(hb), MaxHeaderSize)
	}
	if len(r.b) == 0 || r.b[0] != 2 {
		return nil, errNotCanonical
	}
	r.b = r.b[1:]
	sig, ok := r.canonBytes()
	if !ok {
		return nil, errNotCanonical
	}
	if len(sig) != keys.SigSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(sig), keys.SigSize)
	}
	if len(r.b) == 0 || r.b[0] != 3 {
		return nil, errNotCanonical
	}
	r.b = r.b[1:]
	n, ok := r.canon(majorArray)
	if !ok {
		return nil, errNotCanonical
	}
	c := &Commit{raw: b, headerRaw: hb}
	if err := decodeHeader(hb, &c.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if n != uint64(c.NumOps) {
		return nil, fmt.Errorf("header says %d ops, body has %d", c.NumOps, n)
	}
	// Each op has at least two bytes: a count that large is a lie.
	if n > uint64(len(r.b)) {
		return nil, errNotCanonical
	}
	c.Ops = make([]Op, n)
	for i := range c.Ops {
		if err := r.op(&c.Ops[i]); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	if len(r.b) != 0 {
		return nil, errNotCanonical
	}
	if err := checkBlobOps(c.Ops); err != nil {
		return nil, err
	}
	var root keys.Digest
	if root, c.digests = opsRoot(c.Ops); root != c.OpsRoot {
		return nil, errors.New("ops do not match the signed ops root")
	}
	copy(c.Sig[:], sig)
	c.ID = keys.CommitID(keys.CommitHeaderHash.Sum1(hb))
	return c, nil
}

// op reads one op, a canonical map {1: kind, 2: key, 3: payload} or,
// erased, {1: kind, 2: key, 4: payload digest, 5: payload length}, where
// a key, payload or length that is empty or zero is left out.
func (r *cborReader) op(o *Op) error {
	n, ok := r.canon(majorMap)
	if !ok || n == 0 || n > 5 {
		return errNotCanonical
	}
	var last byte
	var digest []byte
	var plen uint64
	for ; n > 0; n-- {
		// The keys are 1..5, one byte each, in increasing order.
		if len(r.b) == 0 || r.b[0] <= last || r.b[0] > 5 {
			return errNotCanonical
		}
		last = r.b[0]
		r.b = r.b[1:]
		switch last {
		case 1:
			k, ok := r.canon(majorUint)
			if !ok {
				return errNotCanonical
			}
			if k == 0 || k > math.MaxUint8 {
				return fmt.Errorf("kind %d is not valid", k)
			}
			o.Kind = Kind(k)
		case 2, 3, 4:
			s, ok := r.canonBytes()
			if !ok || len(s) == 0 {
				return errNotCanonical
			}
			switch last {
			case 2:
				o.Key = s
			case 3:
				o.Payload = s
			case 4:
				digest = s
			}
		case 5:
			if plen, ok = r.canon(majorUint); !ok || plen == 0 {
				return errNotCanonical
			}
		}
	}
	if o.Kind == 0 {
		return errNotCanonical // no key 1
	}
	if digest != nil {
		if o.Payload != nil {
			return errors.New("op has both a payload and an erased-payload digest")
		}
		o.Erased = true
		if !o.Kind.Erasable() {
			return fmt.Errorf("a %s op cannot be erased: every replica decides access from its payload", o.Kind)
		}
		if err := id32((*[32]byte)(&o.PayloadDigest), digest, "payload digest"); err != nil {
			return err
		}
		if plen > MaxCommitSize {
			return fmt.Errorf("erased payload length %d is too large", plen)
		}
		o.PayloadLen = int(plen)
	} else if plen != 0 {
		return errors.New("op has a payload length but no erased-payload digest")
	}
	return o.validate()
}

// DecodeHeader reads only the header of an encoded commit, for callers that
// need a stored commit's seq, time or deps without its ops. It checks the
// header strictly but not the ops or the signature: use it on bytes that
// were verified when stored.
func DecodeHeader(b []byte) (Header, keys.CommitID, error) {
	hb, ok := envelopeHeader(b)
	if !ok {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: not a commit envelope with a header of at most %d bytes", ErrMalformed, MaxHeaderSize)
	}
	var h Header
	if err := decodeHeader(hb, &h); err != nil {
		return Header{}, keys.CommitID{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	return h, keys.CommitID(keys.CommitHeaderHash.Sum1(hb)), nil
}

// Header field keys.
const (
	hSpace = 1 + iota
	hAuthor
	hSeq
	hPrev
	hTime
	hEpoch
	hDeps
	hOpsRoot
	hNumOps
)

// errHeaderCBOR is a header the open decoder does not read: not
// well-formed, over its bounds, or a field of the wrong type.
var errHeaderCBOR = errors.New("not a well-formed header map")

// decodeHeader reads a header into h and checks it. The header is open
// (format §3): it is hashed as received, so it need not be canonical
// (heads of any width, keys in any order), and unknown keys, integers or
// text, are legal and signed. Every item must still be well-formed
// within the bounds (skip), and the keys unique.
func decodeHeader(hb []byte, h *Header) error {
	r := cborReader{b: hb}
	if r.major() != majorMap {
		return errHeaderCBOR
	}
	n, ok := r.head()
	if !ok || n > maxMapPairs {
		return errHeaderCBOR
	}
	var (
		seen    uint16     // the known keys read, by bit
		hasPrev bool       // key 4 was read
		numOps  uint64     // key 9
		unknown []otherKey // the unknown keys read
		spare   [8]otherKey
	)
	unknown = spare[:0]
	for ; n > 0; n-- {
		m := r.major()
		key, ok := r.head()
		var text []byte
		switch {
		case !ok:
			return errHeaderCBOR
		case m == majorText:
			if key > uint64(len(r.b)) || !utf8.Valid(r.b[:key]) {
				return errHeaderCBOR
			}
			text, r.b = r.b[:key], r.b[key:]
		case m != majorUint && m != majorNint || key > math.MaxInt64:
			return errHeaderCBOR
		}
		if m != majorUint || key < hSpace || key > hNumOps {
			// An unknown key: unique by its value, whatever its head.
			k := otherKey{major: m, n: key, text: text}
			for _, u := range unknown {
				if u.major == k.major && u.n == k.n && bytes.Equal(u.text, k.text) {
					return errors.New("an unknown key appears twice")
				}
			}
			unknown = append(unknown, k)
			if !r.skip(1) {
				return errHeaderCBOR
			}
			continue
		}
		if seen&(1<<key) != 0 {
			return fmt.Errorf("key %d appears twice", key)
		}
		seen |= 1 << key
		if err := r.headerField(key, h, &hasPrev, &numOps); err != nil {
			return err
		}
	}
	if len(r.b) != 0 {
		return errHeaderCBOR // bytes after the map
	}
	for _, k := range [...]uint64{hSpace, hAuthor, hTime, hOpsRoot} {
		if seen&(1<<k) == 0 {
			return fmt.Errorf("field %d is missing", k)
		}
	}
	if hasPrev && h.Prev.IsZero() {
		return errors.New("prev is present but zero")
	}
	if numOps > MaxOps {
		return fmt.Errorf("op count %d, the limit is %d", numOps, MaxOps)
	}
	h.NumOps = int(numOps)
	return checkHeader(h)
}

// otherKey is an unknown header key: an integer (major type and
// argument) or a text string.
type otherKey struct {
	major byte
	n     uint64
	text  []byte
}

// headerField reads the value of known header key k into h.
func (r *cborReader) headerField(k uint64, h *Header, hasPrev *bool, numOps *uint64) error {
	ok := false
	switch k {
	case hSpace:
		ok = r.id((*[32]byte)(&h.Space))
	case hAuthor:
		ok = r.id((*[32]byte)(&h.Author))
	case hPrev:
		ok, *hasPrev = r.id((*[32]byte)(&h.Prev)), true
	case hOpsRoot:
		ok = r.id((*[32]byte)(&h.OpsRoot))
	case hSeq:
		h.Seq, ok = r.uintLike()
	case hEpoch:
		h.Epoch, ok = r.uintLike()
	case hNumOps:
		*numOps, ok = r.uintLike()
	case hTime:
		var n, wall, lgc uint64
		if n, ok = r.array(); !ok || n != 2 {
			return errors.New("time must be [wall µs, logical] with a 32-bit logical part")
		}
		wall, ok = r.uintLike()
		if ok {
			lgc, ok = r.uintLike()
		}
		if ok && lgc > math.MaxUint32 {
			return errors.New("time must be [wall µs, logical] with a 32-bit logical part")
		}
		h.Time = HLC{Wall: wall, Logical: uint32(lgc)}
	case hDeps:
		var n uint64
		if n, ok = r.array(); ok && n > MaxDeps {
			return fmt.Errorf("%d deps, the limit is %d", n, MaxDeps)
		}
		if ok && n > 0 {
			h.Deps = make([]keys.CommitID, n)
			for i := range h.Deps {
				if ok = r.id((*[32]byte)(&h.Deps[i])); !ok {
					break
				}
				if i > 0 && bytes.Compare(h.Deps[i-1][:], h.Deps[i][:]) >= 0 {
					return errors.New("deps are not sorted and unique")
				}
			}
		}
	}
	if !ok {
		return fmt.Errorf("field %d: %w", k, errHeaderCBOR)
	}
	return nil
}

// array reads the head of an array of any width within the bounds.
func (r *cborReader) array() (uint64, bool) {
	if r.major() != majorArray {
		return 0, false
	}
	n, ok := r.head()
	return n, ok && n <= maxArrayElems
}
