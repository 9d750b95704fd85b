package loam

import (
	"context"
	"time"

	"github.com/loamdb/loam/internal/api"
)

// Member is one author holding (or having held) a grant in a space.
type Member struct {
	Author  string        `json:"author"`
	Invite  bool          `json:"invite,omitempty"` // an invite key, not a device
	Role    Role          `json:"role"`             // in force now; "" when none (expired or revoked)
	Grants  []MemberGrant `json:"grants"`
	Joined  []string      `json:"joined,omitempty"` // for an invite: who joined through it, first first
	Revoked *Revocation   `json:"revoked,omitempty"`
	// ForkedAt is the seq at which the member signed two different
	// commits (its key is used on two devices, or was stolen): its
	// commits from there on do not count. 0 if it did not fork.
	ForkedAt uint64 `json:"forked_at,omitempty"`
	// A person (an identity, #12) is one member: Author and Identity are
	// its identity ID (idt_…), Role the highest of its devices', Grants
	// the grants to the person (Space.Grant), and Devices its certified
	// devices, each a member with Identity, Name (from its certificate)
	// and Since (when it was certified). A device without an identity is
	// a member of its own, as before.
	Identity string     `json:"identity,omitempty"`
	Name     string     `json:"name,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Devices  []Member   `json:"devices,omitempty"`
	// Profiles: a person's Name is their profile's name ("" without a
	// profile), Avatar its avatar's blob ID and AvatarKey the key in the
	// space whose value is the avatar image (Space.OpenBlob); a person's
	// device names the person's profile name in Person.
	Avatar    string `json:"avatar,omitempty"`
	AvatarKey string `json:"avatar_key,omitempty"`
	Person    string `json:"person,omitempty"`
}

// MemberGrant is one grant that took effect.
type MemberGrant struct {
	Role      Role       `json:"role"`
	Prefix    string     `json:"prefix,omitempty"`  // the keys it is restricted to ("": all)
	Expires   *time.Time `json:"expires,omitempty"` // nil: never
	Uses      uint32     `json:"uses,omitempty"`    // invite keys: joins allowed (0: unlimited)
	GrantedBy string     `json:"granted_by"`
	Since     time.Time  `json:"since"`
	Via       string     `json:"via,omitempty"` // the invite key joined through
}

// Revocation is a member's revocation: its commits (an invite: its joins)
// after LastSeq do not count.
type Revocation struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	LastSeq uint64    `json:"last_seq"`
}

// Revoked is what Revoke did.
type Revoked struct {
	Author  string `json:"author"`
	Invite  bool   `json:"invite,omitempty"`
	LastSeq uint64 `json:"last_seq"` // the cut
	// Epoch is the read-key epoch a private space's revocation started:
	// writes from now on are sealed under a key the revoked member lacks.
	Epoch uint64 `json:"epoch,omitempty"`
	// Person is set when a person was revoked (idt_…): Author is then
	// empty, and Devices holds the cuts of the person's devices known
	// here; every other device of the person is cut at 0.
	Person  string       `json:"person,omitempty"`
	Devices []RevokedCut `json:"devices,omitempty"`
}

// RevokedCut is one device's cut in a person's revocation.
type RevokedCut struct {
	Author  string `json:"author"`
	LastSeq uint64 `json:"last_seq"`
}

// A member and a revocation take one road to this package, embedded or
// through a daemon: the internal form becomes the API's (api.MemberOf,
// api.RevokedOf), which becomes this package's here.

func memberOf(m api.Member) Member {
	o := Member{Author: m.Author, Invite: m.Invite, Role: Role(m.Role), Joined: m.Joined, Grants: []MemberGrant{}, ForkedAt: m.ForkedAt}
	for _, g := range m.Grants {
		o.Grants = append(o.Grants, MemberGrant{Role: Role(g.Role), Prefix: g.Prefix, Expires: g.Expires, Uses: g.Uses, GrantedBy: g.GrantedBy, Since: g.Since, Via: g.Via})
	}
	if m.Revoked != nil {
		r := Revocation(*m.Revoked)
		o.Revoked = &r
	}
	o.Identity, o.Name, o.Since = m.Identity, m.Name, m.Since
	o.Avatar, o.AvatarKey, o.Person = m.Avatar, m.AvatarKey, m.Person
	if len(m.Devices) > 0 {
		o.Devices = membersOf(m.Devices)
	}
	return o
}

func membersOf(ms []api.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = memberOf(m)
	}
	return out
}

func revokedOf(r api.RevokeResponse) Revoked {
	out := Revoked{Author: r.Author, Invite: r.Invite, LastSeq: r.LastSeq, Epoch: r.Epoch, Person: r.Person}
	for _, d := range r.Devices {
		out.Devices = append(out.Devices, RevokedCut(d))
	}
	return out
}

// Invite returns a ticket ("loam2…") with which one device can join the
// space with role; it can be used to join for expires (0: no limit).
// This device must be an admin of the space.
func (s *Space) Invite(ctx context.Context, role Role, expires time.Duration) (string, error) {
	return s.impl.invite(ctx, role, expires, 0)
}

// InviteUses is Invite for at most uses devices (0: unlimited): if more
// join concurrently, the first by (commit time, author, ID) are admitted,
// the same on every replica.
func (s *Space) InviteUses(ctx context.Context, role Role, expires time.Duration, uses uint32) (string, error) {
	return s.impl.invite(ctx, role, expires, uses)
}

// Members lists the members of the space: one per person (an identity,
// with its devices), and one per other device or invite key, in the
// order of their IDs.
func (s *Space) Members(ctx context.Context) ([]Member, error) { return s.impl.members(ctx) }

// Revoke revokes a member of the space by its author ID (aut_…), a person
// by identity ID (idt_…: every device of the person, those certified
// later too), or an invite by its ticket (loam2…). The member's commits
// after the latest one held here (an invite's joins after those admitted
// so far) stop counting on every replica. This device must be an admin.
func (s *Space) Revoke(ctx context.Context, target string) (Revoked, error) {
	return s.impl.revoke(ctx, target)
}

// WaitSynced waits until the space is in sync with at least one connected
// peer: this node holds every commit the peer announced, and the peer
// holds or was sent every commit held here. After Join that is the end of
// the first sync. It waits on the node's sync sessions, not on a timer;
// it returns ctx's error when ctx ends first, and ErrOffline at once for
// a node without networking.
func (s *Space) WaitSynced(ctx context.Context) error { return s.impl.waitSynced(ctx) }
