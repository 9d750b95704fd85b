package space

import (
	"bytes"
	"cmp"
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
// the store decided it from every commit held here (acl.Evaluate).
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
// effect, in author order (see Roster).
func Members(ctx context.Context, st *store.Store, sp keys.SpaceID) ([]Member, error) {
	ms, _, err := Roster(ctx, st, sp)
	return ms, err
}

// Roster lists the members of a space as Members does, and its people:
// every identity that certified a device there or holds a grant there, in
// identity order.
//
// It reads the store's decision, not the commits (#16; docs/design.md,
// "The roster without every commit"): the commits that grant, join,
// certify or revoke and whether each counts (store.Controls), the cuts and
// the forks. It decodes those commits only, and holds them and their
// grants: its time and memory are the space's control commits', whatever
// its data commits (a space installed from a snapshot: and those it holds
// below its floor, store.Controls). A space whose store does not list its
// revoking commits (stored before those rows, until its next full
// decision) is decided whole as before (rosterEvaluate).
func Roster(ctx context.Context, st *store.Store, sp keys.SpaceID) ([]Member, []Person, error) {
	ctl, complete, err := st.Controls(ctx, sp)
	if err != nil {
		return nil, nil, err
	}
	if !complete {
		return rosterEvaluate(ctx, st, sp)
	}
	d, certs, times := controlDecision(sp, ctl)
	return roster(ctx, st, sp, d, certs, times, ctl.Forked)
}

// controlDecision is the part of the store's decision of sp that Roster
// lists, built from the control commits ctl lists (acl.Evaluate's, in
// order: see inDecisionOrder): the grants, people's grants, certificates
// and joins of the commits that count, and for each cut the first
// revocation that counts at that cut. certs and times are as rosterEvaluate
// finds them in the commits, for those commits.
func controlDecision(sp keys.SpaceID, ctl store.Controls) (d *acl.Decision, certs map[certKey]certInfo, times map[acl.Loc]time.Time) {
	certs, times = map[certKey]certInfo{}, map[acl.Loc]time.Time{}
	all := acl.New(sp) // the grants of every control commit, counting or not: their certificates say which devices a person's revocation cuts
	var counting []store.Control
	for _, c := range ctl.Commits { // by author then seq, as rosterEvaluate reads the commits
		for _, g := range c.Grants {
			all.Add(g)
		}
		if c.C != nil {
			certsOf(c.C, certs)
			times[c.Loc] = c.C.Time.Time().UTC()
		}
		if c.Counts {
			counting = append(counting, c)
		}
	}
	slices.SortFunc(counting, inDecisionOrder)
	d = &acl.Decision{Cuts: ctl.Cuts, Joined: map[keys.AuthorID][]keys.AuthorID{}}
	for _, c := range counting {
		for _, g := range c.Grants {
			d.AddGrant(g)
			if !g.Invite.IsZero() && !slices.Contains(d.Joined[g.Invite], g.Granter) {
				d.Joined[g.Invite] = append(d.Joined[g.Invite], g.Granter)
			}
		}
		if c.C == nil {
			continue
		}
		for _, r := range acl.CutsOf(c.C, all.Devices) {
			if cut, ok := ctl.Cuts[r.Author]; ok && cut == r.LastSeq && r.Author != keys.AuthorID(sp) {
				d.Revocations = append(d.Revocations, acl.Revocation{Cut: r, By: c.C.Author, Seq: c.C.Seq, Time: c.C.Time})
			}
		}
	}
	return d, certs, times
}

// inDecisionOrder orders control commits as acl.Evaluate's decision order
// does commits dated after the commits they name, as an honest device's
// are (its clock observes every commit it stores): by time, author, ID.
// (docs/design.md, "The roster without every commit": with clocks that do
// not follow causality only the order of the lists, and which of two at
// one place is named, may differ.) A commit not held (none is: a floored
// space keeps every control commit) comes first, by place.
func inDecisionOrder(a, b store.Control) int {
	if a.C == nil || b.C == nil {
		if a.C != nil || b.C != nil {
			return cmp.Compare(b2i(a.C != nil), b2i(b.C != nil))
		}
		if c := bytes.Compare(a.Loc.Author[:], b.Loc.Author[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Loc.Seq, b.Loc.Seq)
	}
	if c := a.C.Time.Compare(b.C.Time); c != 0 {
		return c
	}
	if c := bytes.Compare(a.C.Author[:], b.C.Author[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.C.ID[:], b.C.ID[:])
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rosterEvaluate is Roster deciding the whole space again: it reads and
// decodes every commit and runs acl.Evaluate over them. Roster falls back
// to it where the store does not list the revoking commits; it is the
// reference Roster is tested against.
func rosterEvaluate(ctx context.Context, st *store.Store, sp keys.SpaceID) ([]Member, []Person, error) {
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
	off, err := st.OffChain(ctx, sp)
	if err != nil {
		return nil, nil, err
	}
	return roster(ctx, st, sp, acl.EvaluateForked(sp, cs, forked, off), certs, times, forked)
}

// roster lists the members and people of d, the decision of sp: certs
// holds the certificates of the commits held (the first of each device
// by an identity, by author then seq), times the time of each commit
// that grants, forked the forked authors.
func roster(ctx context.Context, st *store.Store, sp keys.SpaceID, d *acl.Decision, certs map[certKey]certInfo, times map[acl.Loc]time.Time, forked map[keys.AuthorID]uint64) ([]Member, []Person, error) {
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
