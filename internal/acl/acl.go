// Package acl decides who may write to a space and which grants take
// effect: a pure, incremental structure the store feeds in causal order.
//
// A commit's author may write if a grant of the write or admin role to it
// lies in the commit's causal past (or the author is the space key, or the
// commit itself grants its author a role through an invite). A grant op
// takes effect if its commit's author is the space key or an admin in that
// commit's causal past, or if it is an invite self-grant: the subject is the
// commit's author, the invite key signed the delegation, and the invite key
// holds at least that role in the commit's causal past.
//
// Because every decision looks only at a commit's causal past, and commits
// are applied after their causal past, the decisions are the same on every
// replica whatever order commits arrive in. Prefix restrictions, expiry,
// revocation and invite use counts come with the access-control work; the
// format carries them already.
package acl

import (
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Grant is one effective grant: Granter's commit Seq gave Subject Role.
type Grant struct {
	Subject keys.AuthorID
	Granter keys.AuthorID
	Seq     uint64
	Role    commit.Role
}

// SeenFunc reports whether the commit being decided has (author, seq) in
// its causal past (or is it).
type SeenFunc func(author keys.AuthorID, seq uint64) bool

// State holds a space's effective grants. It is not safe for concurrent use.
type State struct {
	space  keys.SpaceID
	grants map[keys.AuthorID][]Grant
}

// New returns the state of a space with no grants yet.
func New(sp keys.SpaceID) *State {
	return &State{space: sp, grants: map[keys.AuthorID][]Grant{}}
}

// Add records an effective grant (loading stored grants, or after Check).
func (s *State) Add(g Grant) { s.grants[g.Subject] = append(s.grants[g.Subject], g) }

// RoleAt returns the highest role granted to subject by a grant in the
// causal past described by seen. The space key is always admin.
func (s *State) RoleAt(subject keys.AuthorID, seen SeenFunc) commit.Role {
	if subject == keys.AuthorID(s.space) {
		return commit.RoleAdmin
	}
	var best commit.Role
	for _, g := range s.grants[subject] {
		if better(g.Role, best) && seen(g.Granter, g.Seq) {
			best = g.Role
		}
	}
	return best
}

// Role returns subject's highest granted role, wherever it was granted
// (for messages and status, not for decisions).
func (s *State) Role(subject keys.AuthorID) commit.Role {
	return s.RoleAt(subject, func(keys.AuthorID, uint64) bool { return true })
}

// better orders roles for "highest": seed is below read.
func better(a, b commit.Role) bool { return rank(a) > rank(b) }

func rank(r commit.Role) int {
	switch r {
	case commit.RoleSeed:
		return 1
	case commit.RoleRead:
		return 2
	case commit.RoleWrite:
		return 3
	case commit.RoleAdmin:
		return 4
	}
	return 0
}

// CanWrite reports whether r allows writing data.
func CanWrite(r commit.Role) bool { return r == commit.RoleWrite || r == commit.RoleAdmin }

// Check decides commit c: whether its author may write it, and which of its
// grant ops take effect (to Add once c is stored). seen describes c's
// causal past.
func (s *State) Check(c *commit.Commit, seen SeenFunc) (ok bool, effective []Grant) {
	role := s.RoleAt(c.Author, seen)
	// An invite self-grant in c itself can authorize c.
	var grants []commit.Grant
	for _, o := range c.Ops {
		if o.Kind != commit.KindGrant {
			continue
		}
		g, err := commit.DecodeGrant(o)
		if err != nil {
			continue // a malformed control body is ignored, as an unknown kind is
		}
		grants = append(grants, g)
		if g.Subject == c.Author && g.VerifyInvite(s.space) && rank(s.RoleAt(g.Invite, seen)) >= rank(g.Role) && better(g.Role, role) {
			role = g.Role
		}
	}
	if !CanWrite(role) {
		return false, nil
	}
	for _, g := range grants {
		switch {
		case !g.Invite.IsZero():
			if g.Subject != c.Author || !g.VerifyInvite(s.space) || rank(s.RoleAt(g.Invite, seen)) < rank(g.Role) {
				continue
			}
		case role != commit.RoleAdmin:
			continue // only admins (and the space key) grant
		}
		effective = append(effective, Grant{Subject: g.Subject, Granter: c.Author, Seq: c.Seq, Role: g.Role})
	}
	return true, effective
}
