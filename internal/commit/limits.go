package commit

// Limits on what a decoder accepts. A commit that exceeds them is rejected
// before any field is interpreted.
const (
	// MaxCommitSize bounds one encoded commit (the sync frame limit).
	MaxCommitSize = 4 << 20
	// MaxOps bounds the number of ops in one commit.
	MaxOps = 1 << 16
	// MaxKeySize bounds a key in bytes.
	MaxKeySize = 4 << 10
	// MaxValueSize bounds an inline payload; larger values are blobs.
	MaxValueSize = 64 << 10
	// MaxDeps bounds the causal frontier carried by one commit.
	MaxDeps = 1024
	// MaxHeaderSize bounds the encoded header.
	MaxHeaderSize = 64 << 10
	// eraseReserve is the room Build keeps per op so that erasing any
	// payloads (which replaces each by a 32-byte digest and a length) never
	// takes a commit over MaxCommitSize.
	eraseReserve = 48
)
