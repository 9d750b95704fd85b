package commit_test

import (
	"bytes"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// TestInvitePersonGrant: a self-grant through an invite naming the
// joiner's person round-trips, verifies for its space, identity and role
// only, and its delegation and a device's can never stand for each other.
func TestInvitePersonGrant(t *testing.T) {
	sp := goldenSpaceKey.Space()
	g := commit.InvitePersonGrant(sp, goldenIdentity, commit.RoleWrite, goldenInviteKey)
	if !g.Person || g.Subject != keys.AuthorID(goldenIdentity) || g.Invite != goldenInviteKey.Author() || g.Uses != 0 {
		t.Fatalf("InvitePersonGrant = %+v", g)
	}
	back, err := commit.DecodeGrant(commit.GrantOp(g))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Person || back.Subject != g.Subject || back.Invite != g.Invite || !bytes.Equal(back.InviteSig, g.InviteSig) || back.Role != g.Role {
		t.Fatalf("round trip: %+v -> %+v", g, back)
	}
	if !back.VerifyInvite(sp) {
		t.Fatal("the person's delegation does not verify")
	}

	// Signed for one thing, claimed for another.
	other := keys.SpaceKeyFromSeed(fill(0x09)).Space()
	forRole := commit.InvitePersonGrant(sp, goldenIdentity, commit.RoleAdmin, goldenInviteKey)
	forRole.Role = commit.RoleWrite
	forPerson := g
	forPerson.Subject = goldenJoiner.Author()
	for what, w := range map[string]commit.Grant{
		"another space":  commit.InvitePersonGrant(other, goldenIdentity, commit.RoleWrite, goldenInviteKey),
		"another role":   forRole,
		"another person": forPerson,
	} {
		if w.VerifyInvite(sp) {
			t.Errorf("a delegation signed for %s verifies", what)
		}
	}

	// A device's delegation replayed as a person's, and the reverse: the
	// same invite key, space, role and subject bytes, another context.
	dev := commit.InviteGrant(sp, keys.AuthorID(goldenIdentity), commit.RoleWrite, goldenInviteKey)
	asPerson := dev
	asPerson.Person = true
	if asPerson.VerifyInvite(sp) {
		t.Error("a device's delegation verifies as a person's")
	}
	asDevice := g
	asDevice.Person = false
	if asDevice.VerifyInvite(sp) {
		t.Error("a person's delegation verifies as a device's")
	}
	if commit.InvitePersonDigest(sp, goldenIdentity, commit.RoleWrite) == commit.InviteDigest(sp, keys.AuthorID(goldenIdentity), commit.RoleWrite) {
		t.Error("the person's digest is the device's")
	}

	// A grant to a person carries no uses, through an invite or not.
	for _, p := range []commit.Grant{commit.PersonGrant(goldenIdentity, commit.RoleRead), g} {
		p.Uses = 1
		if _, err := commit.DecodeGrant(commit.GrantOp(p)); err == nil {
			t.Errorf("a person grant with uses decodes: %+v", p)
		}
	}
	// The invite signature has its size, as a device's.
	short := g
	short.InviteSig = g.InviteSig[:10]
	if _, err := commit.DecodeGrant(commit.GrantOp(short)); err == nil {
		t.Error("a person's delegation of 10 bytes decodes")
	}
}
