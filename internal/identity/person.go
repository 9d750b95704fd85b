package identity

import (
	"crypto/hkdf"
	"crypto/sha256"

	"github.com/loamdb/loam/internal/keys"
)

// HKDF info strings that derive a person's own space from the identity
// key (docs/format/identity.md §6).
const (
	CtxPersonSpaceKey = "loam/person-space-key/v1"
	CtxPersonReadKey  = "loam/person-read-key/v1"
)

// PersonSpace returns the space key of the person's own space and the
// read key of its epoch 0, each HKDF-SHA256(secret = the identity key's
// Ed25519 seed, salt = none, info = CtxPersonSpaceKey or
// CtxPersonReadKey), 32 bytes. Whoever holds the identity key (or the
// phrase) finds the space and reads it; nobody else can tell it from any
// other private space.
func (k Key) PersonSpace() (keys.SpaceKey, [32]byte) {
	seed := k.k.Ed25519().Seed()
	derive := func(info string) [32]byte {
		b, err := hkdf.Key(sha256.New, seed, nil, info, 32)
		if err != nil {
			panic(err) // unreachable: 32 bytes is within HKDF-SHA256's limit
		}
		return [32]byte(b)
	}
	return keys.SpaceKeyFromSeed(derive(CtxPersonSpaceKey)), derive(CtxPersonReadKey)
}
