// Package keys is Loam's leaf vocabulary: typed identifiers (SpaceID,
// AuthorID, CommitID), the Ed25519 keys behind them, and domain-separated
// BLAKE3 hashing and signing.
//
// It imports nothing of the project. Every identifier is a fixed-size array,
// usable as a map key, with a text form made of a fixed prefix and lowercase
// unpadded base32 ("spc_…", "aut_…", "cmt_…"). Parse accepts exactly the
// form String produces.
//
// Every hash and signature names a context string ("loam/commit/v1", …), so a
// digest or signature made for one purpose can never be replayed as another.
package keys
