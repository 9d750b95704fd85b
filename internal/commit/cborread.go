package commit

import "math"

// CBOR major types, as the high three bits of an item's initial byte.
const (
	majorUint   = 0 << 5
	majorNint   = 1 << 5
	majorBytes  = 2 << 5
	majorText   = 3 << 5
	majorArray  = 4 << 5
	majorMap    = 5 << 5
	majorTag    = 6 << 5
	majorSimple = 7 << 5
)

// Bounds of the open header decoder (they were keys.CBORLimits of the
// fxamacker decoder the header was first read with, and stay so: a
// header is hashed as received, so what it accepts is part of the format).
const (
	maxNesting    = 8      // arrays and maps, the header's map counting 1
	maxArrayElems = MaxOps // elements of one array
	maxMapPairs   = 64     // pairs of one map
)

// cborReader walks the CBOR of a commit: the canonical envelope and ops
// (canon, canonBytes), the open header (uintLike, id, skip), and the
// first fields of a header for HeaderTime (uint, bytes). Every method
// reads one item or says no, leaving b where it stopped.
type cborReader struct{ b []byte }

// major returns the major type of the next item (0xff at the end).
func (r *cborReader) major() byte {
	if len(r.b) == 0 {
		return 0xff
	}
	return r.b[0] & 0xe0
}

// head reads an item's initial byte and argument (major type not
// checked). It refuses additional information 28 to 31: reserved, or
// an indefinite length, which no decoder of Loam accepts.
func (r *cborReader) head() (uint64, bool) {
	if len(r.b) == 0 {
		return 0, false
	}
	ai := r.b[0] & 0x1f
	var n, size uint64
	switch {
	case ai < 24:
		n, size = uint64(ai), 1
	case ai == 24:
		size = 2
	case ai == 25:
		size = 3
	case ai == 26:
		size = 5
	case ai == 27:
		size = 9
	default:
		return 0, false
	}
	if uint64(len(r.b)) < size {
		return 0, false
	}
	for _, c := range r.b[1:size] {
		n = n<<8 | uint64(c)
	}
	r.b = r.b[size:]
	return n, true
}

// canon reads the head of an item of the given major type in its
// shortest form (RFC 8949 §4.2.1), as the canonical encoder writes it.
func (r *cborReader) canon(major byte) (uint64, bool) {
	if r.major() != major {
		return 0, false
	}
	ai := r.b[0] & 0x1f
	n, ok := r.head()
	switch ai {
	case 24:
		ok = ok && n >= 24
	case 25:
		ok = ok && n > math.MaxUint8
	case 26:
		ok = ok && n > math.MaxUint16
	case 27:
		ok = ok && n > math.MaxUint32
	}
	return n, ok
}

// canonBytes reads a byte string with a shortest-form head. The result
// is a sub-slice of the input with its capacity cut to its length.
func (r *cborReader) canonBytes() ([]byte, bool) {
	n, ok := r.canon(majorBytes)
	if !ok || n > uint64(len(r.b)) {
		return nil, false
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s, true
}

// uint reads an unsigned integer with a head of any width.
func (r *cborReader) uint() (uint64, bool) {
	if r.major() != majorUint {
		return 0, false
	}
	return r.head()
}

// bytes skips a byte string with a head of any width.
func (r *cborReader) bytes() bool {
	if r.major() != majorBytes {
		return false
	}
	n, ok := r.head()
	if !ok || n > uint64(len(r.b)) {
		return false
	}
	r.b = r.b[n:]
	return true
}

// uintLike reads what the fxamacker decoder put into a Go unsigned
// integer: an unsigned integer with a head of any width, or a simple
// value other than false, true, null and undefined (simple(5) read as 5).
// A header is hashed as received, so it keeps reading them.
func (r *cborReader) uintLike() (uint64, bool) {
	switch r.major() {
	case majorUint:
		return r.head()
	case majorSimple:
		ai := r.b[0] & 0x1f
		if ai < 20 {
			r.b = r.b[1:]
			return uint64(ai), true
		}
		if ai == 24 && len(r.b) >= 2 && r.b[1] >= 32 {
			n := uint64(r.b[1])
			r.b = r.b[2:]
			return n, true
		}
	}
	return 0, false
}

// id reads a 32-byte field of the open header into dst, as the fxamacker
// decoder read a []byte field then checked its length: a byte string
// (head of any width), or an array (head of any width) of 32 integers
// 0..255 read by uintLike.
func (r *cborReader) id(dst *[32]byte) bool {
	switch r.major() {
	case majorBytes:
		n, ok := r.head()
		if !ok || n != 32 || len(r.b) < 32 {
			return false
		}
		copy(dst[:], r.b)
		r.b = r.b[32:]
		return true
	case majorArray:
		n, ok := r.head()
		if !ok || n != 32 {
			return false
		}
		for i := range dst {
			v, ok := r.uintLike()
			if !ok || v > math.MaxUint8 {
				return false
			}
			dst[i] = byte(v)
		}
		return true
	}
	return false
}

// skip reads one well-formed item at the given nesting depth (the
// enclosing container's) within the open decoder's bounds: no tags, no
// indefinite lengths, no null or undefined, no reserved simple values,
// at most maxNesting levels, maxArrayElems elements and maxMapPairs
// pairs. Any other item is legal: an unknown header field's value is
// signed as received and not interpreted.
func (r *cborReader) skip(depth int) bool {
	m := r.major()
	if m == 0xff {
		return false
	}
	ai := r.b[0] & 0x1f
	n, ok := r.head()
	if !ok {
		return false
	}
	switch m {
	case majorBytes, majorText:
		if n > uint64(len(r.b)) {
			return false
		}
		r.b = r.b[n:]
	case majorArray, majorMap:
		if depth++; depth > maxNesting {
			return false
		}
		if m == majorArray && n > maxArrayElems || m == majorMap && n > maxMapPairs {
			return false
		}
		if m == majorMap {
			n *= 2
		}
		for ; n > 0; n-- {
			if !r.skip(depth) {
				return false
			}
		}
	case majorTag:
		return false
	case majorSimple:
		// 22 null and 23 undefined: a decoder took them as a zero
		// value, a second encoding of the same header. A one-byte
		// simple value below 32 is not well-formed (RFC 8949 §3.3).
		if ai == 22 || ai == 23 || ai == 24 && n < 32 {
			return false
		}
	}
	return true
}
