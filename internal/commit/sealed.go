package commit

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadSealedOp is wrapped by DecodeSealedOp's errors.
var ErrBadSealedOp = errors.New("malformed sealed op")

// EncodeSealedOp returns the plaintext a sealed op (KindSealed) encrypts:
// uvarint(kind) ‖ uvarint(len key) ‖ key ‖ payload. Only data ops are
// sealed; control ops stay in the clear for seeders to decide grants.
func EncodeSealedOp(o Op) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(o.Key)+len(o.Payload))
	b = binary.AppendUvarint(b, uint64(o.Kind))
	b = binary.AppendUvarint(b, uint64(len(o.Key)))
	b = append(b, o.Key...)
	return append(b, o.Payload...)
}

// DecodeSealedOp decodes the plaintext of a sealed op strictly: a data op
// within the limits of a plain one (minimal varints, non-empty key, no
// payload for a del). Plaintexts come from any member, so they are
// untrusted. The op's key and payload alias b.
func DecodeSealedOp(b []byte) (Op, error) {
	kind, n := binary.Uvarint(b)
	if n <= 0 || n != uvarintLen(kind) {
		return Op{}, fmt.Errorf("%w: bad kind varint", ErrBadSealedOp)
	}
	b = b[n:]
	klen, n := binary.Uvarint(b)
	if n <= 0 || n != uvarintLen(klen) || klen > uint64(len(b)-n) {
		return Op{}, fmt.Errorf("%w: bad key length", ErrBadSealedOp)
	}
	b = b[n:]
	o := Op{Kind: Kind(kind), Key: b[:klen:klen], Payload: b[klen:]}
	if kind > 255 || !o.Kind.IsData() {
		return Op{}, fmt.Errorf("%w: kind %d is not a data op", ErrBadSealedOp, kind)
	}
	if len(o.Payload) == 0 {
		o.Payload = nil
	}
	if err := o.validate(); err != nil {
		return Op{}, fmt.Errorf("%w: %v", ErrBadSealedOp, err)
	}
	return o, nil
}

func uvarintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}
