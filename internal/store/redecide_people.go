package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Certificates and re-deciding from the cut (#16; docs/design.md,
// "Revoking devices and people (#12)"): a person's revocation cuts every
// device the person certified in any commit held, so a certificate
// arriving after it can make it cut one more device, where it was looked
// at in the decision order, not after the last revocation.

// carriesCert reports whether c carries a device certificate.
func carriesCert(c *commit.Commit) bool {
	for i := range c.Ops {
		if c.Ops[i].Kind == commit.KindCert {
			return true
		}
	}
	return false
}

// planLate adds to p the cuts that the person revocations held before the
// batch (every revoking commit held but revs, the batch's) make now that
// the batch cs's certificates are stored, or returns errSlow.
//
// A person revocation P that counts was looked at counting (cuts only
// remove commits, app rules and used-up invites aside: a space with any
// falls back), and acl.Evaluate now tries its cut of each device D the
// person certified, at the seq P names for D or 0. If D's commits past
// that seq write data only (cutFrom), that trial changes nothing but
// those commits, in every pass, so it is accepted, every other revocation
// is decided as before, and D's cut is the lower of the two: whatever P's
// place in the decision order. A device certified before the batch was
// tried when P was first decided, under the same condition, so its cut is
// low enough already: the cuts are checked for every device, new or not.
//
// A person revocation that does not count may still have counted when it
// was looked at (its cuts refused, a later revocation voided it): a new
// device's cut accepted there would make it count, and change what comes
// after. So a batch certifying a device of a person whose revocation held
// does not count falls back.
func (a *applier) planLate(ctx context.Context, st *spaceState, p *cutPlan, cs, revs []*commit.Commit) error {
	inBatch := map[acl.Loc]bool{}
	for _, c := range cs {
		inBatch[acl.Loc{Author: c.Author, Seq: c.Seq}] = true
	}
	var held []acl.Loc
	var e err0
	pre := spaceKey(tagRevoking, st.id)
	for k := range a.s.scan(ctx, pre, false, &e) {
		if len(k) != len(pre)+keys.Size+8 {
			return fmt.Errorf("%w: revoking-commit row %x", ErrCorrupt, k)
		}
		l := acl.Loc{Author: keys.AuthorID(k[len(pre) : len(pre)+keys.Size]), Seq: binary.BigEndian.Uint64(k[len(pre)+keys.Size:])}
		if !slices.ContainsFunc(revs, func(r *commit.Commit) bool { return r.Author == l.Author && r.Seq == l.Seq }) {
			held = append(held, l)
		}
	}
	if e.err != nil {
		return e.err
	}
	for _, l := range held {
		c, err := a.commitAt(ctx, st.id, l)
		if err != nil {
			return err
		}
		if !st.counts(l.Author, l.Seq) {
			if a.certifiesAnyOf(st, c, inBatch) {
				return slow("a certificate of a person whose revocation held does not count")
			}
			continue
		}
		for _, r := range acl.CutsOf(c, st.grounded.Devices) {
			if !r.Person || !p.lowers(st, r.Revoke) {
				continue // decided when it was stored, or changes nothing
			}
			if len(st.grounded.Schemas()) > 0 || st.grounded.InvitesFull(st.cuts) {
				// An app rule can refuse a commit that a later cut brings
				// back, and so can a used-up invite (a join refused until
				// an earlier joiner is cut): whether P counted when it was
				// looked at is not known.
				return slow("a person's revocation held cuts a device anew, in a space with app rules or a used-up invite")
			}
			if err := a.planCut(ctx, st, p, r.Revoke); err != nil {
				return err
			}
		}
	}
	return nil
}

// certifiesAnyOf reports whether a commit of the batch (inBatch) carries
// a certificate of a device of a person c revokes.
func (a *applier) certifiesAnyOf(st *spaceState, c *commit.Commit, inBatch map[acl.Loc]bool) bool {
	for i := range c.Ops {
		if c.Ops[i].Kind != commit.KindRevokePerson {
			continue
		}
		r, err := commit.DecodeRevokePerson(c.Ops[i])
		if err != nil {
			continue
		}
		for _, d := range st.grounded.Devices(r.Identity) {
			for _, g := range st.grounded.Certs(d) {
				if g.Identity == r.Identity && inBatch[acl.Loc{Author: g.Granter, Seq: g.Seq}] {
					return true
				}
			}
		}
	}
	return false
}

// commitAt reads and decodes the main-chain commit at l.
func (a *applier) commitAt(ctx context.Context, sp keys.SpaceID, l acl.Loc) (*commit.Commit, error) {
	for sc, err := range a.s.Commits(ctx, sp, l.Author, l.Seq) {
		if err != nil {
			return nil, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil || c.Seq != l.Seq {
			return nil, fmt.Errorf("%w: redecide: commit %s/%d: %v", ErrCorrupt, l.Author, l.Seq, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: redecide: revoking commit %s/%d not stored", ErrCorrupt, l.Author, l.Seq)
}
