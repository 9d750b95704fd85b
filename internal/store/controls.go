package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Control is a stored main-chain commit of a space that grants (to a
// device or a person), joins through an invite, carries a device
// certificate or revokes, as the store holds it.
type Control struct {
	// C is the commit, decoded; nil if it is not held (below a floor):
	// its grant rows are still Grants.
	C *commit.Commit
	// Loc is where the commit is in its author's chain.
	Loc acl.Loc
	// Grants are its grant rows (acl.Verdict.Grants when it was stored:
	// person grants and certificates too), in the commit's order.
	Grants []acl.Grant
	// Counts: the commit counts in the store's decision (no invalid row,
	// and its author did not fork at or below its seq).
	Counts bool
}

// Controls is what the store holds of a space's authorization, read
// without its data commits (Store.Controls).
type Controls struct {
	// Commits are the commits that grant, join, certify or revoke, by
	// author then seq.
	Commits []Control
	// Cuts holds the revocation cuts, Forked the authors known to have
	// forked, at their lowest forked seq (as Access).
	Cuts, Forked map[keys.AuthorID]uint64
}

// Controls returns the commits of a space that grant, join, certify or
// revoke (Control), by author then seq, and its cuts and forks, read from
// the store's rows: the grant rows (every stored commit's, counting or
// not), the revoking-commit rows and the invalid rows of those commits
// only. It decodes those commits and no other: what it holds is bounded by
// the space's control commits, not by its data commits (#16).
//
// The revoking-commit rows list a space's revoking commits from its
// genesis on, or from its last full decision. A space installed from a
// snapshot has rows for those stored after its checkpoint's frontier only:
// Controls decodes the commits it holds at or below the frontier (the kept
// ones, every control commit among them, and those filled in since) for
// the others. complete is false for a space with neither (stored before
// those rows, until its next full decision): the caller must then find
// the revoking commits in the commits themselves.
//
// The rows are read one table after another, not from one snapshot: a
// batch applied meanwhile may show in some and not others, as with Access.
func (s *Store) Controls(ctx context.Context, sp keys.SpaceID) (ctl Controls, complete bool, err error) {
	revoking := map[acl.Loc]bool{}
	if _, err := s.get(markKey(sp, markRevoking)); errors.Is(err, pebble.ErrNotFound) {
		// Not listed from the genesis on: a floored space lists those
		// stored after its frontier, and holds below it the kept commits
		// (every control commit) and those filled in since.
		f, err := s.Floor(ctx, sp)
		if err != nil || f == nil {
			return Controls{}, false, err
		}
		if err := s.revokingBelow(ctx, sp, f, revoking); err != nil {
			return Controls{}, false, err
		}
	} else if err != nil {
		return Controls{}, false, err
	}
	forks, err := s.Forks(ctx, sp)
	if err != nil {
		return Controls{}, false, err
	}
	ctl.Forked = map[keys.AuthorID]uint64{}
	for _, f := range forks {
		if cur, ok := ctl.Forked[f.A.Author]; !ok || f.A.Seq < cur {
			ctl.Forked[f.A.Author] = f.A.Seq
		}
	}
	if ctl.Cuts, err = s.cutRows(ctx, sp); err != nil {
		return Controls{}, false, err
	}
	var e err0

	type indexed struct {
		g acl.Grant
		i uint32
	}
	grants := map[acl.Loc][]indexed{}
	for k, v := range s.scan(ctx, spaceKey(tagGrant, sp), false, &e) {
		g, err := decodeGrantRow(k, v)
		if err != nil {
			return Controls{}, false, err
		}
		var i uint32
		if n := len(k); n == 1+3*keys.Size+8+4 {
			i = binary.BigEndian.Uint32(k[n-4:])
		}
		l := acl.Loc{Author: g.Granter, Seq: g.Seq}
		grants[l] = append(grants[l], indexed{g, i})
	}
	if e.err != nil {
		return Controls{}, false, e.err
	}
	pre := spaceKey(tagRevoking, sp)
	for k := range s.scan(ctx, pre, false, &e) {
		if len(k) != len(pre)+keys.Size+8 {
			return Controls{}, false, fmt.Errorf("%w: revoking-commit row %x", ErrCorrupt, k)
		}
		revoking[acl.Loc{Author: keys.AuthorID(k[len(pre):]), Seq: binary.BigEndian.Uint64(k[len(pre)+keys.Size:])}] = true
	}
	if e.err != nil {
		return Controls{}, false, e.err
	}

	locs := make([]acl.Loc, 0, len(grants)+len(revoking))
	for l := range grants {
		locs = append(locs, l)
	}
	for l := range revoking {
		if _, ok := grants[l]; !ok {
			locs = append(locs, l)
		}
	}
	slices.SortFunc(locs, func(a, b acl.Loc) int {
		if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	ctl.Commits = make([]Control, 0, len(locs))
	for _, l := range locs {
		if err := ctx.Err(); err != nil {
			return Controls{}, false, err
		}
		c := Control{Loc: l}
		gs := grants[l]
		// Stable: older rows have no index (0 each), and keep the rows' order.
		slices.SortStableFunc(gs, func(a, b indexed) int { return cmp.Compare(a.i, b.i) })
		for _, g := range gs {
			c.Grants = append(c.Grants, g.g)
		}
		if c.C, err = s.heldCommit(sp, l); err != nil {
			return Controls{}, false, err
		}
		switch _, err := s.get(invalidKey(sp, l.Author, l.Seq)); {
		case err == nil: // an invalid row: it does not count
		case errors.Is(err, pebble.ErrNotFound):
			fs, forked := ctl.Forked[l.Author]
			c.Counts = !forked || l.Seq < fs
		default:
			return Controls{}, false, err
		}
		ctl.Commits = append(ctl.Commits, c)
	}
	return ctl, true, nil
}

// revokingBelow adds to into the revoking commits held at or below
// floor f's frontier.
func (s *Store) revokingBelow(ctx context.Context, sp keys.SpaceID, f *Floor, into map[acl.Loc]bool) error {
	var e err0
	for _, h := range f.Frontier {
		for k, v := range s.scanRange(ctx, commitKey(sp, h.Author, 1), commitKey(sp, h.Author, h.Seq+1), false, &e) {
			sc, err := s.readCommitRow(k, v)
			if err != nil {
				return err
			}
			c, err := commit.Decode(sc.Bytes)
			if err != nil {
				return fmt.Errorf("%w: commit %s/%d: %v", ErrCorrupt, sc.Author.Short(), sc.Seq, err)
			}
			if revoking(c) {
				into[acl.Loc{Author: c.Author, Seq: c.Seq}] = true
			}
		}
	}
	return e.err
}

// heldCommit decodes the main-chain commit at l, nil if it is not held.
func (s *Store) heldCommit(sp keys.SpaceID, l acl.Loc) (*commit.Commit, error) {
	_, b, err := s.getCommit(commitKey(sp, l.Author, l.Seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := commit.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: control commit %s/%d: %v", ErrCorrupt, l.Author.Short(), l.Seq, err)
	}
	return c, nil
}
