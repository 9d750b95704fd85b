package commit

import "math"

// HeaderTime reads the clock reading of a commit envelope without
// decoding its header: sync's sender orders the commits it reads from
// the store by it (a full DecodeHeader, with the deps and the header's
// hash, was a fifth of a many-author send). It walks the canonical
// header's first fields (space, author, seq, prev) to field 5, and
// leaves anything else to DecodeHeader, so it returns DecodeHeader's Time
// and error (FuzzDecodeHeader checks this).
func HeaderTime(b []byte) (HLC, error) {
	if t, ok := headerTime(b); ok {
		return t, nil
	}
	h, _, err := DecodeHeader(b)
	return h.Time, err
}

// headerTime reads the time of a header in canonical form, or says no.
func headerTime(b []byte) (HLC, bool) {
	hb, ok := envelopeHeader(b)
	if !ok || len(hb) == 0 || hb[0]&0xe0 != 0xa0 || hb[0]&0x1f >= 24 {
		return HLC{}, false
	}
	r := cborReader{b: hb[1:]}
	for range hb[0] & 0x1f {
		key, ok := r.uint()
		if !ok {
			break
		}
		switch {
		case key < 5 && key != 3: // space, author, prev: byte strings
			if !r.bytes() {
				return HLC{}, false
			}
		case key == 3: // seq
			if _, ok := r.uint(); !ok {
				return HLC{}, false
			}
		case key == 5:
			if len(r.b) == 0 || r.b[0] != 0x82 {
				return HLC{}, false
			}
			r.b = r.b[1:]
			wall, ok1 := r.uint()
			lgc, ok2 := r.uint()
			if !ok1 || !ok2 || lgc > math.MaxUint32 {
				return HLC{}, false
			}
			return HLC{Wall: wall, Logical: uint32(lgc)}, true
		default:
			return HLC{}, false
		}
	}
	return HLC{}, false
}

// envelopeHeader returns the header byte string of a commit envelope
// (a3 01 then the header as a byte string), as DecodeHeader reads it.
func envelopeHeader(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != 0xa3 || b[1] != 0x01 {
		return nil, false
	}
	r := cborReader{b: b[2:]}
	if len(r.b) == 0 || r.b[0]&0xe0 != 0x40 {
		return nil, false
	}
	n, ok := r.head()
	if !ok || n > MaxHeaderSize || n > uint64(len(r.b)) {
		return nil, false
	}
	return r.b[:n], true
}

// cborReader reads the few CBOR items of a header: unsigned integers and
// byte strings with definite lengths.
type cborReader struct{ b []byte }

// head reads an item's initial byte and argument (major type not checked).
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

func (r *cborReader) uint() (uint64, bool) {
	if len(r.b) == 0 || r.b[0]&0xe0 != 0x00 {
		return 0, false
	}
	return r.head()
}

func (r *cborReader) bytes() bool {
	if len(r.b) == 0 || r.b[0]&0xe0 != 0x40 {
		return false
	}
	n, ok := r.head()
	if !ok || n > uint64(len(r.b)) {
		return false
	}
	r.b = r.b[n:]
	return true
}
