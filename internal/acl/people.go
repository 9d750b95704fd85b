package acl

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// People (#12): device certificates, person grants, device and person
// revocations. The rules are in the package documentation.

// decodeCert returns the verified certificate of a cert op. A certificate
// that does not decode is ignored (ok false, err nil), as any malformed
// control op, so that a later format never makes this version reject a
// commit; one that decodes but whose signatures do not verify is a forgery
// (err, wrapping ErrDenied).
func (vc *verified) decodeCert(o *commit.Op) (ct identity.Cert, ok bool, err error) {
	b, err := commit.CertPayload(*o)
	if err != nil {
		return identity.Cert{}, false, nil
	}
	if vc != nil {
		if r, hit := vc.certs[string(b)]; hit {
			return r.cert, r.ok, r.err
		}
	}
	ct, err = identity.DecodeCert(b)
	ok = err == nil
	if errors.Is(err, identity.ErrBadSignature) {
		err = fmt.Errorf("%w: %w", ErrDenied, err)
	} else {
		err = nil
	}
	if vc != nil {
		vc.certs[string(b)] = certResult{ct, ok, err}
	}
	return ct, ok, err
}

// decodeRevocation is identity.DecodeRevocation, remembered.
func (vc *verified) decodeRevocation(b []byte) (identity.Revocation, error) {
	if vc != nil {
		if r, hit := vc.revs[string(b)]; hit {
			return r.rev, r.err
		}
	}
	r, err := identity.DecodeRevocation(b)
	if vc != nil {
		vc.revs[string(b)] = revResult{r, err}
	}
	return r, err
}

// verified remembers the certificates and revocations decoded (and their
// signatures verified) by one Evaluate: its passes decide the same commits
// again and again. A nil *verified remembers nothing.
type verified struct {
	certs map[string]certResult
	revs  map[string]revResult
}

type certResult struct {
	cert identity.Cert
	ok   bool
	err  error
}

type revResult struct {
	rev identity.Revocation
	err error
}

func newVerified() *verified {
	return &verified{certs: map[string]certResult{}, revs: map[string]revResult{}}
}

// checkCerts decides c's cert ops and returns held with the grants of the
// people that certify c's author in c itself, and those identities (mine).
// A certificate of the author itself is carried first: it may give the
// author the role it needs for the rest of c. A certificate of another
// device may be carried only by a device of the same person.
func (s *State) checkCerts(c *commit.Commit, seen SeenFunc, held []Grant, v *Verdict) ([]Grant, []keys.IdentityID, error) {
	var mine []keys.IdentityID
	var others []identity.Cert
	for i := range c.Ops {
		if c.Ops[i].Kind != commit.KindCert {
			continue
		}
		ct, ok, err := s.verified.decodeCert(&c.Ops[i])
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		v.Certifies = true
		if ct.Device != c.Author {
			others = append(others, ct)
			continue
		}
		if !slices.Contains(mine, ct.Identity) {
			mine = append(mine, ct.Identity)
			if !s.certified(c.Author, ct.Identity, seen) {
				held = s.personHeld(held, ct.Identity, c.Time, seen)
			}
		}
		v.Grants = append(v.Grants, Grant{Subject: ct.Device, Granter: c.Author, Seq: c.Seq, Identity: ct.Identity})
	}
	for _, ct := range others {
		if !slices.Contains(mine, ct.Identity) && !s.certified(c.Author, ct.Identity, seen) {
			return nil, nil, fmt.Errorf("%w: %s carries the certificate of device %s of %s, but is not one of that person's devices here: a device's certificate is carried by the device or by another device of the same person", ErrDenied, c.Author.Short(), ct.Device.Short(), ct.Identity.Short())
		}
		v.Grants = append(v.Grants, Grant{Subject: ct.Device, Granter: c.Author, Seq: c.Seq, Identity: ct.Identity})
	}
	return held, mine, nil
}

// checkDevRevoke decides a devrevoke op: the revocation must be signed by
// the identity (else the op is ignored, as a malformed one); the author
// must be an admin of the whole space or one of that person's devices
// holding a role; and the revoked device's certificate by that identity
// must be in c's causal past or in c, so that an identity cuts only devices
// that accepted it.
func (s *State) checkDevRevoke(c *commit.Commit, o *commit.Op, seen SeenFunc, held []Grant, mine []keys.IdentityID, v *Verdict) error {
	dr, err := commit.DecodeDevRevoke(*o)
	if err != nil {
		return nil
	}
	r, err := s.verified.decodeRevocation(dr.Revocation)
	if errors.Is(err, identity.ErrBadSignature) {
		return fmt.Errorf("%w: %w", ErrDenied, err) // a forgery, not a newer format
	}
	if err != nil {
		return nil
	}
	own := slices.Contains(mine, r.Identity) || s.certified(c.Author, r.Identity, seen)
	if !allowed(held, commit.RoleAdmin, nil) && !(own && len(held) > 0) {
		return fmt.Errorf("%w: %s carries the revocation of device %s by %s, but is neither one of that person's devices here nor an admin of space %s", ErrDenied, c.Author.Short(), r.Device.Short(), r.Identity.Short(), s.space)
	}
	inCommit := false
	for _, g := range v.Grants {
		inCommit = inCommit || (g.IsCert() && g.Subject == r.Device && g.Identity == r.Identity)
	}
	if !inCommit && !s.certified(r.Device, r.Identity, seen) {
		return fmt.Errorf("%w: %s revokes device %s of %s, whose certificate is not in this space: carry the certificate in the same commit", ErrDenied, c.Author.Short(), r.Device.Short(), r.Identity.Short())
	}
	v.Revokes = append(v.Revokes, Cut{Revoke: commit.Revoke{Author: r.Device, LastSeq: dr.LastSeq}, Identity: r.Identity})
	return nil
}

// checkPersonJoin decides whether c's author may join through an invite
// as the person g names (a self-grant with person set; its delegation is
// checked by the caller, as a device's): a device that person certified,
// in c itself (mine) or in c's causal past, and not through a seed invite,
// which a device joins (a seeder is a machine, not a person).
func (s *State) checkPersonJoin(c *commit.Commit, g commit.Grant, seen SeenFunc, mine []keys.IdentityID) error {
	id := keys.IdentityID(g.Subject)
	if g.Role == commit.RoleSeed {
		return fmt.Errorf("joining through invite %s as the person %s: a seed invite is joined by a device, not a person", g.Invite.Short(), id.Short())
	}
	if !slices.Contains(mine, id) && !s.certified(c.Author, id, seen) {
		return fmt.Errorf("joining through invite %s as the person %s, who has not certified this device here (carry the device's certificate by %s in the same commit)", g.Invite.Short(), id.Short(), id.Short())
	}
	return nil
}

// devicesOf returns, per identity, the devices with a valid certificate in
// any commit of cs (whether the commit counts or not: the signatures of
// both the identity and the device are the proof), each once, in byte
// order. A person's revocation cuts every one of them.
func devicesOf(cs []*commit.Commit, vc *verified) map[keys.IdentityID][]keys.AuthorID {
	out := map[keys.IdentityID][]keys.AuthorID{}
	for _, c := range cs {
		for i := range c.Ops {
			if c.Ops[i].Kind != commit.KindCert {
				continue
			}
			if ct, ok, _ := vc.decodeCert(&c.Ops[i]); ok && !slices.Contains(out[ct.Identity], ct.Device) {
				out[ct.Identity] = append(out[ct.Identity], ct.Device)
			}
		}
	}
	for id := range out {
		sortAuthors(out[id])
	}
	return out
}

// personCuts returns the cuts of person revocation r: each device the
// identity certified, at the revocation's cut for it, or 0 for a device the
// revoker did not name (it held none of its commits, or did not know it).
// A named device the identity did not certify is not cut.
func personCuts(r commit.RevokePerson, devices []keys.AuthorID) []Cut {
	out := make([]Cut, 0, len(devices))
	for _, d := range devices {
		cut := Cut{Revoke: commit.Revoke{Author: d}, Identity: r.Identity, Person: true}
		for _, n := range r.Cuts {
			if n.Author == d {
				cut.LastSeq = n.LastSeq
			}
		}
		out = append(out, cut)
	}
	return out
}

func sortAuthors(as []keys.AuthorID) { slices.SortFunc(as, compareAuthors) }

func compareAuthors(a, b keys.AuthorID) int { return bytes.Compare(a[:], b[:]) }

// samePerson reports whether devices a and b are certified by one
// identity in the causal past seen.
func (s *State) samePerson(a, b keys.AuthorID, seen SeenFunc) bool {
	for _, c := range s.certs[a] {
		if seen(c.Granter, c.Seq) && s.certified(b, c.Identity, seen) {
			return true
		}
	}
	return false
}

// whatTarget names an erase target in a denial.
func whatTarget(t commit.EraseTarget) string {
	if len(t.Key) > 0 {
		return fmt.Sprintf("to %q", t.Key)
	}
	return fmt.Sprintf("(seq %d, op %d, a key not in the clear)", t.Seq, t.Op)
}

// CutsOf returns the cuts c makes when Evaluate looks at it counting: its
// revocations of members and of devices, in op order, then each device of
// each person it revokes (personCuts), devices giving the devices a person
// certified anywhere in the set (what Evaluate's devicesOf finds: a
// store's grounded certificates, Devices). c must count, so Check allowed
// it: an op that does not decode is ignored here as there, and a device
// revocation whose signature does not verify cannot be in it. For deciding
// a revocation from the cut (package store, redecide.go).
func CutsOf(c *commit.Commit, devices func(keys.IdentityID) []keys.AuthorID) []Cut {
	var out []Cut
	var people []commit.RevokePerson
	for i := range c.Ops {
		switch o := c.Ops[i]; o.Kind {
		case commit.KindRevoke:
			if r, err := commit.DecodeRevoke(o); err == nil {
				out = append(out, Cut{Revoke: r})
			}
		case commit.KindDevRevoke:
			dr, err := commit.DecodeDevRevoke(o)
			if err != nil {
				continue
			}
			r, err := identity.DecodeRevocation(dr.Revocation)
			if err != nil {
				continue
			}
			out = append(out, Cut{Revoke: commit.Revoke{Author: r.Device, LastSeq: dr.LastSeq}, Identity: r.Identity})
		case commit.KindRevokePerson:
			if r, err := commit.DecodeRevokePerson(o); err == nil {
				people = append(people, r)
			}
		}
	}
	for _, r := range people {
		out = append(out, personCuts(r, devices(r.Identity))...)
	}
	return out
}

// Devices returns every device with a certificate by identity id in s,
// each once, in byte order: in a store's grounded state (the certificates
// of every commit held, counting or not), the devices a person's
// revocation cuts.
func (s *State) Devices(id keys.IdentityID) []keys.AuthorID {
	var out []keys.AuthorID
	for dev, cs := range s.certs {
		if slices.ContainsFunc(cs, func(g Grant) bool { return g.Identity == id }) {
			out = append(out, dev)
		}
	}
	sortAuthors(out)
	return out
}
