// Package blob stores large values as content-addressed, verifiable blobs:
// the local foundation of Loam's blob transfer (DESIGN.md §7).
//
// # Blobs, chunks and manifests
//
// A blob is cut into chunks of ChunkSize (1 MiB); the last is shorter, and an
// empty blob has none. A chunk's ID (ChunkID, "chk_…") is the BLAKE3 hash of
// its bytes under the context "loam/chunk/v1", so any chunk can be verified
// alone. A Manifest lists a blob's size and its chunk IDs in order; the blob
// ID (BlobID, "blb_…") is the BLAKE3 hash of the encoded manifest under
// "loam/blob/v1". Identifiers print as a prefix and lowercase unpadded
// base32, as in package keys, and Parse accepts only that form.
//
// The manifest encoding is a fixed binary layout, not CBOR: a version byte
// (1), the size as a big-endian uint64, then the 32-byte chunk IDs. Its
// length follows from the size, so the encoding is canonical by construction
// and a decoder has nothing to normalize (see Manifest.Encode). Limits: a
// blob has at most MaxBlobSize (1 TiB) bytes, so a manifest has at most 2^20
// chunk IDs (32 MiB).
//
// # The store
//
// A Store keeps chunks and manifests as files in a directory:
//
//	chunks/ab/cdef…       a chunk, named by its ID in hex: 2 digits of shard
//	                      directory, 62 of file name; the file holds the
//	                      chunk's bytes
//	manifests/ab/cdef…    a manifest, named by its blob ID in hex; the file
//	                      holds the encoded manifest
//	pins                  pinned blob IDs in text form, one per line, sorted
//	tmp/                  files being written; emptied by OpenStore
//
// Every file is written to tmp/ and renamed into place, so a write killed
// half-way leaves only a temporary file, which OpenStore removes. Manifests
// and the pins file are fsynced before the rename and their directory after
// it. Chunks are not synced one by one: Add and Fetch write them and then
// flush the file system once (syncfs(2); Store.Sync), which made Add about
// 2.5 times as fast as an fsync per chunk and its directory. A killed
// process loses nothing that way (the renamed files are in the page cache);
// a system crash may leave the chunks of the last unflushed batch short or
// empty, and Missing counts a chunk file of the wrong length as missing.
// A download writes its chunks with O_DIRECT where the system allows it,
// from aligned buffers, around the page cache (direct.go).
// Files are verified on every read, and one damaged on disk is removed so
// that it can be fetched again.
//
// # Retention
//
// GC keeps a blob while its owner's keep function says so (a key of a space
// references it), while it is pinned (Pin, persisted), and while it is leased
// (Lease, in memory: a download, an Add or a Reader in progress); it deletes
// the other manifests and every chunk that no kept manifest lists. GC never
// deletes a chunk that a lease or an Add in progress holds, even one written
// while GC runs.
//
// # Transfer
//
// Fetch downloads a blob from Sources, verifying every chunk. Over
// /loam/blob/1 (BlobProtocolID, docs/protocol/blob.md) a Client is the
// Source for one peer and a Server answers one stream; both take any
// Stream (a p2p stream, or TCP in tests) and frame it with package frame,
// the sync protocol's codec. A Client keeps a few streams open between
// requests (a fresh stream's flow-control window is small), and Chunk
// messages, which carry nearly every byte, are written and read without
// copying their data (wirechunk.go). A Pacer bounds what a Server uploads.
package blob
