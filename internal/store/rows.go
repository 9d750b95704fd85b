package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Decoders of rows read from disk (see the layout in doc.go). Each checks
// the sizes it relies on and returns an error wrapping ErrCorrupt for a
// row it cannot read; none keeps a reference to k or v. FuzzDecodeRow
// runs them on arbitrary bytes.

// decodeHeadRow decodes a head row (tagHead).
func decodeHeadRow(k, v []byte) (Head, error) {
	h, ok := decodeHead(v)
	if !ok || len(k) != 1+2*keys.Size {
		return Head{}, fmt.Errorf("%w: head row", ErrCorrupt)
	}
	return Head{Author: keys.AuthorID(k[1+keys.Size:]), Seq: h.Seq, ID: h.ID, Time: commit.HLC{Wall: h.Wall, Logical: h.Lgc}}, nil
}

// decodeGrantRow decodes a grant row (tagGrant). Rows written before
// grants had prefixes and expiry have no index in the key and only the
// role as value.
func decodeGrantRow(k, v []byte) (acl.Grant, error) {
	short := len(k) == 1+3*keys.Size+8 && len(v) == 1
	if !short && (len(k) != 1+3*keys.Size+8+4 || len(v) < 1+8+4+keys.Size) {
		return acl.Grant{}, fmt.Errorf("%w: grant row", ErrCorrupt)
	}
	g := acl.Grant{
		Subject: keys.AuthorID(k[1+keys.Size:]),
		Granter: keys.AuthorID(k[1+2*keys.Size:]),
		Seq:     binary.BigEndian.Uint64(k[1+3*keys.Size:]),
		Role:    commit.Role(v[0]),
	}
	if !short {
		g.Expires = binary.BigEndian.Uint64(v[1:])
		g.Uses = binary.BigEndian.Uint32(v[9:])
		g.Invite = keys.AuthorID(v[13:])
		rest := v[13+keys.Size:]
		if v[0]&personRow != 0 {
			if len(rest) < keys.Size {
				return acl.Grant{}, fmt.Errorf("%w: grant row of a person", ErrCorrupt)
			}
			g.Role &^= personRow
			g.Identity = keys.IdentityID(rest)
			rest = rest[keys.Size:]
		}
		if len(rest) > 0 {
			g.Prefix = bytes.Clone(rest)
		}
	}
	return g, nil
}

// decodeInvalidRow decodes the key of a row of a stored commit that does
// not count (tagInvalid); its value is the reason, as text.
func decodeInvalidRow(k []byte) (acl.Loc, error) {
	if len(k) != 1+2*keys.Size+8 {
		return acl.Loc{}, fmt.Errorf("%w: invalid-commit row", ErrCorrupt)
	}
	return acl.Loc{Author: keys.AuthorID(k[1+keys.Size:]), Seq: binary.BigEndian.Uint64(k[1+2*keys.Size:])}, nil
}

// decodeCutRow decodes a revocation cut row (tagCut).
func decodeCutRow(k, v []byte) (keys.AuthorID, uint64, error) {
	if len(k) != 1+2*keys.Size || len(v) != 8 {
		return keys.AuthorID{}, 0, fmt.Errorf("%w: cut row", ErrCorrupt)
	}
	return keys.AuthorID(k[1+keys.Size:]), binary.BigEndian.Uint64(v), nil
}

// decodeLocRow decodes a commit location: the value of a commit ID index
// row (tagCommitID), or the start of an off-chain commit row
// (tagOffchain), which the commit's bytes follow.
func decodeLocRow(v []byte) (loc, []byte, error) {
	if len(v) < keys.Size+8 {
		return loc{}, nil, fmt.Errorf("%w: commit index row", ErrCorrupt)
	}
	return loc{keys.AuthorID(v[:keys.Size]), binary.BigEndian.Uint64(v[keys.Size:])}, v[keys.Size+8:], nil
}

// The value of a commit row (tagCommit) is decoded by decodeCommitValue
// (bodies.go).

// decodeForkKey decodes the key of a fork evidence row (tagFork): the
// forked author and seq; the value is the second commit.
func decodeForkKey(k []byte) (keys.AuthorID, uint64, error) {
	if len(k) != 1+2*keys.Size+8+keys.Size {
		return keys.AuthorID{}, 0, fmt.Errorf("%w: fork row", ErrCorrupt)
	}
	return keys.AuthorID(k[1+keys.Size:]), binary.BigEndian.Uint64(k[1+2*keys.Size:]), nil
}
