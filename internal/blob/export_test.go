package blob

import (
	"os"
	"syscall"

	"github.com/loamdb/loam/internal/frame"
)

// MaxRequestFrame is maxRequestFrame, for the external tests.
const MaxRequestFrame = maxRequestFrame

// Waiting returns how many tickets wait in p.
func Waiting(p *Pacer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// DecodeBlobMsgGeneric is DecodeBlobMsg without the fast path for Chunk
// messages, for the tests that check the two agree.
func DecodeBlobMsgGeneric(b []byte) (*BlobMsg, error) {
	if len(b) > MaxBlobFrame {
		return nil, badMsg("%d bytes, the limit is %d", len(b), MaxBlobFrame)
	}
	return decodeBlobMsgGeneric(b)
}

// AppendChunkHeader is appendChunkHeader, for the tests.
func AppendChunkHeader(dst []byte, id BlobID, i, n int) []byte {
	return appendChunkHeader(dst, id, i, n)
}

// PutDirect is Store.putDirect: a chunk known to hash to id, written
// directly where the file system allows it.
func PutDirect(s *Store, id ChunkID, data []byte) error { return s.putDirect(id, data) }

// DirectWrites returns how many chunks s wrote directly, and how many of
// those it first copied into an aligned buffer.
func DirectWrites(s *Store) (direct, copied int64) { return s.direct.Load(), s.copied.Load() }

// DirectRefused reports whether s found that its file system refuses
// direct writes.
func DirectRefused(s *Store) bool { return s.noDirect.Load() }

// IsAligned is isAligned.
func IsAligned(b []byte) bool { return isAligned(b) }

// ChunkHeaderLen is chunkHeaderLen.
func ChunkHeaderLen(i, n int) int { return chunkHeaderLen(i, n) }

// DecodeChunkSplit is decodeChunkSplit.
func DecodeChunkSplit(hdr, data []byte) (*BlobMsg, bool) { return decodeChunkSplit(hdr, data) }

// ReadChunk is readChunk: the answer to a Get of chunk index read from fc.
func ReadChunk(fc *frame.Conn, index int) (*BlobMsg, error) { return readChunk(fc, index) }

// RefuseDirect makes s's file system refuse O_DIRECT as one without direct
// I/O does (EINVAL at open), and returns how many opens were tried.
func RefuseDirect(s *Store) (tried func() int) {
	n := 0
	s.createDirect = func(dir string) (*os.File, error) {
		n++
		return nil, &os.PathError{Op: "open", Path: dir, Err: syscall.EINVAL}
	}
	return func() int { return n }
}

// PutDeferred is Store.putDeferred: a chunk known to hash to id, written
// through the page cache, durable at the next Sync.
func PutDeferred(s *Store, id ChunkID, data []byte) error { return s.putDeferred(id, data) }
