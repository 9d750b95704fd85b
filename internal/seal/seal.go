package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Contexts, bound into the associated data or the key derivation.
const (
	CtxPayload = "loam/payload/v1"
	CtxChunk   = "loam/chunk/v1"
	CtxSealKey = "loam/sealkey/v1"
)

// Sizes.
const (
	KeySize   = chacha20poly1305.KeySize    // 32: a read key
	NonceSize = chacha20poly1305.NonceSizeX // 24
	TagSize   = chacha20poly1305.Overhead   // 16
	// Overhead is the bytes a sealed payload or chunk adds to its plaintext.
	Overhead = NonceSize + TagSize // 40

	// MaxPayload is the largest payload plaintext: no payload can be larger
	// than the commit carrying it.
	MaxPayload = commit.MaxCommitSize
	// MaxChunk is the largest blob chunk plaintext (DESIGN.md §7: 1 MiB).
	MaxChunk = 1 << 20
)

// ErrDecrypt is wrapped by every error from OpenPayload, OpenChunk and
// OpenKey: the ciphertext was not sealed under this key for this space,
// epoch (and index), or it was altered, truncated or extended.
var ErrDecrypt = errors.New("seal: cannot decrypt (wrong key, space or epoch, or corrupted data)")

// ErrTooLarge is returned when a plaintext to seal exceeds its maximum size.
var ErrTooLarge = errors.New("seal: plaintext too large")

// ReadKey is the symmetric key of one epoch of a private space. Callers
// carry the epoch number alongside it.
type ReadKey [KeySize]byte

// NewReadKey returns a random read key.
func NewReadKey() (ReadKey, error) {
	var k ReadKey
	if _, err := rand.Read(k[:]); err != nil {
		return ReadKey{}, fmt.Errorf("seal: new read key: %w", err)
	}
	return k, nil
}

// IsZero reports whether k is the zero key (never a valid read key).
func (k ReadKey) IsZero() bool { return k == ReadKey{} }

// String never prints the key.
func (k ReadKey) String() string { return "seal.ReadKey(redacted)" }

// GoString never prints the key.
func (k ReadKey) GoString() string { return k.String() }

// ad returns the associated data: ctx ‖ 0 ‖ space ‖ epoch (‖ index), all
// fixed-width big-endian after the zero byte, so it parses one way only.
func ad(ctx string, space keys.SpaceID, epoch uint64, index *uint64) []byte {
	b := make([]byte, 0, len(ctx)+1+keys.Size+16)
	b = append(b, ctx...)
	b = append(b, 0)
	b = append(b, space[:]...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	if index != nil {
		b = binary.BigEndian.AppendUint64(b, *index)
	}
	return b
}

func aead(k []byte) cipher.AEAD {
	a, err := chacha20poly1305.NewX(k)
	if err != nil {
		panic("seal: " + err.Error()) // k is always KeySize bytes
	}
	return a
}

// seal returns nonce ‖ AEAD(plaintext) under k and ad.
func seal(k []byte, plaintext, ad []byte) ([]byte, error) {
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+TagSize)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead(k).Seal(out, out[:NonceSize], plaintext, ad), nil
}

// open reverses seal; what names the kind of ciphertext in errors.
func open(k []byte, ct, ad []byte, maxPlain int, what string) ([]byte, error) {
	if len(ct) < Overhead {
		return nil, fmt.Errorf("%w: %s of %d bytes is shorter than the %d-byte minimum", ErrDecrypt, what, len(ct), Overhead)
	}
	if len(ct)-Overhead > maxPlain {
		return nil, fmt.Errorf("%w: %s of %d bytes exceeds the %d-byte maximum", ErrDecrypt, what, len(ct), maxPlain+Overhead)
	}
	pt, err := aead(k).Open(nil, ct[:NonceSize], ct[NonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: %s failed authentication", ErrDecrypt, what)
	}
	return pt, nil
}

// SealPayload encrypts an op payload of a private space for the given epoch.
// The result is len(plaintext)+Overhead bytes.
func SealPayload(k ReadKey, space keys.SpaceID, epoch uint64, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrTooLarge, len(plaintext), MaxPayload)
	}
	return seal(k[:], plaintext, ad(CtxPayload, space, epoch, nil))
}

// OpenPayload decrypts a payload sealed by SealPayload with the same key,
// space and epoch. Any failure wraps ErrDecrypt.
func OpenPayload(k ReadKey, space keys.SpaceID, epoch uint64, ciphertext []byte) ([]byte, error) {
	return open(k[:], ciphertext, ad(CtxPayload, space, epoch, nil), MaxPayload, "payload")
}

// SealChunk encrypts chunk number index of a blob in a private space. The
// result is len(chunk)+Overhead (40) bytes. A fresh random nonce is used:
// equal chunks give unrelated ciphertexts.
func SealChunk(k ReadKey, space keys.SpaceID, epoch, index uint64, chunk []byte) ([]byte, error) {
	if len(chunk) > MaxChunk {
		return nil, fmt.Errorf("%w: chunk of %d bytes exceeds %d", ErrTooLarge, len(chunk), MaxChunk)
	}
	return seal(k[:], chunk, ad(CtxChunk, space, epoch, &index))
}

// OpenChunk decrypts a chunk sealed by SealChunk with the same key, space,
// epoch and index. Any failure wraps ErrDecrypt.
func OpenChunk(k ReadKey, space keys.SpaceID, epoch, index uint64, ciphertext []byte) ([]byte, error) {
	return open(k[:], ciphertext, ad(CtxChunk, space, epoch, &index), MaxChunk, "chunk")
}
