package commit

import "math"

// HeaderTime reads the clock reading of a commit envelope without
// decoding its header: sync's sender orders the commits it reads from
// the store by it (a full DecodeHeader, with the deps and the header's
// hash, was a fifth of a many-author send). It walks the canonical
// header's first fields (space, author, seq, prev) to field 5 with the
// reader DecodeHeader uses (cborread.go), and leaves anything else to
// DecodeHeader, so it returns the Time of every header DecodeHeader
// accepts (FuzzDecodeHeader and FuzzDecodeAgrees check this).
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
// (a3 01 then the header as a byte string whose head, not necessarily
// the shortest, has at most 4 bytes of length), as DecodeHeader reads it.
func envelopeHeader(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != majorMap|3 || b[1] != 1 || b[2] == majorBytes|27 {
		return nil, false
	}
	r := cborReader{b: b[2:]}
	if r.major() != majorBytes {
		return nil, false
	}
	n, ok := r.head()
	if !ok || n > MaxHeaderSize || n > uint64(len(r.b)) {
		return nil, false
	}
	return r.b[:n:n], true
}
