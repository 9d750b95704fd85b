package identity

import "github.com/loamdb/loam/internal/keys"

// ReadKeyOpener returns the identity key in the form that opens read keys
// sealed to the identity (package seal seals to an Ed25519 public key, the
// identity's as a device's): a rotation in the person's own space seals
// its new key to the identity too, so that a device holding only the
// recovery phrase reads every epoch. It must never sign a commit: the
// identity signs certificates and revocations only.
func (k Key) ReadKeyOpener() keys.DeviceKey { return k.k }
