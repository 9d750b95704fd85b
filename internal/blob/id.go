package blob

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/loamdb/loam/internal/keys"
)

// Hash contexts. Each names the single purpose of a digest (see keys.Hasher).
const (
	CtxChunk = "loam/chunk/v1" // chunk ID = hash of the chunk's bytes
	CtxBlob  = "loam/blob/v1"  // blob ID = hash of the encoded manifest
)

var (
	chunkHash = keys.NewHasher(CtxChunk)
	blobHash  = keys.NewHasher(CtxBlob)
)

// Text prefixes, one per identifier kind.
const (
	BlobPrefix  = "blb_"
	ChunkPrefix = "chk_"
)

// BlobID identifies a blob: the BLAKE3 hash, under CtxBlob, of its encoded
// manifest.
type BlobID [keys.Size]byte

func (id BlobID) String() string { return keys.FormatID(BlobPrefix, id) }

// IsZero reports whether id is the zero value.
func (id BlobID) IsZero() bool { return id == BlobID{} }

// Short returns an abbreviated form for humans (not parseable).
func (id BlobID) Short() string { return id.String()[:len(BlobPrefix)+8] }

// ParseBlobID parses the text form produced by BlobID.String. Errors wrap
// keys.ErrMalformed, as for every identifier of the project.
func ParseBlobID(s string) (BlobID, error) {
	return keys.ParseID[BlobID]("blob ID", BlobPrefix, s)
}

// ChunkID identifies a chunk: the BLAKE3 hash, under CtxChunk, of its bytes.
type ChunkID [keys.Size]byte

func (id ChunkID) String() string { return keys.FormatID(ChunkPrefix, id) }

// IsZero reports whether id is the zero value.
func (id ChunkID) IsZero() bool { return id == ChunkID{} }

// Short returns an abbreviated form for humans (not parseable).
func (id ChunkID) Short() string { return id.String()[:len(ChunkPrefix)+8] }

// ParseChunkID parses the text form produced by ChunkID.String. Errors wrap
// keys.ErrMalformed.
func ParseChunkID(s string) (ChunkID, error) {
	return keys.ParseID[ChunkID]("chunk ID", ChunkPrefix, s)
}

// ChunkIDOf returns the ID of a chunk with contents data.
func ChunkIDOf(data []byte) ChunkID { return ChunkID(chunkHash.Sum1(data)) }

// VerifyChunk reports whether data is the chunk named id: nil if it is, an
// error wrapping ErrCorrupt if not.
func VerifyChunk(id ChunkID, data []byte) error {
	if len(data) > ChunkSize {
		return fmt.Errorf("blob: verify %s: %w: %d bytes, a chunk has at most %d", id, ErrCorrupt, len(data), ChunkSize)
	}
	if ChunkIDOf(data) != id {
		return fmt.Errorf("blob: verify %s: %w", id, ErrCorrupt)
	}
	return nil
}

// fileName returns the on-disk name of an object: a two-hex-digit shard
// directory and the remaining 62 hex digits.
func fileName(id [keys.Size]byte) (shard, name string) {
	h := hex.EncodeToString(id[:])
	return h[:2], h[2:]
}

// parseFileName is the inverse of fileName; ok is false for any other name
// (a stray file, which the store ignores).
func parseFileName(shard, name string) (id [keys.Size]byte, ok bool) {
	h := shard + name
	if len(h) != 2*keys.Size || strings.ToLower(h) != h {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, false
	}
	return id, true
}
