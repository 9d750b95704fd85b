package node

import (
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store/storetest"
)

// The steps most tests of the package begin with, each failing the test
// when it fails: making a space, an identity, an invite, and joining.

// newSpace creates the space name on n.
func newSpace(t *testing.T, n *Node, name string) *space.Space {
	t.Helper()
	sp, err := n.CreateSpace(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// newIdentity creates the identity of person on n, naming the device dev
// ("" names none), and returns it with its recovery phrase.
func newIdentity(t *testing.T, n *Node, person, dev string) (Identity, identity.Phrase) {
	t.Helper()
	id, phrase, err := n.CreateIdentity(ctxT(t), person, IdentityOptions{Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	return id, phrase
}

// inviteFor returns n's invite to its space name for role, valid for
// expires (0: no expiry).
func inviteFor(t *testing.T, n *Node, name string, role commit.Role, expires time.Duration) keys.Ticket {
	t.Helper()
	tk, err := n.Invite(ctxT(t), name, role, expires)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// joinWith joins n to the space of tk.
func joinWith(t *testing.T, n *Node, tk keys.Ticket) *space.Space {
	t.Helper()
	sp, err := n.Join(ctxT(t), tk)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// joinAs joins joiner to from's space name with an invite for role, valid
// for expires.
func joinAs(t *testing.T, from, joiner *Node, name string, role commit.Role, expires time.Duration) *space.Space {
	t.Helper()
	return joinWith(t, joiner, inviteFor(t, from, name, role, expires))
}

// storedCommits returns the commits n stores in space sp, decoded.
func storedCommits(t *testing.T, n *Node, sp keys.SpaceID) []*commit.Commit {
	t.Helper()
	return storetest.StoredCommits(t, n.st, sp)
}

// recoverIdentity recovers on n the identity of person from phrase, with o.
func recoverIdentity(t *testing.T, n *Node, phrase identity.Phrase, person string, o IdentityOptions) Identity {
	t.Helper()
	id, err := n.RecoverIdentity(ctxT(t), phrase, person, o)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sunnyDiary is a private space "diary" on n holding day/1 = "sunny".
func sunnyDiary(t *testing.T, n *Node) *space.Space {
	t.Helper()
	diary := privateSpace(t, n, "diary")
	if _, err := diary.Commit(ctxT(t), []commit.Op{commit.Put([]byte("day/1"), []byte("sunny"))}); err != nil {
		t.Fatal(err)
	}
	return diary
}

// linkDevice makes to a device of from's person, named dev, with a link
// ticket of from's (o), and returns the identity to got.
func linkDevice(t *testing.T, from, to *Node, o LinkOptions, dev string) Identity {
	t.Helper()
	ctx := ctxT(t)
	tk, err := from.LinkDevice(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	id, err := to.AddDevice(ctx, tk, dev)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
