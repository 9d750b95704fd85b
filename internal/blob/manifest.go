package blob

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/loamdb/loam/internal/keys"
)

// Limits and sizes.
const (
	// ChunkSize is the size of every chunk of a blob but the last, which
	// is shorter (and never empty).
	ChunkSize = 1 << 20
	// MaxBlobSize bounds the size of one blob (1 TiB).
	MaxBlobSize = 1 << 40
	// MaxChunks is the chunk count of a blob of MaxBlobSize.
	MaxChunks = MaxBlobSize / ChunkSize
	// ManifestVersion is the first byte of an encoded manifest.
	ManifestVersion = 1
	// manifestHeader is the encoded size of the version byte and the size.
	manifestHeader = 1 + 8
	// MaxManifestSize bounds an encoded manifest (that of a 1 TiB blob).
	MaxManifestSize = manifestHeader + MaxChunks*keys.Size
)

var (
	// ErrCorrupt reports bytes that do not hash to the ID they were
	// stored or sent under.
	ErrCorrupt = errors.New("data does not match its ID")
	// ErrMalformed reports a manifest that breaks the format or its limits.
	ErrMalformed = errors.New("malformed manifest")
	// ErrTooLarge reports input longer than MaxBlobSize.
	ErrTooLarge = errors.New("blob is larger than 1 TiB, the limit")
	// ErrNotFound reports a chunk or manifest that is not in the store.
	ErrNotFound = errors.New("not in the blob store")
)

// Manifest lists the chunks of a blob. Its encoding (see Encode) is
// canonical, and its hash is the blob ID.
type Manifest struct {
	Size   int64     // bytes in the blob, 0..MaxBlobSize
	Chunks []ChunkID // exactly NumChunks(Size) IDs, in order
}

// NumChunks returns the number of chunks of a blob of size bytes:
// ceil(size / ChunkSize), 0 for an empty blob.
func NumChunks(size int64) int {
	return int((size + ChunkSize - 1) / ChunkSize)
}

// ChunkLen returns the length of chunk i of m (ChunkSize but for the last).
func (m Manifest) ChunkLen(i int) int {
	if rest := m.Size - int64(i)*ChunkSize; rest < ChunkSize {
		return int(rest)
	}
	return ChunkSize
}

// VerifyChunk checks that data is chunk i of m: its ID and its length
// (errors wrap ErrCorrupt). A manifest that hashes to its blob ID may still
// list chunks whose lengths do not add up to its size, as anyone can make
// one: a download checks every chunk with this, not with VerifyChunk alone.
func (m Manifest) VerifyChunk(i int, data []byte) error {
	if i < 0 || i >= len(m.Chunks) {
		return fmt.Errorf("blob: verify chunk %d: the blob has %d chunks", i, len(m.Chunks))
	}
	if want := m.ChunkLen(i); len(data) != want {
		return fmt.Errorf("blob: verify chunk %d (%s): %w: %d bytes, the manifest says %d", i, m.Chunks[i], ErrCorrupt, len(data), want)
	}
	return VerifyChunk(m.Chunks[i], data)
}

// Validate checks m against the limits DecodeManifest enforces.
func (m Manifest) Validate() error {
	if m.Size < 0 || m.Size > MaxBlobSize {
		return fmt.Errorf("%w: size %d is outside 0..%d", ErrMalformed, m.Size, int64(MaxBlobSize))
	}
	if n := NumChunks(m.Size); len(m.Chunks) != n {
		return fmt.Errorf("%w: %d chunk IDs for %d bytes, want %d", ErrMalformed, len(m.Chunks), m.Size, n)
	}
	return nil
}

// Encode returns the canonical encoding of m, version 1:
//
//	offset 0   1 byte          version, 0x01
//	offset 1   8 bytes         size, big-endian, at most 2^40
//	offset 9   32 bytes × n    chunk IDs in order, n = ceil(size / 2^20)
//
// Nothing else: the length is exactly 9 + 32n, so each manifest has one
// encoding. Encode panics if m is not valid (see Validate).
func (m Manifest) Encode() []byte {
	if err := m.Validate(); err != nil {
		panic("blob: encode: " + err.Error())
	}
	b := make([]byte, manifestHeader, manifestHeader+len(m.Chunks)*keys.Size)
	b[0] = ManifestVersion
	binary.BigEndian.PutUint64(b[1:], uint64(m.Size))
	for _, c := range m.Chunks {
		b = append(b, c[:]...)
	}
	return b
}

// ID returns the blob ID of m: the hash of its encoding. It panics if m is
// not valid.
func (m Manifest) ID() BlobID { return BlobID(blobHash.Sum1(m.Encode())) }

// DecodeManifest decodes the canonical encoding of a manifest. It accepts
// exactly what Encode produces and nothing else (errors wrap ErrMalformed).
// It does not check the bytes against a blob ID: see VerifyManifest.
func DecodeManifest(b []byte) (Manifest, error) {
	if len(b) < manifestHeader {
		return Manifest{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), manifestHeader)
	}
	if len(b) > MaxManifestSize {
		return Manifest{}, fmt.Errorf("%w: %d bytes, more than the %d-byte limit", ErrMalformed, len(b), MaxManifestSize)
	}
	if b[0] != ManifestVersion {
		return Manifest{}, fmt.Errorf("%w: version %d, want %d (is this Loam too old?)", ErrMalformed, b[0], ManifestVersion)
	}
	size := binary.BigEndian.Uint64(b[1:])
	if size > MaxBlobSize {
		return Manifest{}, fmt.Errorf("%w: size %d is more than the %d-byte limit", ErrMalformed, size, int64(MaxBlobSize))
	}
	m := Manifest{Size: int64(size)}
	n := NumChunks(m.Size)
	if want := manifestHeader + n*keys.Size; len(b) != want {
		return Manifest{}, fmt.Errorf("%w: %d bytes for a %d-byte blob, want %d", ErrMalformed, len(b), size, want)
	}
	if n > 0 {
		m.Chunks = make([]ChunkID, n)
		for i := range m.Chunks {
			m.Chunks[i] = ChunkID(b[manifestHeader+i*keys.Size:])
		}
	}
	return m, nil
}

// VerifyManifest decodes b and checks that it is the manifest of blob id
// (errors wrap ErrCorrupt if it is not, ErrMalformed if it does not decode).
// This is how a manifest received from a peer is checked.
func VerifyManifest(id BlobID, b []byte) (Manifest, error) {
	if got := BlobID(blobHash.Sum1(b)); got != id {
		return Manifest{}, fmt.Errorf("blob: manifest of %s: %w (it hashes to %s)", id, ErrCorrupt, got)
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("blob: manifest of %s: %w", id, err)
	}
	return m, nil
}

// Split reads r to its end, cuts it into chunks and returns the manifest.
// It calls fn for each chunk in order, with its index and bytes; data is
// valid only until fn returns (Split reuses one ChunkSize buffer, so memory
// stays constant whatever the input size). An error from fn or r stops Split
// and is returned; input longer than MaxBlobSize is ErrTooLarge.
func Split(r io.Reader, fn func(index int, data []byte) error) (Manifest, error) {
	return split(r, func(i int, _ ChunkID, data []byte) error { return fn(i, data) })
}

// split is Split, also passing each chunk's ID to fn.
func split(r io.Reader, fn func(index int, id ChunkID, data []byte) error) (Manifest, error) {
	var m Manifest
	buf := make([]byte, ChunkSize)
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if m.Size+int64(n) > MaxBlobSize {
				return Manifest{}, fmt.Errorf("blob: split: %w", ErrTooLarge)
			}
			id := ChunkIDOf(buf[:n])
			m.Size += int64(n)
			m.Chunks = append(m.Chunks, id)
			if ferr := fn(i, id, buf[:n]); ferr != nil {
				return Manifest{}, ferr
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return m, nil
		default:
			return Manifest{}, fmt.Errorf("blob: split: read: %w", err)
		}
	}
}
