package store

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Access is the authorization of a space as of the last durable batch:
// the grants of the commits that count, the revocation cuts, and the
// authors known to have forked (at their lowest forked seq).
type Access struct {
	*acl.State
	Cuts   map[keys.AuthorID]uint64
	Forked map[keys.AuthorID]uint64
}

// Role returns author's highest role in force now (0 if none, or if the
// author is revoked): for messages and local checks; the store decides
// commits in their causal past (package acl).
func (a Access) Role(author keys.AuthorID) commit.Role {
	if _, cut := a.Cuts[author]; cut {
		return 0
	}
	return a.State.Role(author, commit.HLC{Wall: uint64(time.Now().UnixMicro())})
}

// Access returns the authorization of a space.
func (s *Store) Access(ctx context.Context, sp keys.SpaceID) (Access, error) {
	gs, err := s.Grants(ctx, sp)
	if err != nil {
		return Access{}, err
	}
	invalid, cuts, err := s.decisions(ctx, sp)
	if err != nil {
		return Access{}, err
	}
	forks, err := s.Forks(ctx, sp)
	if err != nil {
		return Access{}, err
	}
	forked := map[keys.AuthorID]uint64{}
	for _, f := range forks {
		if cur, ok := forked[f.A.Author]; !ok || f.A.Seq < cur {
			forked[f.A.Author] = f.A.Seq
		}
	}
	st := acl.New(sp)
	for _, g := range gs {
		if fs, ok := forked[g.Granter]; (!ok || g.Seq < fs) && !invalid[acl.Loc{Author: g.Granter, Seq: g.Seq}] {
			st.Add(g)
		}
	}
	schemas, err := s.Schemas(ctx, sp)
	if err != nil {
		return Access{}, err
	}
	for _, sc := range schemas {
		if fs, ok := forked[sc.Granter]; (!ok || sc.Seq < fs) && !invalid[acl.Loc{Author: sc.Granter, Seq: sc.Seq}] {
			st.AddSchema(sc)
		}
	}
	// The writes tracked for write-once rules are not read here: a device
	// checks its next write against its store (acl.State.CheckNext).
	return Access{State: st, Cuts: cuts, Forked: forked}, nil
}

// Role returns author's highest role in force now in a space (see
// Access.Role).
func (s *Store) Role(ctx context.Context, sp keys.SpaceID, author keys.AuthorID) (commit.Role, error) {
	a, err := s.Access(ctx, sp)
	if err != nil {
		return 0, err
	}
	return a.Role(author), nil
}

// Grants returns the grants of every stored commit of a space, whether it
// counts or not (see Access for those that count).
func (s *Store) Grants(ctx context.Context, sp keys.SpaceID) ([]acl.Grant, error) {
	return s.grantRows(ctx, spaceKey(tagGrant, sp))
}

// grantKey is the row of the i-th grant of a commit.
func grantKey(sp keys.SpaceID, g acl.Grant, i uint32) []byte {
	return spaceKey(tagGrant, sp, g.Subject[:], g.Granter[:], be64(g.Seq), binary.BigEndian.AppendUint32(nil, i))
}

// encodeGrant: role (1) ‖ expires (8 BE) ‖ uses (4 BE) ‖ invite (32) ‖ prefix;
// a person's record (a person grant or a device certificate, g.Identity
// set) has the role's high bit set and the identity (32) after the invite.
func encodeGrant(g acl.Grant) []byte {
	b := make([]byte, 0, 1+8+4+2*keys.Size+len(g.Prefix))
	if g.Identity.IsZero() {
		b = append(b, byte(g.Role))
	} else {
		b = append(b, byte(g.Role)|personRow)
	}
	b = binary.BigEndian.AppendUint64(b, g.Expires)
	b = binary.BigEndian.AppendUint32(b, g.Uses)
	b = append(b, g.Invite[:]...)
	if !g.Identity.IsZero() {
		b = append(b, g.Identity[:]...)
	}
	return append(b, g.Prefix...)
}

// personRow marks the role byte of a grant row of a person's record.
const personRow = 0x80

func (s *Store) grantRows(ctx context.Context, prefix []byte) ([]acl.Grant, error) {
	var e err0
	var out []acl.Grant
	for k, v := range s.scan(ctx, prefix, false, &e) {
		g, err := decodeGrantRow(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, e.err
}

// Voided returns the stored commits of a space that do not count (Status
// Revoked; forks aside), with the reason recorded when it was decided.
func (s *Store) Voided(ctx context.Context, sp keys.SpaceID) (map[acl.Loc]string, error) {
	var e err0
	out := map[acl.Loc]string{}
	for k, v := range s.scan(ctx, spaceKey(tagInvalid, sp), false, &e) {
		l, err := decodeInvalidRow(k)
		if err != nil {
			return nil, err
		}
		out[l] = string(v)
	}
	return out, e.err
}

// decisions reads the stored commits of a space that do not count (forks
// aside) and the revocation cuts.
func (s *Store) decisions(ctx context.Context, sp keys.SpaceID) (map[acl.Loc]bool, map[keys.AuthorID]uint64, error) {
	var e err0
	invalid := map[acl.Loc]bool{}
	for k := range s.scan(ctx, spaceKey(tagInvalid, sp), false, &e) {
		l, err := decodeInvalidRow(k)
		if err != nil {
			return nil, nil, err
		}
		invalid[l] = true
	}
	if e.err != nil {
		return nil, nil, e.err
	}
	cuts, err := s.cutRows(ctx, sp)
	return invalid, cuts, err
}

// cutRows reads a space's revocation cuts.
func (s *Store) cutRows(ctx context.Context, sp keys.SpaceID) (map[keys.AuthorID]uint64, error) {
	var e err0
	cuts := map[keys.AuthorID]uint64{}
	for k, v := range s.scan(ctx, spaceKey(tagCut, sp), false, &e) {
		au, cut, err := decodeCutRow(k, v)
		if err != nil {
			return nil, err
		}
		cuts[au] = cut
	}
	return cuts, e.err
}
