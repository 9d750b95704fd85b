package blob

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
)

// Ref is a key's reference to a blob: the payload of a putblob op
// (commit.KindPutBlob). It names the blob, and carries its size and an
// optional media type so that a reader can show what the key holds before
// the blob's bytes arrive.
//
// In a private space the blob is sealed (package seal, "Sealed blobs"):
// Sealed is set, Epoch is the key epoch it is sealed under, ID names the
// sealed bytes and Size is the plaintext's size.
//
// The encoding is a canonical CBOR map with integer keys: 1 the blob ID
// (32-byte string), 2 the size (unsigned), 3 the media type (text, omitted
// when empty), 4 the epoch of a sealed blob (unsigned, present exactly when
// sealed). DecodeRef accepts only that encoding.
type Ref struct {
	ID     BlobID
	Size   int64
	Type   string // a media type such as "image/jpeg", or ""
	Sealed bool   // the blob is sealed under the read key of Epoch
	Epoch  uint64
}

// MaxRefType bounds a Ref's media type.
const MaxRefType = 127

// ErrBadRef reports bytes that are not an encoded Ref.
var ErrBadRef = errors.New("blob: malformed blob reference")

type wireRef struct {
	ID    []byte  `cbor:"1,keyasint"`
	Size  uint64  `cbor:"2,keyasint"`
	Type  string  `cbor:"3,keyasint,omitempty"`
	Epoch *uint64 `cbor:"4,keyasint,omitempty"`
}

var refDecMode = blobDecMode

// Encode returns r's canonical encoding.
func (r Ref) Encode() []byte {
	w := wireRef{ID: r.ID[:], Size: uint64(r.Size), Type: r.Type}
	if r.Sealed {
		w.Epoch = &r.Epoch
	}
	b, err := blobEncMode.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("blob: encode ref: %v", err))
	}
	return b
}

// Validate checks r's size and media type.
func (r Ref) Validate() error {
	if r.Size < 0 || r.Size > MaxBlobSize {
		return fmt.Errorf("%w: size %d, want 0..%d", ErrBadRef, r.Size, int64(MaxBlobSize))
	}
	if !r.Sealed && r.Epoch != 0 {
		return fmt.Errorf("%w: epoch %d given for a blob in the clear", ErrBadRef, r.Epoch)
	}
	if len(r.Type) > MaxRefType {
		return fmt.Errorf("%w: media type of %d bytes, the limit is %d", ErrBadRef, len(r.Type), MaxRefType)
	}
	if r.Type != "" {
		if _, _, err := mime.ParseMediaType(r.Type); err != nil {
			return fmt.Errorf("%w: media type %q: %v", ErrBadRef, r.Type, err)
		}
	}
	return nil
}

// DecodeRef parses an encoded Ref strictly.
func DecodeRef(b []byte) (Ref, error) {
	if len(b) > 256 {
		return Ref{}, fmt.Errorf("%w: %d bytes", ErrBadRef, len(b))
	}
	var w wireRef
	if err := refDecMode.Unmarshal(b, &w); err != nil {
		return Ref{}, fmt.Errorf("%w: %v", ErrBadRef, err)
	}
	var r Ref
	if len(w.ID) != len(r.ID) {
		return Ref{}, fmt.Errorf("%w: blob ID of %d bytes, want %d", ErrBadRef, len(w.ID), len(r.ID))
	}
	if w.Size > MaxBlobSize {
		return Ref{}, fmt.Errorf("%w: size %d, the limit is %d", ErrBadRef, w.Size, int64(MaxBlobSize))
	}
	copy(r.ID[:], w.ID)
	r.Size, r.Type = int64(w.Size), w.Type
	if w.Epoch != nil {
		r.Sealed, r.Epoch = true, *w.Epoch
	}
	if err := r.Validate(); err != nil {
		return Ref{}, err
	}
	if !bytes.Equal(r.Encode(), b) {
		return Ref{}, fmt.Errorf("%w: not in canonical form", ErrBadRef)
	}
	return r, nil
}
