package identity

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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

// Certify returns the certificate of device dev under identity id,
// signed by the identity only: linking sends it to the device, which
// accepts it with SignDevice (NewCert does both where both keys are).
func Certify(id Key, dev keys.AuthorID, name string, t uint64) (Cert, error) {
	c := Cert{Identity: id.ID(), Device: dev, Name: name, Time: t}
	if err := c.checkFields(); err != nil {
		return Cert{}, err
	}
	c.SignIdentity(id)
	return c, nil
}

// Seed returns the identity key's Ed25519 seed: linking a device with the
// identity key seals it to that device. Handle as the phrase.
func (k Key) Seed() [32]byte { return [32]byte(k.k.Ed25519().Seed()) }

// DecodeCertified parses a certificate Certify made: strictly, its fields
// checked and the identity's signature valid; the device's is not checked
// (the device has not accepted it yet: it does so with SignDevice, and
// Verify then checks both).
func DecodeCertified(b []byte) (Cert, error) {
	c, err := decodeCert(b)
	if err != nil {
		return Cert{}, err
	}
	if err := c.checkFields(); err != nil {
		return Cert{}, err
	}
	if !keys.Verify(c.Identity, CtxCertSig, c.Digest(), c.IdentitySig[:]) {
		return Cert{}, fmt.Errorf("%w: device certificate of %s is not signed by identity %s", ErrBadSignature, c.Device.Short(), c.Identity.Short())
	}
	return c, nil
}

// CheckName accepts a person's (or profile's) name of 1..max bytes of
// UTF-8 without control characters and without white space at either end
// (names are printed in terminals and pages). Its error says what to
// change; callers wrap their own kind around it.
func CheckName(s string, max int) error {
	if s == "" {
		return fmt.Errorf("the name is empty: a name is 1 to %d bytes", max)
	}
	if len(s) > max {
		return fmt.Errorf("a name is 1 to %d bytes, got %d: choose a shorter name", max, len(s))
	}
	if !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return fmt.Errorf("name %q: use UTF-8 text without spaces at either end", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("name %q has a control character", s)
		}
	}
	return nil
}
