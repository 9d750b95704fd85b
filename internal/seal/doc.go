// Package seal encrypts the contents of private spaces (DESIGN.md §5): op
// payloads and blob chunks under an epoch's read key, and read keys to the
// readers of a rotate op.
//
// # Primitives
//
// Payloads and chunks are sealed with XChaCha20-Poly1305 under a 32-byte
// [ReadKey] and a fresh random 24-byte nonce, prepended to the ciphertext.
// The associated data binds a context string ("loam/payload/v1" or
// "loam/chunk/v1"), the space ID and the epoch, and for a chunk its index in
// the blob, so a ciphertext opened anywhere else (another space, epoch,
// position or kind) fails. Every per-item overhead is fixed: [Overhead] = 40
// bytes (nonce 24 + tag 16), so a 1 MiB chunk is stored as 1 MiB + 40 bytes.
//
// A read key is sealed to one reader ([SealKey]) by ephemeral-static X25519:
// the reader's X25519 public key is derived from its Ed25519 author ID by the
// birational map to Montgomery form, and its private key from the device's
// Ed25519 seed (SHA-512, first half clamped) exactly as libsodium's
// crypto_sign_ed25519_pk_to_curve25519 / crypto_sign_ed25519_sk_to_curve25519
// do. The AEAD key is a BLAKE3 hash keyed for the context "loam/sealkey/v1"
// over shared secret ‖ ephemeral public ‖ recipient public ‖ space ‖ epoch.
// A sealed key is always [SealedKeySize] = 104 bytes: ephemeral public (32) ‖
// nonce (24) ‖ encrypted key (32) ‖ tag (16).
//
// Every failure to open (wrong key, wrong space, epoch or index, any
// tampering, truncation or extension) returns an error wrapping [ErrDecrypt];
// no partial plaintext is ever returned.
//
// # What an observer of ciphertexts learns
//
// Someone holding ciphertexts but no read key (a seeder, a network observer,
// a removed member for epochs after its removal) learns:
//
//   - the exact length of every plaintext: ciphertext length minus 40 bytes
//     (nothing is padded);
//   - how many payloads and chunks there are, and so the number of chunks
//     and approximate size of each blob;
//   - for a sealed read key, nothing but that it is one: every sealed key is
//     104 bytes; who it is sealed to is named in the rotate op itself, outside
//     this package.
//
// It does not learn whether two plaintexts are equal: every seal uses a
// fresh random nonce (and every sealed key a fresh ephemeral key), so sealing
// the same plaintext twice, in the same or another space, gives unrelated
// ciphertexts. Convergent encryption is deliberately not used. Identifiers,
// signatures, author IDs, timing and the structure of commits are outside
// this package and are not hidden by it.
//
// Random nonces are safe for XChaCha20-Poly1305: with 192-bit nonces the
// chance of a repeat under one key is negligible for any realistic count.
package seal
