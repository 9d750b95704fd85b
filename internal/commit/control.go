package commit

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/loamdb/loam/internal/keys"
)

// Role is a capability in a space. Read < Write < Admin; Seed is separate:
// store and serve, never read or write.
type Role uint8

// Roles.
const (
	RoleRead  Role = 1
	RoleWrite Role = 2
	RoleAdmin Role = 3
	RoleSeed  Role = 4
)

// roleNames names the roles, for String and ParseRole.
var roleNames = [...]string{RoleRead: "read", RoleWrite: "write", RoleAdmin: "admin", RoleSeed: "seed"}

func (r Role) String() string {
	if int(r) < len(roleNames) && roleNames[r] != "" {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for r := RoleRead; r <= RoleSeed; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q: use read, write, admin or seed", s)
}

// Grant gives Subject a role, optionally restricted to a key prefix, until
// Expires (unix µs; 0: never), for Uses joins (invite keys only; 0 and
// UnlimitedUses: unlimited).
type Grant struct {
	Subject keys.AuthorID
	Role    Role
	Prefix  []byte
	Expires uint64
	Uses    uint32

	// Invite, if set, makes this a self-grant through an invite: Subject is
	// the commit's own author, and InviteSig is the invite key's signature
	// of InviteDigest(space, Subject, Role), delegating the invite key's
	// grant to the joiner's device. With Person set, Subject is the
	// identity that certified the commit's author, and InviteSig signs
	// InvitePersonDigest(space, identity, Role): the joiner's person.
	Invite    keys.AuthorID
	InviteSig []byte

	// Person, if set, makes this a grant to a person: Subject holds the
	// bytes of an identity ID (keys.IdentityID), and the role is held by
	// every device that identity certified in the space (package acl).
	// A person grant never carries Uses.
	Person bool
}

// PersonGrant returns the grant of role to the person of identity id.
func PersonGrant(id keys.IdentityID, role Role) Grant {
	return Grant{Subject: keys.AuthorID(id), Role: role, Person: true}
}

// UnlimitedUses is the Uses of an invite without a limit. Invites are
// written with it rather than 0, so that every replica can tell an invite
// key (Uses != 0) from a member that has not written yet; 0 still means
// unlimited, as earlier invites were written.
const UnlimitedUses = math.MaxUint32

// CtxInvite is the signing context of invite delegations.
const CtxInvite = "loam/invite/v1"

var inviteHash = keys.NewHasher(CtxInvite)

// InviteDigest is what an invite key signs to let subject use it.
func InviteDigest(sp keys.SpaceID, subject keys.AuthorID, role Role) keys.Digest {
	return inviteHash.Sum(sp[:], subject[:], []byte{byte(role)})
}

// InviteGrant returns the self-grant a joiner commits with an invite key.
func InviteGrant(sp keys.SpaceID, subject keys.AuthorID, role Role, invite keys.DeviceKey) Grant {
	sig := invite.Sign(CtxInvite, InviteDigest(sp, subject, role))
	return Grant{Subject: subject, Role: role, Invite: invite.Author(), InviteSig: sig[:]}
}

// CtxInvitePerson is the signing context of invite delegations to a
// person: distinct from CtxInvite, so that a delegation signed for a
// device can never be taken for one to a person, or the reverse, even if
// an identity ID and a device's author ID were the same bytes.
const CtxInvitePerson = "loam/invite-person/v1"

var invitePersonHash = keys.NewHasher(CtxInvitePerson)

// InvitePersonDigest is what an invite key signs to let the person of
// identity id use it.
func InvitePersonDigest(sp keys.SpaceID, id keys.IdentityID, role Role) keys.Digest {
	return invitePersonHash.Sum(sp[:], id[:], []byte{byte(role)})
}

// InvitePersonGrant returns the self-grant a joining device of the person
// of identity id commits with an invite key: a grant of role to the
// person, held by every device id certifies in the space. The commit
// carries the device's certificate by id (package acl).
func InvitePersonGrant(sp keys.SpaceID, id keys.IdentityID, role Role, invite keys.DeviceKey) Grant {
	sig := invite.Sign(CtxInvitePerson, InvitePersonDigest(sp, id, role))
	return Grant{Subject: keys.AuthorID(id), Role: role, Person: true, Invite: invite.Author(), InviteSig: sig[:]}
}

// VerifyInvite checks an invite self-grant's delegation signature: for a
// device (InviteGrant) or, with Person set, for a person
// (InvitePersonGrant).
func (g Grant) VerifyInvite(sp keys.SpaceID) bool {
	if g.Invite.IsZero() {
		return false
	}
	if g.Person {
		return keys.Verify(g.Invite, CtxInvitePerson, InvitePersonDigest(sp, keys.IdentityID(g.Subject), g.Role), g.InviteSig)
	}
	return keys.Verify(g.Invite, CtxInvite, InviteDigest(sp, g.Subject, g.Role), g.InviteSig)
}

// Revoke invalidates Author's commits with seq > LastSeq.
type Revoke struct {
	Author  keys.AuthorID
	LastSeq uint64
}

// DevRevoke carries an identity's device revocation (Revocation, encoded
// by package identity, which names the identity and the device) into a
// space, cutting the device after LastSeq here: the writer chooses the
// cut, as an admin does for Revoke.
type DevRevoke struct {
	Revocation []byte
	LastSeq    uint64
}

// MaxDevRevocation bounds DevRevoke.Revocation (package identity's records
// are at most 256 bytes).
const MaxDevRevocation = 256

// RevokePerson revokes the person of Identity in the space: each device of
// Cuts is cut after its LastSeq, and every other device the identity
// certified in the space at 0 (package acl). Cuts are sorted by device,
// one per device, at most MaxPersonCuts.
type RevokePerson struct {
	Identity keys.IdentityID
	Cuts     []Revoke
}

// MaxPersonCuts bounds the devices a RevokePerson names.
const MaxPersonCuts = 256

// Rotate starts key epoch Epoch; Keys holds the new read key sealed to each
// remaining reader.
type Rotate struct {
	Epoch uint64
	Keys  []SealedKey
}

// SealedKey is a read key sealed to one reader.
type SealedKey struct {
	Reader keys.AuthorID
	Sealed []byte
}

// Schema declares an app's key layout.
type Schema struct {
	App     string
	Version uint64
	Body    []byte
}

type wireGrant struct {
	Subject   []byte `cbor:"1,keyasint"`
	Role      uint64 `cbor:"2,keyasint"`
	Prefix    []byte `cbor:"3,keyasint,omitempty"`
	Expires   uint64 `cbor:"4,keyasint,omitempty"`
	Uses      uint64 `cbor:"5,keyasint,omitempty"`
	Invite    []byte `cbor:"6,keyasint,omitempty"`
	InviteSig []byte `cbor:"7,keyasint,omitempty"`
	Person    bool   `cbor:"8,keyasint,omitempty"`
}

type wireDevRevoke struct {
	Revocation []byte `cbor:"1,keyasint"`
	LastSeq    uint64 `cbor:"2,keyasint"`
}

type wireRevokePerson struct {
	Identity []byte       `cbor:"1,keyasint"`
	Cuts     []wireRevoke `cbor:"2,keyasint"`
}

type wireRevoke struct {
	Author  []byte `cbor:"1,keyasint"`
	LastSeq uint64 `cbor:"2,keyasint"`
}

type wireSealedKey struct {
	Reader []byte `cbor:"1,keyasint"`
	Sealed []byte `cbor:"2,keyasint"`
}

type wireRotate struct {
	Epoch uint64          `cbor:"1,keyasint"`
	Keys  []wireSealedKey `cbor:"2,keyasint"`
}

type wireSchema struct {
	App     string `cbor:"1,keyasint"`
	Version uint64 `cbor:"2,keyasint"`
	Body    []byte `cbor:"3,keyasint,omitempty"`
}

// GrantOp returns the op granting g.
func GrantOp(g Grant) Op {
	w := wireGrant{Subject: g.Subject[:], Role: uint64(g.Role), Prefix: g.Prefix, Expires: g.Expires, Uses: uint64(g.Uses), Person: g.Person}
	if !g.Invite.IsZero() {
		w.Invite, w.InviteSig = g.Invite[:], g.InviteSig
	}
	return Op{Kind: KindGrant, Payload: marshal(w)}
}

// RevokeOp returns the op revoking r.
func RevokeOp(r Revoke) Op {
	return Op{Kind: KindRevoke, Payload: marshal(wireRevoke{Author: r.Author[:], LastSeq: r.LastSeq})}
}

// CertOp returns the op carrying an encoded device certificate.
func CertOp(cert []byte) Op { return Op{Kind: KindCert, Payload: cert} }

// CertPayload returns a cert op's payload (the certificate, for package
// identity to decode and verify).
func CertPayload(o Op) ([]byte, error) {
	if o.Kind != KindCert {
		return nil, fmt.Errorf("op is %s, not %s", o.Kind, KindCert)
	}
	if o.Erased {
		return nil, fmt.Errorf("%s op: %w", KindCert, errErased)
	}
	return o.Payload, nil
}

// DevRevokeOp returns the op carrying r.
func DevRevokeOp(r DevRevoke) Op {
	return Op{Kind: KindDevRevoke, Payload: marshal(wireDevRevoke{Revocation: r.Revocation, LastSeq: r.LastSeq})}
}

// RevokePersonOp returns the op revoking the person r.Identity. It sorts
// r.Cuts by device.
func RevokePersonOp(r RevokePerson) Op {
	cuts := slices.Clone(r.Cuts)
	slices.SortFunc(cuts, func(a, b Revoke) int { return bytes.Compare(a.Author[:], b.Author[:]) })
	w := wireRevokePerson{Identity: r.Identity[:], Cuts: make([]wireRevoke, len(cuts))}
	for i, c := range cuts {
		w.Cuts[i] = wireRevoke{Author: c.Author[:], LastSeq: c.LastSeq}
	}
	return Op{Kind: KindRevokePerson, Payload: marshal(w)}
}

// RotateOp returns the op starting r.Epoch.
func RotateOp(r Rotate) Op {
	w := wireRotate{Epoch: r.Epoch, Keys: make([]wireSealedKey, len(r.Keys))}
	for i, k := range r.Keys {
		w.Keys[i] = wireSealedKey{Reader: k.Reader[:], Sealed: k.Sealed}
	}
	return Op{Kind: KindRotate, Payload: marshal(w)}
}

// SchemaOp returns the op declaring s.
func SchemaOp(s Schema) Op {
	return Op{Kind: KindSchema, Payload: marshal(wireSchema{App: s.App, Version: s.Version, Body: s.Body})}
}

var errErased = errors.New("payload is erased")

// DecodeGrant parses a grant op's payload.
func DecodeGrant(o Op) (Grant, error) {
	var w wireGrant
	if err := decodeControl(o, KindGrant, &w); err != nil {
		return Grant{}, err
	}
	var g Grant
	if err := id32((*[32]byte)(&g.Subject), w.Subject, "grant subject"); err != nil {
		return Grant{}, err
	}
	if w.Role < uint64(RoleRead) || w.Role > uint64(RoleSeed) {
		return Grant{}, fmt.Errorf("grant role %d is not valid", w.Role)
	}
	if len(w.Prefix) > MaxKeySize {
		return Grant{}, errors.New("grant prefix is too long")
	}
	if w.Uses > 1<<32-1 {
		return Grant{}, errors.New("grant uses out of range")
	}
	g.Role, g.Prefix, g.Expires, g.Uses, g.Person = Role(w.Role), w.Prefix, w.Expires, uint32(w.Uses), w.Person
	if g.Person && w.Uses != 0 {
		return Grant{}, errors.New("a grant to a person carries no uses")
	}
	if w.Invite != nil || w.InviteSig != nil {
		if err := id32((*[32]byte)(&g.Invite), w.Invite, "grant invite key"); err != nil {
			return Grant{}, err
		}
		if len(w.InviteSig) != keys.SigSize {
			return Grant{}, fmt.Errorf("grant invite signature is %d bytes, want %d", len(w.InviteSig), keys.SigSize)
		}
		g.InviteSig = w.InviteSig
	}
	return g, nil
}

// DecodeRevoke parses a revoke op's payload.
func DecodeRevoke(o Op) (Revoke, error) {
	var w wireRevoke
	if err := decodeControl(o, KindRevoke, &w); err != nil {
		return Revoke{}, err
	}
	var r Revoke
	if err := id32((*[32]byte)(&r.Author), w.Author, "revoked author"); err != nil {
		return Revoke{}, err
	}
	r.LastSeq = w.LastSeq
	return r, nil
}

// DecodeDevRevoke parses a devrevoke op's payload (the revocation inside
// is for package identity to decode and verify).
func DecodeDevRevoke(o Op) (DevRevoke, error) {
	var w wireDevRevoke
	if err := decodeControl(o, KindDevRevoke, &w); err != nil {
		return DevRevoke{}, err
	}
	if len(w.Revocation) == 0 || len(w.Revocation) > MaxDevRevocation {
		return DevRevoke{}, fmt.Errorf("device revocation is %d bytes, want 1..%d", len(w.Revocation), MaxDevRevocation)
	}
	return DevRevoke{Revocation: w.Revocation, LastSeq: w.LastSeq}, nil
}

// DecodeRevokePerson parses a revokeperson op's payload: cuts sorted by
// device, one per device, at most MaxPersonCuts.
func DecodeRevokePerson(o Op) (RevokePerson, error) {
	var w wireRevokePerson
	if err := decodeControl(o, KindRevokePerson, &w); err != nil {
		return RevokePerson{}, err
	}
	var r RevokePerson
	if err := id32((*[32]byte)(&r.Identity), w.Identity, "revoked identity"); err != nil {
		return RevokePerson{}, err
	}
	if len(w.Cuts) > MaxPersonCuts {
		return RevokePerson{}, fmt.Errorf("person revocation names %d devices, the limit is %d", len(w.Cuts), MaxPersonCuts)
	}
	r.Cuts = make([]Revoke, len(w.Cuts))
	for i, c := range w.Cuts {
		if err := id32((*[32]byte)(&r.Cuts[i].Author), c.Author, "revoked device"); err != nil {
			return RevokePerson{}, err
		}
		if i > 0 && bytes.Compare(r.Cuts[i-1].Author[:], r.Cuts[i].Author[:]) >= 0 {
			return RevokePerson{}, errors.New("person revocation's devices are not sorted and distinct")
		}
		r.Cuts[i].LastSeq = c.LastSeq
	}
	return r, nil
}

// DecodeRotate parses a rotate op's payload.
func DecodeRotate(o Op) (Rotate, error) {
	var w wireRotate
	if err := decodeControl(o, KindRotate, &w); err != nil {
		return Rotate{}, err
	}
	r := Rotate{Epoch: w.Epoch, Keys: make([]SealedKey, len(w.Keys))}
	for i, k := range w.Keys {
		if err := id32((*[32]byte)(&r.Keys[i].Reader), k.Reader, "rotate reader"); err != nil {
			return Rotate{}, err
		}
		if len(k.Sealed) == 0 || len(k.Sealed) > 1024 {
			return Rotate{}, fmt.Errorf("sealed key %d is %d bytes, want 1..1024", i, len(k.Sealed))
		}
		r.Keys[i].Sealed = k.Sealed
	}
	return r, nil
}

// DecodeSchema parses a schema op's payload.
func DecodeSchema(o Op) (Schema, error) {
	var w wireSchema
	if err := decodeControl(o, KindSchema, &w); err != nil {
		return Schema{}, err
	}
	if w.App == "" || len(w.App) > 256 {
		return Schema{}, errors.New("schema app name must be 1..256 bytes")
	}
	return Schema{App: w.App, Version: w.Version, Body: w.Body}, nil
}

func decodeControl(o Op, want Kind, v any) error {
	if o.Kind != want {
		return fmt.Errorf("op is %s, not %s", o.Kind, want)
	}
	if o.Erased {
		return fmt.Errorf("%s op: %w", want, errErased)
	}
	if err := closedDec.Unmarshal(o.Payload, v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrMalformed, want, err)
	}
	// Canonical only: a missing required field or a non-minimal encoding
	// re-encodes differently.
	if !bytes.Equal(marshal(reflect.ValueOf(v).Elem().Interface()), o.Payload) {
		return fmt.Errorf("%w: %s payload is not canonical CBOR with every required field", ErrMalformed, want)
	}
	return nil
}
