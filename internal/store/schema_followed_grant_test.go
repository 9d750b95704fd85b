package store_test

import (
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// TestSchemaFollowedGrantOutcome (#15): admin A grants member M admin of
// chat/pin/ and the space's admin cuts A below the grant. M's pin, which
// only an admin may write, relies on that grant: Revoked with an
// acl.SchemaError that is Followed (not acl.Broken: M may not have seen
// the cut). Forger F's pin, with A's grant to M but none to F in its
// causal past, is Broken: whether the store applies them after the cut,
// after a reopen (the grounded grants read back), or with the cut in the
// same request (the space decided again, by acl.Evaluate).
func TestSchemaFollowedGrantOutcome(t *testing.T) {
	rules := `{"prefix":"chat/","rules":[{"key":"chat/pin/{channel}","write":"admin"}]}`
	h := newFollowed(t, 61)
	b, a, m, f := h.b, h.a, h.m, h.f
	v1 := b.next(commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(rules)}))
	a.deps, a.wall = []keys.CommitID{v1.ID}, b.wall
	a1 := a.next(commit.GrantOp(commit.Grant{Subject: m.key.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/pin/")}))
	b.wall = a.wall
	cut := b.next(commit.RevokeOp(commit.Revoke{Author: a.key.Author(), LastSeq: 0}))
	m.deps, m.wall = []keys.CommitID{a1.ID}, b.wall
	m1 := m.next(commit.Put([]byte("chat/pin/general"), []byte(`"by M"`)))
	f.deps, f.wall = []keys.CommitID{a1.ID, cut.ID}, m.wall
	f1 := f.next(commit.Put([]byte("chat/pin/general"), []byte(`"by F"`)))

	h.check(t, v1, a1, cut, m1, f1, "M's pin relying on A's voided grant", "F's pin with no admin grant of its own")
}
