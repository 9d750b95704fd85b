package api

import (
	"github.com/loamdb/loam/internal/acl"
	"net/http"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
)

// members lists the space's members.
func (s *Server) members(r *http.Request, sp *space.Space) ([]Member, error) {
	ms, ps, err := s.n.Roster(r.Context(), sp.ID().String())
	if err != nil {
		return nil, err
	}
	return MembersOf(ms, ps), nil
}

// MembersOf converts a space's roster to the API's rows: one per person
// (with its devices), and one per other member, in the order of their
// IDs (people, whose idt_… sort after aut_…, last).
func MembersOf(ms []space.Member, ps []space.Person) []Member {
	out := make([]Member, 0, len(ms)+len(ps))
	devices := map[keys.IdentityID][]Member{}
	for _, m := range ms {
		if m.Identity.IsZero() {
			out = append(out, MemberOf(m))
			continue
		}
		devices[m.Identity] = append(devices[m.Identity], MemberOf(m))
	}
	for _, p := range ps {
		out = append(out, PersonOf(p, devices[p.Identity]))
	}
	return out
}

// PersonOf converts a person and its devices' rows to the API's row.
func PersonOf(p space.Person, devices []Member) Member {
	id := p.Identity.String()
	out := Member{Author: id, Identity: id, Grants: []MemberGrant{}, Devices: devices}
	out.Name, out.Avatar, out.AvatarKey = p.Profile.Name, p.Profile.Avatar, p.Profile.AvatarKey
	for i := range devices {
		devices[i].Person = p.Profile.Name
	}
	best := p.Role
	for _, d := range devices {
		if r, err := commit.ParseRole(d.Role); err == nil && acl.Rank(r) > acl.Rank(best) {
			best = r
		}
	}
	if best != 0 {
		out.Role = best.String()
	}
	for _, g := range p.Grants {
		out.Grants = append(out.Grants, memberGrantOf(g))
	}
	return out
}

// MemberOf converts a member of package space to the API's form, the one
// conversion of a member (the root package converts from this form).
func MemberOf(m space.Member) Member {
	out := Member{Author: m.Author.String(), Invite: m.Invite, Grants: []MemberGrant{}}
	if m.Role != 0 {
		out.Role = m.Role.String()
	}
	for _, g := range m.Grants {
		out.Grants = append(out.Grants, memberGrantOf(g))
	}
	if !m.Identity.IsZero() {
		out.Identity, out.Name = m.Identity.String(), m.DeviceName
		since := m.Certified
		out.Since = &since
	}
	for _, j := range m.Joined {
		out.Joined = append(out.Joined, j.String())
	}
	if m.Revoked != nil {
		out.Revoked = &Revocation{By: m.Revoked.By.String(), At: m.Revoked.At, LastSeq: m.Revoked.LastSeq}
	}
	out.ForkedAt = m.ForkedAt
	return out
}

func memberGrantOf(g space.MemberGrant) MemberGrant {
	mg := MemberGrant{Role: g.Role.String(), Prefix: string(g.Prefix), Uses: g.Uses, GrantedBy: g.GrantedBy.String(), Since: g.Since}
	if !g.Expires.IsZero() {
		e := g.Expires
		mg.Expires = &e
	}
	if !g.Via.IsZero() {
		mg.Via = g.Via.String()
	}
	return mg
}

// revoke revokes a member or an invite; this device must be an admin.
func (s *Server) revoke(r *http.Request, req RevokeRequest) (RevokeResponse, error) {
	if req.Target == "" {
		return RevokeResponse{}, badRequestf(`target must name a member (aut_…), a person (idt_…) or an invite (its ticket, loam2…)`)
	}
	sp, err := s.space(r)
	if err != nil {
		return RevokeResponse{}, err
	}
	rv, err := s.n.Revoke(r.Context(), sp.ID().String(), req.Target)
	if err != nil {
		return RevokeResponse{}, err
	}
	return RevokedOf(rv), nil
}

// RevokedOf converts what node.Revoke did to the API's form.
func RevokedOf(rv node.Revocation) RevokeResponse {
	if !rv.Person.IsZero() {
		out := RevokeResponse{Person: rv.Person.String(), Epoch: rv.Epoch}
		for _, d := range rv.Devices {
			out.Devices = append(out.Devices, RevokedDevice{Author: d.Author.String(), LastSeq: d.LastSeq})
		}
		return out
	}
	return RevokeResponse{Author: rv.Author.String(), Invite: rv.Invite, LastSeq: rv.LastSeq, Epoch: rv.Epoch}
}
