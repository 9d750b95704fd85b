// Package commit defines Loam's signed record: a commit of one author in one
// space, carrying 1..N ops, hash-chained to the author's previous commit.
//
// # Wire form
//
// A commit is a canonical CBOR map with integer keys:
//
//	{1: header (byte string), 2: signature (64 bytes), 3: ops (array)}
//
// The header is itself the canonical CBOR encoding of a map:
//
//	{1: space, 2: author, 3: seq, 4: prev, 5: [wall µs, logical],
//	 6: epoch, 7: deps, 8: ops root, 9: op count}
//
// The commit ID is the keyed BLAKE3 hash ("loam/commit/v1") of the header
// bytes exactly as received, and the signature is the author's Ed25519
// signature of that ID under "loam/commit-sig/v1". The header commits to the
// ops only through the ops root, a hash over per-op digests; an op digest
// covers the op's kind, key and the digest of its payload. A payload can
// therefore be erased later (replaced by its digest and length) while the
// commit, its ID and its signature stay verifiable.
//
// # Evolution rules
//
//   - New header fields take new integer keys and are optional. Decoders keep
//     unknown header fields: they are covered by the ID and signature because
//     the header is hashed as the bytes received, never re-encoded.
//   - The outer map and op maps are closed: an unknown key there is not
//     signed, so it is rejected.
//   - New op kinds may be added; a node that does not know a kind keeps,
//     verifies and forwards it, and ignores it in the view.
//
// Decoding is strict: no duplicate map keys, no indefinite lengths, no tags,
// bounded sizes, exact field types and lengths. See docs/format/commit.md.
package commit
