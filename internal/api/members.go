package api

import (
	"net/http"

	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
)

// members lists the space's members.
func (s *Server) members(w http.ResponseWriter, r *http.Request) {
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ms, err := s.n.Members(r.Context(), sp.ID().String())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = MemberOf(m)
	}
	writeJSON(w, http.StatusOK, out)
}

// MemberOf converts a member of package space to the API's form, the one
// conversion of a member (the root package converts from this form).
func MemberOf(m space.Member) Member {
	out := Member{Author: m.Author.String(), Invite: m.Invite, Grants: []MemberGrant{}}
	if m.Role != 0 {
		out.Role = m.Role.String()
	}
	for _, g := range m.Grants {
		mg := MemberGrant{Role: g.Role.String(), Prefix: string(g.Prefix), Uses: g.Uses, GrantedBy: g.GrantedBy.String(), Since: g.Since}
		if !g.Expires.IsZero() {
			e := g.Expires
			mg.Expires = &e
		}
		if !g.Via.IsZero() {
			mg.Via = g.Via.String()
		}
		out.Grants = append(out.Grants, mg)
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

// revoke revokes a member or an invite; this device must be an admin.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	var req RevokeRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Target == "" {
		writeError(w, badRequestf(`target must name a member (aut_…) or an invite (its ticket, loam2…)`))
		return
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rv, err := s.n.Revoke(r.Context(), sp.ID().String(), req.Target)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RevokedOf(rv))
}

// RevokedOf converts what node.Revoke did to the API's form.
func RevokedOf(rv node.Revocation) RevokeResponse {
	return RevokeResponse{Author: rv.Author.String(), Invite: rv.Invite, LastSeq: rv.LastSeq, Epoch: rv.Epoch}
}
