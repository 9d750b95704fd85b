package keys

import (
	"sync"

	"lukechampine.com/blake3"
)

// Hash contexts. Each names the single purpose of a digest or signature.
const (
	CtxCommitHeader = "loam/commit/v1" // commit ID = hash of the signed header bytes
	CtxCommitSig    = "loam/commit-sig/v1"
	CtxOp           = "loam/op/v1"      // digest of one op's kind, key and payload digest
	CtxOpsRoot      = "loam/ops/v1"     // digest over a commit's op digests
	CtxPayload      = "loam/payload/v1" // digest of one op payload
)

// Hasher is a keyed BLAKE3 hasher for one context. The key is derived from
// the context string with BLAKE3's derive-key mode, so hashes under different
// contexts are unrelated.
type Hasher struct {
	key  [32]byte
	pool sync.Pool // of *pooledHash
}

// pooledHash is a hasher with the room its digest is written to: a
// digest written into the caller's stack would escape to the heap
// (blake3's Sum appends to it), one allocation per hash.
type pooledHash struct {
	h   *blake3.Hasher
	out [32]byte
}

// NewHasher returns the hasher for ctx.
func NewHasher(ctx string) *Hasher {
	h := &Hasher{}
	blake3.DeriveKey(h.key[:], ctx, nil)
	h.pool.New = func() any { return &pooledHash{h: blake3.New(32, h.key[:])} }
	return h
}

// Sum returns the keyed hash of the concatenation of parts.
func (h *Hasher) Sum(parts ...[]byte) Digest {
	x := h.pool.Get().(*pooledHash)
	x.h.Reset()
	for _, p := range parts {
		x.h.Write(p)
	}
	return h.done(x)
}

// Sum1 returns the keyed hash of b (Sum without the variadic slice, for
// hot paths).
func (h *Hasher) Sum1(b []byte) Digest {
	x := h.pool.Get().(*pooledHash)
	x.h.Reset()
	x.h.Write(b)
	return h.done(x)
}

// done returns x's digest and gives x back to the pool.
func (h *Hasher) done(x *pooledHash) Digest {
	x.h.Sum(x.out[:0])
	d := Digest(x.out)
	h.pool.Put(x)
	return d
}

// Package-level hashers for the fixed contexts.
var (
	CommitHeaderHash = NewHasher(CtxCommitHeader)
	OpHash           = NewHasher(CtxOp)
	OpsRootHash      = NewHasher(CtxOpsRoot)
	PayloadHash      = NewHasher(CtxPayload)
)

// Sync contexts.
const (
	CtxDiscovery = "loam/discovery/v1"
	CtxSyncProof = "loam/sync-proof/v1"
)

var discoveryHash = NewHasher(CtxDiscovery)

// DiscoveryID is the public name of a space on the network (in sync hellos
// and, later, the DHT): a keyed hash of the space ID, so the ID itself is
// never revealed to those who do not already know it.
func DiscoveryID(sp SpaceID) Digest { return discoveryHash.Sum1(sp[:]) }

// SyncProof proves to peer to that peer from knows the space ID: a BLAKE3
// hash keyed by a key derived from the space ID over both peers' IDs, in
// order, so a proof cannot be replayed to another peer or reflected back.
func SyncProof(sp SpaceID, from, to AuthorID) Digest {
	var k [32]byte
	blake3.DeriveKey(k[:], CtxSyncProof, sp[:])
	h := blake3.New(32, k[:])
	h.Write(from[:])
	h.Write(to[:])
	var d Digest
	h.Sum(d[:0])
	return d
}
