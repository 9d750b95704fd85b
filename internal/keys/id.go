package keys

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// Size is the byte length of every identifier and public key.
const Size = 32

// ErrMalformed is returned by every Parse function for text that is not an
// identifier of the expected kind.
var ErrMalformed = errors.New("malformed identifier")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// b32lower encodes as b32 does, in lowercase: FormatID runs for every
// entry a read returns (its author), so it encodes without a second pass.
var b32lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// encodedLen is the length of the base32 part of an identifier's text.
var encodedLen = b32.EncodedLen(Size)

// Text prefixes, one per identifier kind.
const (
	SpacePrefix  = "spc_"
	AuthorPrefix = "aut_"
	CommitPrefix = "cmt_"
	// IdentityPrefix names a person's identity key (package identity):
	// the Ed25519 key that certifies and revokes the person's devices.
	IdentityPrefix = "idt_"
)

// FormatID returns the text form of an identifier: its prefix, then its
// bytes in lowercase unpadded base32. Package blob's identifiers use it too.
func FormatID(prefix string, b [Size]byte) string {
	buf := make([]byte, len(prefix)+encodedLen)
	copy(buf, prefix)
	b32lower.Encode(buf[len(prefix):], b[:])
	return string(buf)
}

// ParseID parses the text form FormatID returns, strictly: the prefix, the
// right length, lowercase, and the one canonical encoding of the bytes.
// Errors wrap ErrMalformed and name the identifier as kind.
func ParseID[T ~[Size]byte](kind, prefix, s string) (T, error) {
	var out T
	if !strings.HasPrefix(s, prefix) {
		return out, fmt.Errorf("%w: %s must start with %q (got %q)", ErrMalformed, kind, prefix, clip(s))
	}
	body := s[len(prefix):]
	if len(body) != encodedLen {
		return out, fmt.Errorf("%w: %s %q has %d characters after the prefix, want %d", ErrMalformed, kind, clip(s), len(body), encodedLen)
	}
	if strings.ToLower(body) != body {
		return out, fmt.Errorf("%w: %s %q must be lowercase", ErrMalformed, kind, clip(s))
	}
	n, err := b32.Decode(out[:], []byte(strings.ToUpper(body)))
	if err != nil || n != Size {
		return out, fmt.Errorf("%w: %s %q is not valid base32", ErrMalformed, kind, clip(s))
	}
	// Reject non-canonical trailing bits so each ID has exactly one text form.
	if FormatID(prefix, [Size]byte(out)) != s {
		return out, fmt.Errorf("%w: %s %q is not in canonical form", ErrMalformed, kind, clip(s))
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// SpaceID identifies a space: the Ed25519 public key of the space key.
type SpaceID [Size]byte

func (id SpaceID) String() string { return FormatID(SpacePrefix, id) }

// IsZero reports whether id is the zero value.
func (id SpaceID) IsZero() bool { return id == SpaceID{} }

// ParseSpaceID parses the text form produced by SpaceID.String.
func ParseSpaceID(s string) (SpaceID, error) {
	return ParseID[SpaceID]("space ID", SpacePrefix, s)
}

// AuthorID identifies the writer of commits: the Ed25519 public key of a
// device key (or of a space key, for a space's genesis commit).
type AuthorID [Size]byte

func (id AuthorID) String() string { return FormatID(AuthorPrefix, id) }

// IsZero reports whether id is the zero value.
func (id AuthorID) IsZero() bool { return id == AuthorID{} }

// Short returns an abbreviated form for humans (not parseable).
func (id AuthorID) Short() string { return id.String()[:len(AuthorPrefix)+8] }

// Bytes returns the ID as a byte slice.
func (id AuthorID) Bytes() []byte { return id[:] }

// ParseAuthorID parses the text form produced by AuthorID.String.
func ParseAuthorID(s string) (AuthorID, error) {
	return ParseID[AuthorID]("author ID", AuthorPrefix, s)
}

// IdentityID identifies a person: the Ed25519 public key of the identity
// key that signs the person's device certificates and revocations. It never
// authors commits.
type IdentityID [Size]byte

func (id IdentityID) String() string { return FormatID(IdentityPrefix, id) }

// IsZero reports whether id is the zero value.
func (id IdentityID) IsZero() bool { return id == IdentityID{} }

// Short returns an abbreviated form for humans (not parseable).
func (id IdentityID) Short() string { return id.String()[:len(IdentityPrefix)+8] }

// ParseIdentityID parses the text form produced by IdentityID.String.
func ParseIdentityID(s string) (IdentityID, error) {
	return ParseID[IdentityID]("identity ID", IdentityPrefix, s)
}

// CommitID identifies a commit: the BLAKE3 hash of its signed header.
type CommitID [Size]byte

func (id CommitID) String() string { return FormatID(CommitPrefix, id) }

// IsZero reports whether id is the zero value.
func (id CommitID) IsZero() bool { return id == CommitID{} }

// Short returns an abbreviated form for humans (not parseable).
func (id CommitID) Short() string { return id.String()[:len(CommitPrefix)+8] }

// ParseCommitID parses the text form produced by CommitID.String.
func ParseCommitID(s string) (CommitID, error) {
	return ParseID[CommitID]("commit ID", CommitPrefix, s)
}

// Digest is a 32-byte BLAKE3 output made under some context.
type Digest [Size]byte
