package store

import (
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

func revokedOutcome(c *commit.Commit, why error) Outcome {
	return Outcome{Status: Revoked, Err: fmt.Errorf("%w: %s: %w", ErrRevoked, c, why)}
}

func isGenesis(c *commit.Commit) bool {
	return c.Author == keys.AuthorID(c.Space) && c.Seq == 1
}

func checkGenesis(c *commit.Commit) error {
	if !isGenesis(c) {
		return fmt.Errorf("%w: %s is not seq 1 of the space key", ErrGenesis, c)
	}
	admin := false
	for _, o := range c.Ops {
		if o.Kind == commit.KindGrant {
			g, err := commit.DecodeGrant(o)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrGenesis, err)
			}
			admin = admin || g.Role == commit.RoleAdmin
		}
	}
	if !admin {
		return fmt.Errorf("%w: it grants admin to nobody", ErrGenesis)
	}
	return nil
}

func pending(format string, args ...any) Outcome {
	return Outcome{Status: Pending, Err: fmt.Errorf("%w: "+format, append([]any{ErrPending}, args...)...)}
}

func rejected(err error, format string, args ...any) Outcome {
	return Outcome{Status: Rejected, Err: fmt.Errorf("%w: "+format, append([]any{err}, args...)...)}
}

// applyOne validates c against the space's state and, if valid, adds its
// writes to the batch. A non-nil error is a storage failure.
func (a *applier) applyOne(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	if c.Space != st.id {
		return rejected(ErrWrongSpace, "%s", c), nil
	}
	h := st.heads[c.Author]
	if c.Seq <= h.Seq {
		id, err := a.idAt(bc, st.id, c.Author, c.Seq)
		if errors.Is(err, ErrBelowFloor) {
			return a.applyBelowFloor(bc, st, c)
		}
		if err != nil {
			return Outcome{}, err
		}
		if id == c.ID {
			if st.invalid[acl.Loc{Author: c.Author, Seq: c.Seq}] {
				return Outcome{Status: Duplicate, Err: fmt.Errorf("%w: %s is held but does not count", ErrRevoked, c)}, nil
			}
			return Outcome{Status: Duplicate}, a.restoreLost(bc, st, c)
		}
		if fs, ok := st.forked[c.Author]; ok && fs < c.Seq {
			return a.offchain(bc, st, c) // the author is known forked below: one evidence pair is enough
		}
		return a.fork(bc, st, c)
	}
	if c.Seq > h.Seq+1 || c.Prev != h.ID {
		// Not the next link of the stored chain. A forked author's other
		// branch is kept off-chain once its prev is known; anything else
		// waits for the rest of its chain.
		if fs, ok := st.forked[c.Author]; ok && c.Seq > fs {
			known, err := a.known(bc, st.id, c.Prev)
			if err != nil {
				return Outcome{}, err
			}
			if known {
				return a.offchain(bc, st, c)
			}
		}
		if c.Seq > h.Seq+1 {
			return pending("%s follows seq %d", c, h.Seq), nil
		}
		return pending("%s has prev %s, but the stored seq %d is %s (waiting for its chain; its author may have forked)", c, c.Prev.Short(), h.Seq, h.ID.Short()), nil
	}
	if !st.genesis && !isGenesis(c) {
		return pending("%s: the space's genesis commit has not arrived", c), nil
	}
	if isGenesis(c) {
		if err := checkGenesis(c); err != nil {
			return Outcome{Status: Rejected, Err: err}, nil
		}
	}
	if c.Seq > 1 && !(commit.HLC{Wall: h.Wall, Logical: h.Lgc}).Less(c.Time) {
		return rejected(ErrClock, "%s at %s", c, c.Time), nil
	}
	if c.Time.Wall > uint64(a.s.now().Add(MaxFuture).UnixMicro()) {
		return Outcome{Status: Pending, Err: fmt.Errorf("%w: %w: %s is dated %s", ErrPending, ErrFuture, c, c.Time)}, nil
	}
	for _, d := range c.Deps {
		_, ok, err := a.locateDep(bc, st, d)
		if err != nil {
			return Outcome{}, err
		}
		if !ok {
			return pending("%s depends on %s", c, d.Short()), nil
		}
	}
	auth, denied, err := a.authorize(bc, st, c)
	if err != nil {
		return Outcome{}, err
	}
	if denied != nil {
		return Outcome{Status: Rejected, Err: fmt.Errorf("%w: %s: %w", ErrUnauthorized, c, denied)}, nil
	}

	// Valid: store it.
	if err := a.setCommitRow(bc, st.id, c); err != nil {
		return Outcome{}, err
	}
	if err := bc.b.Set(spaceKey(tagCommitID, st.id, c.ID[:]), append(c.Author[:len(c.Author):len(c.Author)], be64(c.Seq)...), nil); err != nil {
		return Outcome{}, err
	}
	if err := a.fault("stored", c); err != nil {
		return Outcome{}, err
	}
	nh := head{Seq: c.Seq, ID: c.ID, Wall: c.Time.Wall, Lgc: c.Time.Logical}
	bc.heads[authorSeq{st.id, c.Author, 0}] = nh // written at the commit
	st.heads[c.Author] = nh
	bc.ids[c.ID] = loc{c.Author, c.Seq}
	bc.atSeq[authorSeq{st.id, c.Author, c.Seq}] = c.ID
	bc.byLoc[authorSeq{st.id, c.Author, c.Seq}] = c
	if isGenesis(c) {
		st.genesis = true
		if err := markFresh(bc, st.id); err != nil {
			return Outcome{}, err
		}
	}
	if st.view.MaxTime.Less(c.Time) {
		st.view.MaxTime = c.Time
	}
	bc.dirty[st.id] = st

	p, err := a.stored(bc, st, c, auth.past)
	if err != nil {
		return Outcome{}, err
	}
	bc.stored = append(bc.stored, c)
	if err := noteRevoking(bc, st.id, c); err != nil {
		return Outcome{}, err
	}
	if err := a.noteErasing(bc, st, c); err != nil {
		return Outcome{}, err
	}
	if fs, ok := st.forked[c.Author]; ok && c.Seq >= fs {
		return forkedOutcome(c, fs), nil // stored, but a forked author's later commits do not count
	}
	if auth.redecide {
		st.view.redecide = true
		bc.rebuild[st.id] = true
	}
	if err := a.addGrants(bc, st, auth.grants, auth.invalid == nil); err != nil {
		return Outcome{}, err
	}
	if err := a.addSchemas(bc, st, auth.schemas, auth.invalid == nil, false); err != nil {
		return Outcome{}, err
	}
	if auth.invalid != nil {
		st.invalid[acl.Loc{Author: c.Author, Seq: c.Seq}] = true
		if err := bc.b.Set(invalidKey(st.id, c.Author, c.Seq), []byte(auth.invalid.Error()), nil); err != nil {
			return Outcome{}, err
		}
		return revokedOutcome(c, auth.invalid), nil
	}
	if err := a.applyOps(bc, st, c, p); err != nil {
		return Outcome{}, err
	}
	if err := a.recordOnce(bc, st, c); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: Applied}, nil
}

// authorization is the decision on one grounded commit.
type authorization struct {
	grants   []acl.Grant  // its grants that take effect (if it counts)
	schemas  []acl.Schema // its schema declarations (if it counts)
	invalid  error        // non-nil: stored, but it does not count, and why
	redecide bool         // it revokes or joins through an invite: decide the space again
	past     *past        // c's causal past, if computed to decide
}

// authorize decides c in its causal past. A commit is grounded if the
// grants of every stored commit allow it (acl.State.Check, revocations and
// invite uses aside): if not, denied says why and c must be rejected. A
// grounded commit counts if the grants of the commits that count allow it
// and its author is not cut below its seq; that is the whole decision for
// a commit that neither revokes nor joins through an invite (see
// acl.Evaluate), and for those the space is decided again after the batch.
// App rules (#15) restrict, so they are decided with the commits that
// count only (st.valid): a commit that breaks one is grounded, stored, and
// does not count (its rule's declarer may be cut below it later).
func (a *applier) authorize(bc *batch, st *spaceState, c *commit.Commit) (auth *authorization, denied error, err error) {
	onlyData := true
	for i := range c.Ops {
		onlyData = onlyData && c.Ops[i].Kind.IsData()
	}
	cut, isCut := st.cuts[c.Author]
	above := isCut && c.Seq > cut
	if from, ok := st.fastFrom[c.Author]; ok && c.Seq >= from && onlyData && !above && !st.valid.Constrains(c) {
		return &authorization{}, nil, nil // no app rule covers its keys either (#15)
	}
	var p *past
	var pErr error
	seen := func(au keys.AuthorID, seq uint64) bool {
		if au == c.Author {
			return seq < c.Seq
		}
		if p == nil && pErr == nil {
			p, pErr = a.pastOf(bc, st, c)
		}
		return pErr == nil && p.saw(au, seq)
	}
	var why error
	if above {
		why = fmt.Errorf("%w: %s is cut after seq %d", acl.ErrRevoked, c.Author, cut)
	} else {
		// A commit refused by app rules is checked against every grant
		// stored too (acl.SchemaError.Followed); st.valid is replaced when
		// the space is decided again, so it is linked here.
		st.valid.Ground(st.grounded)
		v, err := st.valid.Check(c, seen)
		if pErr != nil {
			return nil, nil, pErr
		}
		if err == nil {
			if onlyData && st.valid.Unbounded(c.Author, c.Time, seen) {
				if from, ok := st.fastFrom[c.Author]; !ok || c.Seq < from {
					st.fastFrom[c.Author] = c.Seq
				}
			}
			return &authorization{grants: v.Grants, schemas: v.Schemas, redecide: st.needsRedecide(v), past: p}, nil, nil
		}
		why = err
	}
	v, err := st.grounded.Check(c, seen)
	if pErr != nil {
		return nil, nil, pErr
	}
	if err != nil {
		return nil, err, nil
	}
	return &authorization{grants: v.Grants, schemas: v.Schemas, invalid: why, redecide: st.needsRedecide(v), past: p}, nil, nil
}

// needsRedecide reports whether a commit with verdict v can change which
// other commits count, so that the space must be decided again: a
// revocation can (of a member, a device or a person), and so can a device
// certificate; a join through an invite can only when the invite was
// revoked or its uses run out with it (which joins count then depends on
// their order). Any other join only adds its grant: deciding a space again
// reads every commit (about 30 µs each), and joins through an invite with
// uses to spare are the common case.
func (st *spaceState) needsRedecide(v acl.Verdict) bool {
	// A device revocation or a person's revocation cuts like a revocation;
	// a certificate can make a person's revocation cut one more device.
	if len(v.Revokes) > 0 || len(v.People) > 0 || v.Certifies {
		return true
	}
	for _, u := range v.Uses {
		if _, cut := st.cuts[u.Invite]; cut {
			return true
		}
		if u.Limit != 0 && st.joinsVia(u.Invite) >= int(u.Limit) {
			return true
		}
	}
	return false
}

// joinsVia counts the stored joins through invite inv (its joiners'
// grants, to devices and to people), whether they count or not.
func (st *spaceState) joinsVia(inv keys.AuthorID) int { return st.grounded.JoinsVia(inv) }

// addGrants records grants of a stored commit durably and in the decision
// state; valid: the commit counts.
func (a *applier) addGrants(bc *batch, st *spaceState, gs []acl.Grant, valid bool) error {
	for i, g := range gs {
		st.grounded.Add(g)
		if valid {
			st.valid.Add(g)
		}
		if err := bc.b.Set(grantKey(st.id, g, uint32(i)), encodeGrant(g), nil); err != nil {
			return err
		}
	}
	return nil
}
