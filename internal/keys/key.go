package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// SigSize is the byte length of a signature.
const SigSize = ed25519.SignatureSize

// Text prefixes of secret keys.
const (
	DeviceSecretPrefix = "devsec_"
	SpaceSecretPrefix  = "spcsec_"
)

// signer is the Ed25519 private key shared by the typed secret keys.
type signer struct{ priv ed25519.PrivateKey }

func newSigner(r io.Reader) (signer, error) {
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return signer{}, fmt.Errorf("keys: generate: %w", err)
	}
	return signer{priv}, nil
}

// seedSigner derives the key of a 32-byte seed.
func seedSigner(seed [32]byte) signer { return signer{ed25519.NewKeyFromSeed(seed[:])} }

// secret returns the text form of the key's seed, under prefix.
func (s signer) secret(prefix string) string { return FormatID(prefix, [32]byte(s.priv.Seed())) }

// parseSecret parses the text form secret returns (what names the key in
// errors), ignoring white space around it.
func parseSecret(what, prefix, text string) (signer, error) {
	b, err := ParseID[[Size]byte](what, prefix, strings.TrimSpace(text))
	if err != nil {
		return signer{}, err
	}
	return seedSigner(b), nil
}

func (s signer) public() [Size]byte {
	var p [Size]byte
	copy(p[:], s.priv.Public().(ed25519.PublicKey))
	return p
}

// message is what is actually signed: the context, a zero byte, the digest.
func message(ctx string, d Digest) []byte {
	m := make([]byte, 0, len(ctx)+1+Size)
	m = append(m, ctx...)
	m = append(m, 0)
	return append(m, d[:]...)
}

func (s signer) sign(ctx string, d Digest) [SigSize]byte {
	var sig [SigSize]byte
	copy(sig[:], ed25519.Sign(s.priv, message(ctx, d)))
	return sig
}

// Verify reports whether sig is pub's signature of digest d under ctx.
//
// Every Loam signature is verified by the rules of ZIP-215 (cofactored,
// non-canonical point encodings accepted), alone or in a batch: the two
// always agree, so no two peers can disagree about an edge-case signature.
// The rules are curve25519-voi's VerifyOptionsZIP_215, the same as the
// ed25519consensus package's, which Loam used before (docs/design.md,
// "Signature verification").
func Verify(pub [Size]byte, ctx string, d Digest, sig []byte) bool {
	return verifyMsg(pub[:], message(ctx, d), sig)
}

// zip215 is the verification rule of every Loam signature.
var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

func verifyMsg(pub, msg, sig []byte) bool {
	if len(sig) != SigSize || len(pub) != Size {
		return false
	}
	if e := expanded(pub); e != nil {
		return voi.VerifyExpandedWithOptions(e.e, msg, sig, zip215)
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, zip215)
}

// DeviceKey is a node's secret key: its author identity.
type DeviceKey struct{ s signer }

// NewDeviceKey generates a device key from crypto/rand.
func NewDeviceKey() (DeviceKey, error) {
	s, err := newSigner(rand.Reader)
	return DeviceKey{s}, err
}

// DeviceKeyFromSeed derives a device key from a 32-byte seed (tests, golden files).
func DeviceKeyFromSeed(seed [32]byte) DeviceKey { return DeviceKey{seedSigner(seed)} }

// Author returns the public identity of the key.
func (k DeviceKey) Author() AuthorID { return AuthorID(k.s.public()) }

// Sign signs digest d under ctx.
func (k DeviceKey) Sign(ctx string, d Digest) [SigSize]byte { return k.s.sign(ctx, d) }

// IsZero reports whether k holds no key.
func (k DeviceKey) IsZero() bool { return k.s.priv == nil }

// Ed25519 returns the key as a crypto/ed25519 private key: the device's
// transport identity is the same key as its author identity.
func (k DeviceKey) Ed25519() ed25519.PrivateKey { return k.s.priv }

// String returns the secret's text form. Handle with care.
func (k DeviceKey) String() string { return k.s.secret(DeviceSecretPrefix) }

// ParseDeviceKey parses the text form produced by DeviceKey.String.
func ParseDeviceKey(s string) (DeviceKey, error) {
	sg, err := parseSecret("device secret key", DeviceSecretPrefix, s)
	return DeviceKey{sg}, err
}

// SpaceKey is the secret key of a space. It signs the space's genesis commit
// and can afterwards be kept offline.
type SpaceKey struct{ s signer }

// NewSpaceKey generates a space key from crypto/rand.
func NewSpaceKey() (SpaceKey, error) {
	s, err := newSigner(rand.Reader)
	return SpaceKey{s}, err
}

// SpaceKeyFromSeed derives a space key from a 32-byte seed (tests, golden files).
func SpaceKeyFromSeed(seed [32]byte) SpaceKey { return SpaceKey{seedSigner(seed)} }

// Space returns the space's public identifier.
func (k SpaceKey) Space() SpaceID { return SpaceID(k.s.public()) }

// Author returns the space key in its role as the author of the genesis commit.
func (k SpaceKey) Author() AuthorID { return AuthorID(k.s.public()) }

// Sign signs digest d under ctx.
func (k SpaceKey) Sign(ctx string, d Digest) [SigSize]byte { return k.s.sign(ctx, d) }

// String returns the secret's text form. Handle with care.
func (k SpaceKey) String() string { return k.s.secret(SpaceSecretPrefix) }

// ParseSpaceKey parses the text form produced by SpaceKey.String.
func ParseSpaceKey(s string) (SpaceKey, error) {
	sg, err := parseSecret("space secret key", SpaceSecretPrefix, s)
	return SpaceKey{sg}, err
}

// DeviceKeyFile is the name of the device key file inside a Loam home.
const DeviceKeyFile = "device.key"

// LoadDeviceKey reads the device key from home. It refuses a key file that
// other users can read.
func LoadDeviceKey(home string) (DeviceKey, error) {
	path := filepath.Join(home, DeviceKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		return DeviceKey{}, fmt.Errorf("keys: load device key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return DeviceKey{}, fmt.Errorf("keys: %s has mode %v; it must be readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return DeviceKey{}, fmt.Errorf("keys: load device key: %w", err)
	}
	k, err := ParseDeviceKey(string(b))
	if err != nil {
		return DeviceKey{}, fmt.Errorf("keys: %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateDeviceKey returns home's device key, creating it (mode 0600,
// written atomically) when there is none yet.
func LoadOrCreateDeviceKey(home string) (DeviceKey, error) {
	k, err := LoadDeviceKey(home)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	if k, err = NewDeviceKey(); err != nil {
		return DeviceKey{}, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return DeviceKey{}, fmt.Errorf("keys: create home: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(home, DeviceKeyFile), []byte(k.String()+"\n")); err != nil {
		if errors.Is(err, os.ErrExist) { // another process created it first: use its key
			return LoadDeviceKey(home)
		}
		return DeviceKey{}, err
	}
	return k, nil
}

// writeFileAtomic writes data to path with mode 0600 through a synced temp file.
// It fails if path already exists, so two racing creators keep the first key.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-key-*")
	if err != nil {
		return fmt.Errorf("keys: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keys: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("keys: write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
