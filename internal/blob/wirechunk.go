package blob

import (
	"bytes"
	"encoding/binary"
)

// The Chunk message carries almost every byte of a download, so it has a
// path of its own that neither copies nor reflects over its data: its
// canonical encoding is a short header (the map, the type, the blob ID,
// the index, the data's byte-string head) followed by the data as is, and
// appendChunkHeader writes exactly that header. DecodeBlobMsg recognises a
// Chunk by it and takes the data as a slice of the frame; anything else,
// including every non-canonical spelling of a Chunk, goes to the generic
// strict decoder, which refuses what it must. TestChunkHeaderMatchesEncode
// and FuzzDecodeBlobMsg check that both paths agree.

// maxChunkHeader bounds appendChunkHeader's output: map, type, blob ID,
// index (up to 9 bytes), data key and head (up to 5 bytes).
const maxChunkHeader = 1 + 2 + 2 + 2 + 32 + 1 + 9 + 1 + 5

// appendChunkHeader appends the canonical encoding of a Chunk of blob
// index i of blob id whose data has n bytes (1..ChunkSize), less the data.
func appendChunkHeader(dst []byte, id BlobID, i, n int) []byte {
	if i == 0 {
		dst = append(dst, 0xa3) // map(3): index 0 is omitted
	} else {
		dst = append(dst, 0xa4)
	}
	dst = append(dst, 0x01, BlobMsgChunk, 0x02, 0x58, 0x20)
	dst = append(dst, id[:]...)
	if i != 0 {
		dst = append(dst, 0x06)
		dst = appendCBORHead(dst, 0x00, uint64(i))
	}
	dst = append(dst, 0x08)
	return appendCBORHead(dst, 0x40, uint64(n))
}

// appendCBORHead appends a CBOR head of major type major (shifted: 0x00
// for an unsigned integer, 0x40 for a byte string) and argument v, in its
// shortest form.
func appendCBORHead(dst []byte, major byte, v uint64) []byte {
	switch {
	case v < 24:
		return append(dst, major|byte(v))
	case v <= 0xff:
		return append(dst, major|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, major|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, major|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, major|27), v)
}

// decodeChunk decodes b if it is exactly the canonical encoding of a Chunk
// within the protocol's limits, with Data a slice of b; ok is false for
// anything else (which may still be a valid message of another type).
func decodeChunk(b []byte) (m *BlobMsg, ok bool) {
	const fixed = 1 + 2 + 2 + 1 + 32 // map head, type, blob key and head, blob ID
	if len(b) < fixed || b[0] != 0xa3 && b[0] != 0xa4 || b[1] != 0x01 || b[2] != BlobMsgChunk ||
		b[3] != 0x02 || b[4] != 0x58 || b[5] != 0x20 {
		return nil, false
	}
	m = &BlobMsg{Type: BlobMsgChunk}
	copy(m.Blob[:], b[6:fixed])
	rest := b[fixed:]
	if b[0] == 0xa4 {
		if len(rest) == 0 || rest[0] != 0x06 {
			return nil, false
		}
		v, k, ok := readCBORHead(rest[1:], 0x00)
		if !ok || v == 0 || v >= MaxChunks {
			return nil, false
		}
		m.Index = int(v)
		rest = rest[1+k:]
	}
	if len(rest) == 0 || rest[0] != 0x08 {
		return nil, false
	}
	n, k, ok := readCBORHead(rest[1:], 0x40)
	if !ok || n == 0 || n > ChunkSize || uint64(len(rest)-1-k) != n {
		return nil, false
	}
	m.Data = rest[1+k:]
	// The heads read are in their shortest form iff writing them back
	// gives the same bytes.
	var hdr [maxChunkHeader]byte
	if !bytes.Equal(appendChunkHeader(hdr[:0], m.Blob, m.Index, len(m.Data)), b[:len(b)-len(m.Data)]) {
		return nil, false
	}
	return m, true
}

// readCBORHead reads a head of major type major (shifted, as in
// appendCBORHead) at the start of b: its argument and length. Indefinite
// lengths and reserved values are not heads here.
func readCBORHead(b []byte, major byte) (v uint64, n int, ok bool) {
	if len(b) == 0 || b[0]&0xe0 != major {
		return 0, 0, false
	}
	info := b[0] & 0x1f
	switch {
	case info < 24:
		return uint64(info), 1, true
	case info == 24 && len(b) >= 2:
		return uint64(b[1]), 2, true
	case info == 25 && len(b) >= 3:
		return uint64(binary.BigEndian.Uint16(b[1:])), 3, true
	case info == 26 && len(b) >= 5:
		return uint64(binary.BigEndian.Uint32(b[1:])), 5, true
	case info == 27 && len(b) >= 9:
		return binary.BigEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}

// chunkHeaderLen returns the length of the canonical header of a Chunk of
// index i whose frame has n bytes (header and data), or -1 if no Chunk of
// index i has a frame of n bytes. A Client uses it to read an answer's
// header and data into separate buffers (readChunk).
func chunkHeaderLen(i, n int) int {
	if i < 0 || i >= MaxChunks {
		return -1
	}
	var b [maxChunkHeader]byte
	fixed := len(appendChunkHeader(b[:0], BlobID{}, i, 1)) - 1 // less the data's head, one byte for a length of 1
	for _, k := range []int{1, 2, 3, 5} {
		if d := n - fixed - k; d >= 1 && d <= ChunkSize && len(appendCBORHead(b[:0], 0x40, uint64(d))) == k {
			return fixed + k
		}
	}
	return -1
}

// decodeChunkSplit is decodeChunk of hdr followed by data, without
// joining them: it accepts exactly what decodeChunk accepts when hdr is
// the part before the data, and takes data as the message's Data.
func decodeChunkSplit(hdr, data []byte) (m *BlobMsg, ok bool) {
	const fixed = 1 + 2 + 2 + 1 + 32 // as in decodeChunk
	if len(hdr) < fixed || len(data) == 0 || len(data) > ChunkSize {
		return nil, false
	}
	m = &BlobMsg{Type: BlobMsgChunk, Data: data}
	copy(m.Blob[:], hdr[6:fixed])
	if hdr[0] == 0xa4 && len(hdr) > fixed+1 {
		v, _, ok := readCBORHead(hdr[fixed+1:], 0x00)
		if !ok || v == 0 || v >= MaxChunks {
			return nil, false
		}
		m.Index = int(v)
	}
	// The header is canonical iff it is the one appendChunkHeader writes
	// for these values.
	var want [maxChunkHeader]byte
	if !bytes.Equal(appendChunkHeader(want[:0], m.Blob, m.Index, len(data)), hdr) {
		return nil, false
	}
	return m, true
}
