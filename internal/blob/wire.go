package blob

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/keys"
)

// BlobProtocolID names the blob transfer protocol on the wire.
//
// Messages are canonical CBOR maps with integer keys (Core Deterministic
// Encoding), one per frame of package frame, as in the sync protocol (see
// Server and Client). A download asks each peer Want and gets Have back,
// then sends Get for runs of chunks and receives one Chunk message per
// chunk. Err ends an exchange with a reason. The fields of each type:
//
//	key  field     Want  Have  Get   Chunk  Err
//	1    type      1     2     3     4      5
//	2    blob      req   req   req   req    -
//	3    manifest  -     opt   -     -      -     encoded manifest, if held
//	4    chunks    -     opt   -     -      -     the blob's chunk count
//	5    have      -     opt   -     -      -     bitmap (see Bitmap)
//	6    index     -     -     first index  -
//	7    count     -     -     req   -      -     1..MaxGetCount
//	8    data      -     -     -     req    -     1..ChunkSize bytes
//	9    reason    -     -     -     -      req   UTF-8, ≤ MaxReasonLen bytes
//
// Fields equal to their zero value are omitted (index 0, an absent
// manifest), so every message has exactly one encoding, and DecodeBlobMsg
// accepts only that encoding. A Have with neither manifest nor chunks says
// the peer does not hold the blob. A Have's bitmap is exactly
// ceil(chunks/8) bytes with its padding bits clear, and if the manifest is
// present chunks is its chunk count. A decoded manifest is well formed but
// not yet checked against the blob ID (VerifyManifest does that).
//
// Changelog:
//   - 1 (2026-11-21): Want, Have, Get, Chunk, Err.
const BlobProtocolID = "/loam/blob/1"

// Limits of the blob protocol.
const (
	// MaxGetCount bounds the chunks one Get asks for.
	MaxGetCount = 64
	// MaxReasonLen bounds the reason of an Err message.
	MaxReasonLen = 1024
	// MaxBlobFrame bounds one encoded message: a Have carrying the
	// largest manifest and its bitmap, plus the map around them.
	MaxBlobFrame = MaxManifestSize + MaxChunks/8 + 1024
)

// Blob protocol message types.
const (
	BlobMsgWant  = 1
	BlobMsgHave  = 2
	BlobMsgGet   = 3
	BlobMsgChunk = 4
	BlobMsgErr   = 5
)

// ErrBadBlobMsg reports a blob protocol message that breaks the format or
// its limits: the peer misbehaved.
var ErrBadBlobMsg = errors.New("blob: malformed protocol message")

// wireBlobMsg is every message: Type says which fields it carries.
type wireBlobMsg struct {
	Type     uint64 `cbor:"1,keyasint"`
	Blob     []byte `cbor:"2,keyasint,omitempty"`
	Manifest []byte `cbor:"3,keyasint,omitempty"`
	Chunks   uint64 `cbor:"4,keyasint,omitempty"`
	Have     []byte `cbor:"5,keyasint,omitempty"`
	Index    uint64 `cbor:"6,keyasint,omitempty"`
	Count    uint64 `cbor:"7,keyasint,omitempty"`
	Data     []byte `cbor:"8,keyasint,omitempty"`
	Reason   string `cbor:"9,keyasint,omitempty"`
}

var (
	blobEncMode = keys.CanonicalCBOR
	blobDecMode = keys.StrictCBOR(keys.CBORLimits{Nesting: 4, ArrayElems: 16, MapPairs: 16, Closed: true})
)

// BlobMsg is a message of the blob protocol. Fields a type does not carry
// (see BlobProtocolID) are zero.
type BlobMsg struct {
	Type     int
	Blob     BlobID // all but Err
	Manifest []byte // Have: the encoded manifest, nil if the peer does not hold it
	Chunks   int    // Have: the blob's chunk count, 0 if unknown
	Have     Bitmap // Have: the chunks the peer holds
	Index    int    // Get: the first chunk; Chunk: its index
	Count    int    // Get: how many chunks, 1..MaxGetCount
	Data     []byte // Chunk: its bytes, not yet verified
	Reason   string // Err
}

// Encode returns the message's canonical CBOR encoding. It does not check
// the message: encode only what DecodeBlobMsg accepts.
func (m *BlobMsg) Encode() []byte {
	w := wireBlobMsg{
		Type:     uint64(m.Type),
		Manifest: m.Manifest,
		Chunks:   uint64(m.Chunks),
		Have:     m.Have,
		Index:    uint64(m.Index),
		Count:    uint64(m.Count),
		Data:     m.Data,
		Reason:   m.Reason,
	}
	if m.Type != BlobMsgErr {
		w.Blob = m.Blob[:]
	}
	b, err := blobEncMode.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("blob: encode message: %v", err))
	}
	return b
}

func badMsg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBlobMsg, fmt.Sprintf(format, args...))
}

// Fields of wireBlobMsg as bits (1<<key), and which fields each type may
// carry.
const (
	fBlob = 1 << (iota + 2)
	fManifest
	fChunks
	fHave
	fIndex
	fCount
	fData
	fReason
)

var allowedFields = map[uint64]int{
	BlobMsgWant:  fBlob,
	BlobMsgHave:  fBlob | fManifest | fChunks | fHave,
	BlobMsgGet:   fBlob | fIndex | fCount,
	BlobMsgChunk: fBlob | fIndex | fData,
	BlobMsgErr:   fReason,
}

// DecodeBlobMsg parses one message strictly: it accepts exactly the
// canonical encoding of a message within the protocol's limits (errors wrap
// ErrBadBlobMsg). A Chunk's Data is a slice of b, not a copy: b must not
// change while the message is used.
func DecodeBlobMsg(b []byte) (*BlobMsg, error) {
	if len(b) > MaxBlobFrame {
		return nil, badMsg("%d bytes, the limit is %d", len(b), MaxBlobFrame)
	}
	if m, ok := decodeChunk(b); ok {
		return m, nil // the common case, without copying the data (wirechunk.go)
	}
	return decodeBlobMsgGeneric(b)
}

// decodeBlobMsgGeneric is DecodeBlobMsg for every message type, through
// the CBOR decoder.
func decodeBlobMsgGeneric(b []byte) (*BlobMsg, error) {
	var w wireBlobMsg
	if err := blobDecMode.Unmarshal(b, &w); err != nil {
		return nil, badMsg("%v", err)
	}
	present := 0
	for _, f := range []struct {
		bit int
		set bool
	}{
		{fBlob, w.Blob != nil}, {fManifest, w.Manifest != nil}, {fChunks, w.Chunks != 0},
		{fHave, w.Have != nil}, {fIndex, w.Index != 0}, {fCount, w.Count != 0},
		{fData, w.Data != nil}, {fReason, w.Reason != ""},
	} {
		if f.set {
			present |= f.bit
		}
	}
	mask, ok := allowedFields[w.Type]
	if !ok {
		return nil, badMsg("unknown message type %d", w.Type)
	}
	if extra := present &^ mask; extra != 0 {
		return nil, badMsg("type %d carries fields it does not have (key bits %b)", w.Type, extra)
	}
	m := &BlobMsg{Type: int(w.Type), Reason: w.Reason}
	if w.Type != BlobMsgErr {
		if len(w.Blob) != len(m.Blob) {
			return nil, badMsg("blob ID is %d bytes, want %d", len(w.Blob), len(m.Blob))
		}
		copy(m.Blob[:], w.Blob)
	}
	switch w.Type {
	case BlobMsgHave:
		if w.Chunks > MaxChunks {
			return nil, badMsg("%d chunks, the limit is %d", w.Chunks, MaxChunks)
		}
		m.Chunks = int(w.Chunks)
		if w.Manifest != nil {
			man, err := DecodeManifest(w.Manifest)
			if err != nil {
				return nil, badMsg("manifest: %v", err)
			}
			if len(man.Chunks) != m.Chunks {
				return nil, badMsg("a manifest of %d chunks, but chunks says %d", len(man.Chunks), m.Chunks)
			}
			m.Manifest = w.Manifest
		}
		if w.Have != nil {
			if err := Bitmap(w.Have).check(m.Chunks); err != nil {
				return nil, badMsg("%v", err)
			}
			m.Have = w.Have
		} else if m.Chunks > 0 {
			return nil, badMsg("%d chunks and no bitmap", m.Chunks)
		}
	case BlobMsgGet:
		if w.Count == 0 || w.Count > MaxGetCount {
			return nil, badMsg("get of %d chunks, want 1..%d", w.Count, MaxGetCount)
		}
		if w.Index >= MaxChunks || w.Index+w.Count > MaxChunks {
			return nil, badMsg("get of chunks %d+%d, beyond the %d-chunk limit", w.Index, w.Count, MaxChunks)
		}
		m.Index, m.Count = int(w.Index), int(w.Count)
	case BlobMsgChunk:
		if w.Index >= MaxChunks {
			return nil, badMsg("chunk %d, beyond the %d-chunk limit", w.Index, MaxChunks)
		}
		if len(w.Data) == 0 || len(w.Data) > ChunkSize {
			return nil, badMsg("chunk of %d bytes, want 1..%d", len(w.Data), ChunkSize)
		}
		m.Index, m.Data = int(w.Index), w.Data
	case BlobMsgErr:
		if w.Reason == "" || len(w.Reason) > MaxReasonLen {
			return nil, badMsg("error reason of %d bytes, want 1..%d", len(w.Reason), MaxReasonLen)
		}
	}
	// The decoder accepts any order of keys and any length of integer
	// heads; the protocol accepts only the canonical form.
	if !bytes.Equal(m.Encode(), b) {
		return nil, badMsg("not in canonical form")
	}
	return m, nil
}

// Bitmap says which chunks of a blob a peer holds: chunk i is the bit
// 0x80>>(i%8) of byte i/8, as in BitTorrent. The bitmap of an n-chunk blob
// is exactly ceil(n/8) bytes, and the bits past n are clear.
type Bitmap []byte

// NewBitmap returns an empty bitmap for a blob of n chunks.
func NewBitmap(n int) Bitmap { return make(Bitmap, (n+7)/8) }

// Has reports whether chunk i is set; an index outside the bitmap is not.
func (b Bitmap) Has(i int) bool {
	return i >= 0 && i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0
}

// Set sets chunk i, which must be inside the bitmap.
func (b Bitmap) Set(i int) { b[i/8] |= 0x80 >> (i % 8) }

// clear clears chunk i, which must be inside the bitmap.
func (b Bitmap) clear(i int) { b[i/8] &^= 0x80 >> (i % 8) }

// Count returns how many chunks are set.
func (b Bitmap) Count() int {
	n := 0
	for _, x := range b {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// check reports whether b is a well-formed bitmap of an n-chunk blob.
func (b Bitmap) check(n int) error {
	if len(b) != (n+7)/8 {
		return fmt.Errorf("bitmap of %d bytes for %d chunks, want %d", len(b), n, (n+7)/8)
	}
	if n%8 != 0 && b[len(b)-1]&(0xff>>(n%8)) != 0 {
		return fmt.Errorf("bitmap sets bits past chunk %d", n-1)
	}
	return nil
}

// Bitmap returns the bitmap of the chunks of m that s holds.
func (s *Store) Bitmap(m Manifest) Bitmap {
	b := NewBitmap(len(m.Chunks))
	for i, c := range m.Chunks {
		if s.Has(c) {
			b.Set(i)
		}
	}
	return b
}
