package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// The identity file, HOME/identity (0600), is this device's part of its
// person's identity: the identity ID, the person's name, this device's
// certificate and, unless the key lives only in the recovery phrase, the
// identity key. Its text form (docs/format/identity.md §5):
//
//	loam-identity 1
//	identity idt_…
//	name Ana
//	space spc_…
//	key idtsec_…
//	cert <base64url of the certificate's CBOR, unpadded>
//
// One field a line, in that order, each once; space (the person's own
// space) and key may be absent.
const (
	identityFile    = "identity"
	identityVersion = "loam-identity 1"
	// maxIdentityFile bounds the file read (the longest is under 1 KiB).
	maxIdentityFile = 4 << 10
	// MaxPersonName bounds a person's name in bytes.
	MaxPersonName = 64
)

// ErrBadIdentityFile wraps the errors of decodeIdentity.
var ErrBadIdentityFile = errors.New("malformed identity file")

var certText = base64.RawURLEncoding

// encodeIdentity returns the text form of id.
func encodeIdentity(id Identity) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nidentity %s\nname %s\n", identityVersion, id.ID, id.Name)
	if !id.Person.IsZero() {
		fmt.Fprintf(&b, "space %s\n", id.Person)
	}
	if !id.key.IsZero() {
		fmt.Fprintf(&b, "key %s\n", id.key.Secret())
	}
	fmt.Fprintf(&b, "cert %s\n", certText.EncodeToString(id.Cert.Encode()))
	return []byte(b.String())
}

// decodeIdentity parses an identity file strictly: exactly what
// encodeIdentity writes, a certificate of the identity that verifies, a
// key (if any) of the identity, and a certificate of device dev.
func decodeIdentity(b []byte, dev keys.AuthorID) (Identity, error) {
	bad := func(format string, args ...any) (Identity, error) {
		return Identity{}, fmt.Errorf("%w: %s", ErrBadIdentityFile, fmt.Sprintf(format, args...))
	}
	if len(b) > maxIdentityFile {
		return bad("%d bytes, the limit is %d", len(b), maxIdentityFile)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 5 || lines[len(lines)-1] != "" || lines[0] != identityVersion {
		return bad("it does not start with %q or does not end with a new line", identityVersion)
	}
	lines = lines[1 : len(lines)-1]
	field := func(name string) (string, bool) {
		if len(lines) == 0 {
			return "", false
		}
		v, ok := strings.CutPrefix(lines[0], name+" ")
		if ok {
			lines = lines[1:]
		}
		return v, ok
	}
	var id Identity
	s, ok := field("identity")
	if !ok {
		return bad("no identity line")
	}
	var err error
	if id.ID, err = keys.ParseIdentityID(s); err != nil {
		return bad("%v", err)
	}
	if id.Name, ok = field("name"); !ok {
		return bad("no name line")
	}
	if err := CheckPersonName(id.Name); err != nil {
		return bad("%v", err)
	}
	if s, ok := field("space"); ok {
		if id.Person, err = keys.ParseSpaceID(s); err != nil || id.Person.IsZero() {
			return bad("its space line is not a space ID: %v", err)
		}
	}
	if s, ok := field("key"); ok {
		if id.key, err = identity.ParseKey(s); err != nil {
			return bad("%v", err)
		}
		if id.key.ID() != id.ID {
			return bad("its key is not the key of %s", id.ID)
		}
	}
	if s, ok = field("cert"); !ok || len(lines) != 0 {
		return bad("no cert line, or lines after it")
	}
	raw, err := certText.DecodeString(s)
	if err != nil || certText.EncodeToString(raw) != s {
		return bad("its certificate is not unpadded base64url")
	}
	if id.Cert, err = identity.DecodeCert(raw); err != nil {
		return bad("%v", err)
	}
	if id.Cert.Identity != id.ID || id.Cert.Device != dev {
		return bad("its certificate is of device %s of %s, not of this device %s of %s", id.Cert.Device.Short(), id.Cert.Identity.Short(), dev.Short(), id.ID.Short())
	}
	return id, nil
}

// ErrBadPersonName: a person's name is empty, too long, or unprintable.
var ErrBadPersonName = errors.New("invalid name")

// CheckPersonName accepts a person's name of 1..MaxPersonName bytes of
// UTF-8 without control characters, and without white space at either
// end.
func CheckPersonName(s string) error {
	if err := identity.CheckName(s, MaxPersonName); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPersonName, err)
	}
	return nil
}
