package space

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Member is one author holding (or having held) a grant in a space, as
// decided from every commit held here (acl.Evaluate).
type Member struct {
	Author keys.AuthorID
	// Invite is set for an invite key: it holds a grant that joiners
	// delegate from; it never writes.
	Invite bool
	// Role is the highest role in force now (0: none: expired, or
	// revoked).
	Role   commit.Role
	Grants []MemberGrant // every grant of a commit that counts, oldest first
	// Joined lists, for an invite key, who joined through it, first first.
	Joined []keys.AuthorID
	// Revoked is set when the author was revoked.
	Revoked *MemberRevocation
	// ForkedAt is the seq at which the author signed two different
	// commits (a fork): its commits from that seq on do not count. 0 if
	// it did not fork.
	ForkedAt uint64
	// Identity is set for a device certified by a person (people.go):
	// the identity, and the device's name and certification time.
	Identity   keys.IdentityID
	DeviceName string
	Certified  time.Time
}

// MemberGrant is one grant that took effect.
type MemberGrant struct {
	Role      commit.Role
	Prefix    []byte
	Expires   time.Time // zero: never
	Uses      uint32    // invite keys: joins allowed (0: unlimited)
	GrantedBy keys.AuthorID
	Since     time.Time     // the granting commit's time
	Via       keys.AuthorID // set for a join through this invite key
}

// MemberRevocation is the accepted revocation of a member.
type MemberRevocation struct {
	By      keys.AuthorID
	At      time.Time
	LastSeq uint64 // its commits (an invite: its joins) after this do not count
}

// Members lists the members of a space: every subject of a grant that took
// effect, in author order. It decides the whole space again (it reads
// every commit), so it is for status and the CLI, not for hot paths.
func Members(ctx context.Context, st *store.Store, sp keys.SpaceID) ([]Member, error) {
	ms, _, err := Roster(ctx, st, sp)
	return ms, err
}

// Roster lists the members of a space as Members does, and its people:
// every identity that certified a device there or holds a grant there, in
// identity order.
func Roster(ctx context.Context, st *store.Store, sp keys.SpaceID) ([]Member, []Person, error) {
	var cs []*commit.Commit
	certs := map[certKey]certInfo{}
	times := map[acl.Loc]time.Time{}
	for sc, err := range st.AllCommits(ctx, sp) {
		if err != nil {
			return nil, nil, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("space: members: %w", err)
		}
		cs = append(cs, c)
		certsOf(c, certs)
		times[acl.Loc{Author: c.Author, Seq: c.Seq}] = c.Time.Time().UTC()
	}
	forks, err := st.Forks(ctx, sp)
	if err != nil {
		return nil, nil, err
	}
	forked := map[keys.AuthorID]uint64{}
	for _, f := range forks {
		if cur, ok := forked[f.A.Author]; !ok || f.A.Seq < cur {
			forked[f.A.Author] = f.A.Seq
		}
	}
	d := acl.Evaluate(sp, cs, forked)
	now := commit.HLC{Wall: uint64(time.Now().UnixMicro())}
	state := d.State(sp)

	byAuthor := map[keys.AuthorID]*Member{}
	get := func(a keys.AuthorID) *Member {
		return entry(byAuthor, a, func() *Member { return &Member{Author: a} })
	}
	for _, g := range d.Grants {
		m := get(g.Subject)
		m.Grants = append(m.Grants, grantOf(g, times))
		m.Invite = m.Invite || g.Uses != 0
		if !g.Invite.IsZero() {
			get(g.Invite).Invite = true
		}
	}
	people := addPeople(d, certs, times, now, get)
	if err := addProfiles(ctx, st, sp, people, byAuthor); err != nil {
		return nil, nil, err
	}
	for inv, js := range d.Joined {
		get(inv).Joined = js
	}
	for _, r := range d.Revocations {
		if cut, ok := d.Cuts[r.Author]; !ok || cut != r.LastSeq {
			continue // a later revocation of the same author with a higher cut
		}
		m := get(r.Author)
		if m.Revoked == nil {
			m.Revoked = &MemberRevocation{By: r.By, At: r.Time.Time().UTC(), LastSeq: r.LastSeq}
		}
	}
	out := make([]Member, 0, len(byAuthor))
	for a, seq := range forked {
		if m := byAuthor[a]; m != nil {
			m.ForkedAt = seq
		}
	}
	for a, m := range byAuthor {
		if m.Revoked == nil {
			m.Role = state.Role(a, now)
		}
		if a == keys.AuthorID(sp) {
			m.Role = commit.RoleAdmin
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Member) int { return bytes.Compare(a.Author[:], b.Author[:]) })
	return out, people, nil
}

// grantOf is the MemberGrant of g, a grant to a device or to a person,
// which took effect at the time times holds for its commit.
func grantOf(g acl.Grant, times map[acl.Loc]time.Time) MemberGrant {
	mg := MemberGrant{Role: g.Role, Prefix: g.Prefix, Uses: g.Uses, GrantedBy: g.Granter, Since: times[acl.Loc{Author: g.Granter, Seq: g.Seq}], Via: g.Invite}
	if mg.Uses == commit.UnlimitedUses {
		mg.Uses = 0 // unlimited, as MemberGrant says
	}
	if g.Expires != 0 {
		mg.Expires = time.UnixMicro(int64(g.Expires)).UTC()
	}
	return mg
}

// entry returns m[k], adding made() under k first when k is missing.
func entry[K comparable, V any](m map[K]*V, k K, made func() *V) *V {
	v := m[k]
	if v == nil {
		v = made()
		m[k] = v
	}
	return v
}
