package blob

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
