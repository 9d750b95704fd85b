package identity

import (
	"fmt"
	"strings"

	"github.com/loamdb/loam/internal/keys"
)

// SecretPrefix starts the text form of an identity key (Key.Secret).
const SecretPrefix = "idtsec_"

// Secret returns the text form of the identity key: SecretPrefix and the
// lowercase unpadded base32 of its Ed25519 seed, as a device secret
// (devsec_…). Whoever holds it certifies and revokes the person's devices:
// handle it as the recovery phrase. (Not String, so that printing a Key
// by mistake shows nothing.)
func (k Key) Secret() string {
	return SecretPrefix + strings.TrimPrefix(k.k.String(), keys.DeviceSecretPrefix)
}

// ParseKey parses the text form Secret returns.
func ParseKey(s string) (Key, error) {
	body, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Key{}, fmt.Errorf("%w: an identity secret starts with %q", keys.ErrMalformed, SecretPrefix)
	}
	dk, err := keys.ParseDeviceKey(keys.DeviceSecretPrefix + body)
	if err != nil || strings.TrimSpace(body) != body {
		return Key{}, fmt.Errorf("%w: the identity secret is not %s and 52 base32 letters", keys.ErrMalformed, SecretPrefix)
	}
	return Key{dk}, nil
}
