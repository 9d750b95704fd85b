package identity

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"unicode"
	"unicode/utf8"

	"github.com/loamdb/loam/internal/keys"
)

// Signing contexts. A record's digest is the keyed hash (keys.NewHasher)
// of the canonical CBOR of its fields without signatures; each signer
// signs that digest under its own context.
const (
	CtxCert      = "loam/device-cert/v1"       // digest of a certificate's body
	CtxCertSig   = "loam/device-cert-sig/v1"   // the identity certifies the device
	CtxAcceptSig = "loam/device-accept-sig/v1" // the device accepts the identity
	CtxRevoke    = "loam/device-revoke/v1"     // digest of a revocation's body
	CtxRevokeSig = "loam/device-revoke-sig/v1" // the identity revokes the device
)

var (
	certHash   = keys.NewHasher(CtxCert)
	revokeHash = keys.NewHasher(CtxRevoke)
)

// Limits of the records.
const (
	// MaxDeviceName bounds a device's name in bytes.
	MaxDeviceName = 64
	// MaxCertSize bounds an encoded certificate (about 250 bytes with the
	// longest name).
	MaxCertSize = 512
	// MaxRevocationSize bounds an encoded revocation (about 150 bytes).
	MaxRevocationSize = 256
)

// ErrMalformed wraps every decoding error; ErrBadSignature a record whose
// signatures do not verify.
var (
	ErrMalformed    = errors.New("malformed identity record")
	ErrBadSignature = errors.New("identity record signature does not verify")
)

// strict rejects unknown keys, duplicates, indefinite lengths and tags.
var strict = keys.StrictCBOR(keys.CBORLimits{Nesting: 4, ArrayElems: 16, MapPairs: 16, Closed: true})

// Cert is a device certificate: Identity says device key Device is one of
// its person's devices, named Name, since Time (unix µs). The device
// countersigns it, so that an identity can certify (and so revoke) only
// devices that accepted it.
type Cert struct {
	Identity keys.IdentityID
	Device   keys.AuthorID
	Name     string
	Time     uint64

	IdentitySig [keys.SigSize]byte // the identity's, under CtxCertSig
	DeviceSig   [keys.SigSize]byte // the device's, under CtxAcceptSig
}

type certBody struct {
	Identity []byte `cbor:"1,keyasint"`
	Device   []byte `cbor:"2,keyasint"`
	Name     string `cbor:"3,keyasint"`
	Time     uint64 `cbor:"4,keyasint"`
}

type wireCert struct {
	Identity    []byte `cbor:"1,keyasint"`
	Device      []byte `cbor:"2,keyasint"`
	Name        string `cbor:"3,keyasint"`
	Time        uint64 `cbor:"4,keyasint"`
	IdentitySig []byte `cbor:"5,keyasint"`
	DeviceSig   []byte `cbor:"6,keyasint"`
}

// NewCert returns the certificate of device dev under identity id, signed
// by both. The two keys usually live on different devices when linking:
// then one side signs with SignIdentity, the other with SignDevice.
func NewCert(id Key, dev keys.DeviceKey, name string, t uint64) (Cert, error) {
	c := Cert{Identity: id.ID(), Device: dev.Author(), Name: name, Time: t}
	if err := c.checkFields(); err != nil {
		return Cert{}, err
	}
	c.SignIdentity(id)
	c.SignDevice(dev)
	return c, nil
}

// Digest returns what both signers sign.
func (c Cert) Digest() keys.Digest {
	return certHash.Sum1(marshal(certBody{c.Identity[:], c.Device[:], c.Name, c.Time}))
}

// SignIdentity sets the identity's signature (id must be c.Identity's key).
func (c *Cert) SignIdentity(id Key) { c.IdentitySig = id.sign(CtxCertSig, c.Digest()) }

// SignDevice sets the device's signature (dev must be c.Device's key).
func (c *Cert) SignDevice(dev keys.DeviceKey) { c.DeviceSig = dev.Sign(CtxAcceptSig, c.Digest()) }

// Verify checks the fields and both signatures.
func (c Cert) Verify() error {
	if err := c.checkFields(); err != nil {
		return err
	}
	d := c.Digest()
	if !keys.Verify(c.Identity, CtxCertSig, d, c.IdentitySig[:]) {
		return fmt.Errorf("%w: device certificate of %s is not signed by identity %s: it was made with another identity's key, or changed", ErrBadSignature, c.Device.Short(), c.Identity.Short())
	}
	if !keys.Verify(c.Device, CtxAcceptSig, d, c.DeviceSig[:]) {
		return fmt.Errorf("%w: device certificate of %s is not accepted by that device's key: it was changed, or made for another device", ErrBadSignature, c.Device.Short())
	}
	return nil
}

func (c Cert) checkFields() error {
	if c.Identity.IsZero() || c.Device.IsZero() {
		return fmt.Errorf("%w: device certificate without an identity or a device", ErrMalformed)
	}
	if err := checkName(c.Name); err != nil {
		return err
	}
	if c.Time == 0 {
		return fmt.Errorf("%w: device certificate without a time", ErrMalformed)
	}
	return nil
}

// checkName accepts 1..MaxDeviceName bytes of UTF-8 without control
// characters (a name is printed in terminals).
func checkName(s string) error {
	if s == "" || len(s) > MaxDeviceName {
		return fmt.Errorf("%w: a device name is 1 to %d bytes, got %d: choose a shorter name", ErrMalformed, MaxDeviceName, len(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: device name is not UTF-8", ErrMalformed)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: device name %q has a control character", ErrMalformed, s)
		}
	}
	return nil
}

// Encode returns the certificate's canonical CBOR.
func (c Cert) Encode() []byte {
	return marshal(wireCert{c.Identity[:], c.Device[:], c.Name, c.Time, c.IdentitySig[:], c.DeviceSig[:]})
}

// DecodeCert parses and verifies an encoded certificate: at most
// MaxCertSize bytes of canonical CBOR with every field, both signatures
// valid.
func DecodeCert(b []byte) (Cert, error) {
	c, err := decodeCert(b)
	if err != nil {
		return Cert{}, err
	}
	if err := c.Verify(); err != nil {
		return Cert{}, err
	}
	return c, nil
}

// decodeCert parses an encoded certificate strictly, without checking
// its signatures.
func decodeCert(b []byte) (Cert, error) {
	var w wireCert
	if err := decode(b, MaxCertSize, "device certificate", &w); err != nil {
		return Cert{}, err
	}
	var c Cert
	if err := fixed(
		field{c.Identity[:], w.Identity, "identity"},
		field{c.Device[:], w.Device, "device"},
		field{c.IdentitySig[:], w.IdentitySig, "identity signature"},
		field{c.DeviceSig[:], w.DeviceSig, "device signature"},
	); err != nil {
		return Cert{}, err
	}
	c.Name, c.Time = w.Name, w.Time
	return c, nil
}

// Revocation says Identity's device Device is no longer one of its person's
// devices, from Time (unix µs) on. It names no space and no seq: whoever
// carries it into a space chooses there where the device is cut (package
// acl), as an admin does when revoking a member.
type Revocation struct {
	Identity keys.IdentityID
	Device   keys.AuthorID
	Time     uint64
	Sig      [keys.SigSize]byte // the identity's, under CtxRevokeSig
}

type revocationBody struct {
	Identity []byte `cbor:"1,keyasint"`
	Device   []byte `cbor:"2,keyasint"`
	Time     uint64 `cbor:"3,keyasint"`
}

type wireRevocation struct {
	Identity []byte `cbor:"1,keyasint"`
	Device   []byte `cbor:"2,keyasint"`
	Time     uint64 `cbor:"3,keyasint"`
	Sig      []byte `cbor:"4,keyasint"`
}

// NewRevocation returns id's revocation of device dev at time t.
func NewRevocation(id Key, dev keys.AuthorID, t uint64) (Revocation, error) {
	r := Revocation{Identity: id.ID(), Device: dev, Time: t}
	if err := r.checkFields(); err != nil {
		return Revocation{}, err
	}
	r.Sig = id.sign(CtxRevokeSig, r.Digest())
	return r, nil
}

// Digest returns what the identity signs.
func (r Revocation) Digest() keys.Digest {
	return revokeHash.Sum1(marshal(revocationBody{r.Identity[:], r.Device[:], r.Time}))
}

func (r Revocation) checkFields() error {
	if r.Identity.IsZero() || r.Device.IsZero() {
		return fmt.Errorf("%w: device revocation without an identity or a device", ErrMalformed)
	}
	if r.Time == 0 {
		return fmt.Errorf("%w: device revocation without a time", ErrMalformed)
	}
	return nil
}

// Verify checks the fields and the identity's signature.
func (r Revocation) Verify() error {
	if err := r.checkFields(); err != nil {
		return err
	}
	if !keys.Verify(r.Identity, CtxRevokeSig, r.Digest(), r.Sig[:]) {
		return fmt.Errorf("%w: revocation of device %s is not signed by identity %s: only the identity key (or its recovery phrase) revokes a device", ErrBadSignature, r.Device.Short(), r.Identity.Short())
	}
	return nil
}

// Encode returns the revocation's canonical CBOR.
func (r Revocation) Encode() []byte {
	return marshal(wireRevocation{r.Identity[:], r.Device[:], r.Time, r.Sig[:]})
}

// DecodeRevocation parses and verifies an encoded revocation.
func DecodeRevocation(b []byte) (Revocation, error) {
	var w wireRevocation
	if err := decode(b, MaxRevocationSize, "device revocation", &w); err != nil {
		return Revocation{}, err
	}
	var r Revocation
	if err := fixed(
		field{r.Identity[:], w.Identity, "identity"},
		field{r.Device[:], w.Device, "device"},
		field{r.Sig[:], w.Sig, "signature"},
	); err != nil {
		return Revocation{}, err
	}
	r.Time = w.Time
	if err := r.Verify(); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

// decode reads b into v strictly: bounded, closed, canonical.
func decode(b []byte, limit int, what string, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrMalformed, what, len(b), limit)
	}
	if err := strict.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	// Canonical only, every field present: re-encoding gives the same bytes.
	if !bytes.Equal(marshal(reflect.ValueOf(v).Elem().Interface()), b) {
		return fmt.Errorf("%w: %s is not canonical CBOR with every field", ErrMalformed, what)
	}
	return nil
}

// field is a fixed-size field of a decoded record: what names it in errors.
type field struct {
	dst, src []byte
	what     string
}

// fixed copies each field's src into its dst, in order, failing at the
// first whose length is not dst's.
func fixed(fields ...field) error {
	for _, f := range fields {
		if len(f.src) != len(f.dst) {
			return fmt.Errorf("%w: %s is %d bytes, want %d", ErrMalformed, f.what, len(f.src), len(f.dst))
		}
		copy(f.dst, f.src)
	}
	return nil
}

func marshal(v any) []byte {
	b, err := keys.CanonicalCBOR.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("identity: encode %T: %v", v, err)) // a programming error
	}
	return b
}
