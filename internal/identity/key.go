package identity

import "github.com/loamdb/loam/internal/keys"

// Key is a person's identity key: it signs device certificates and
// revocations, never commits.
type Key struct{ k keys.DeviceKey }

// KeyFromSeed returns the identity key of an Ed25519 seed (Phrase.Key;
// tests and golden files).
func KeyFromSeed(seed [32]byte) Key { return Key{keys.DeviceKeyFromSeed(seed)} }

// ID returns the key's public identity, idt_….
func (k Key) ID() keys.IdentityID { return keys.IdentityID(k.k.Author()) }

// IsZero reports whether k holds no key.
func (k Key) IsZero() bool { return k.k.IsZero() }

// sign signs digest d under ctx, as keys signs (keys.Verify checks it).
func (k Key) sign(ctx string, d keys.Digest) [keys.SigSize]byte { return k.k.Sign(ctx, d) }
