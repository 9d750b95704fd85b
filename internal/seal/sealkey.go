package seal

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/curve25519"

	"github.com/loamdb/loam/internal/keys"
)

// SealedKeySize is the length of every sealed read key: ephemeral X25519
// public key (32) ‖ nonce (24) ‖ encrypted read key (32) ‖ tag (16).
const SealedKeySize = curve25519.PointSize + NonceSize + KeySize + TagSize // 104

// ErrRecipient is returned by SealKey for an author ID that is not a usable
// Ed25519 public key (not a point, or of small order).
var ErrRecipient = errors.New("seal: recipient is not a valid public key")

var sealKeyHash = keys.NewHasher(CtxSealKey)

// x25519Public maps an Ed25519 public key to its X25519 (Montgomery u)
// public key, as libsodium's crypto_sign_ed25519_pk_to_curve25519.
func x25519Public(a keys.AuthorID) ([32]byte, error) {
	var u [32]byte
	p, err := new(edwards25519.Point).SetBytes(a[:])
	if err != nil {
		return u, fmt.Errorf("%w: %v", ErrRecipient, err)
	}
	// Reject points of small order: [8]P is the identity.
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return u, fmt.Errorf("%w: point of small order", ErrRecipient)
	}
	copy(u[:], p.BytesMontgomery())
	return u, nil
}

// x25519Private derives a device's X25519 private scalar from its Ed25519
// seed: SHA-512 of the seed, first 32 bytes, clamped (as libsodium's
// crypto_sign_ed25519_sk_to_curve25519). It is the scalar Ed25519 itself
// signs with, so its public key is x25519Public(dev.Author()).
func x25519Private(dev keys.DeviceKey) [32]byte {
	h := sha512.Sum512(dev.Ed25519().Seed())
	var s [32]byte
	copy(s[:], h[:32])
	clear(h[:])
	s[0] &= 248
	s[31] &= 127
	s[31] |= 64
	return s
}

// sealKeyKDF derives the AEAD key of a sealed read key.
func sealKeyKDF(shared, eph, recipient []byte, space keys.SpaceID, epoch uint64) keys.Digest {
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	return sealKeyHash.Sum(shared, eph, recipient, space[:], e[:])
}

// SealKey seals read key k of the given space and epoch to the reader whose
// author ID is to. The result is SealedKeySize (104) bytes, and only the
// device key of that author, for the same space and epoch, opens it.
func SealKey(to keys.AuthorID, k ReadKey, space keys.SpaceID, epoch uint64) ([]byte, error) {
	recipient, err := x25519Public(to)
	if err != nil {
		return nil, err
	}
	var ephPriv [32]byte
	if _, err := rand.Read(ephPriv[:]); err != nil {
		return nil, fmt.Errorf("seal: ephemeral key: %w", err)
	}
	defer clear(ephPriv[:])
	ephPub, err := curve25519.X25519(ephPriv[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("seal: ephemeral key: %w", err)
	}
	shared, err := curve25519.X25519(ephPriv[:], recipient[:])
	if err != nil { // low-order recipient; excluded by x25519Public
		return nil, fmt.Errorf("%w: %v", ErrRecipient, err)
	}
	key := sealKeyKDF(shared, ephPub, recipient[:], space, epoch)
	clear(shared)
	defer clear(key[:])

	out := make([]byte, 0, SealedKeySize)
	out = append(out, ephPub...)
	nonce := out[len(out) : len(out)+NonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	out = out[:len(out)+NonceSize]
	return aead(key[:]).Seal(out, nonce, k[:], nil), nil
}

// OpenKey opens a read key sealed to dev by SealKey for the same space and
// epoch. Any failure wraps ErrDecrypt.
func OpenKey(dev keys.DeviceKey, sealed []byte, space keys.SpaceID, epoch uint64) (ReadKey, error) {
	if dev.IsZero() {
		return ReadKey{}, errors.New("seal: open key: no device key")
	}
	if len(sealed) != SealedKeySize {
		return ReadKey{}, fmt.Errorf("%w: sealed key of %d bytes, want exactly %d", ErrDecrypt, len(sealed), SealedKeySize)
	}
	recipient, err := x25519Public(dev.Author())
	if err != nil { // cannot happen for a real device key
		return ReadKey{}, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	priv := x25519Private(dev)
	defer clear(priv[:])
	eph := sealed[:curve25519.PointSize]
	shared, err := curve25519.X25519(priv[:], eph)
	if err != nil {
		return ReadKey{}, fmt.Errorf("%w: ephemeral key of small order", ErrDecrypt)
	}
	key := sealKeyKDF(shared, eph, recipient[:], space, epoch)
	clear(shared)
	defer clear(key[:])
	rest := sealed[curve25519.PointSize:]
	pt, err := aead(key[:]).Open(nil, rest[:NonceSize], rest[NonceSize:], nil)
	if err != nil {
		return ReadKey{}, fmt.Errorf("%w: sealed key failed authentication", ErrDecrypt)
	}
	var k ReadKey
	copy(k[:], pt)
	clear(pt)
	return k, nil
}
