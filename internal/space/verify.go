package space

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// ErrInvalidLog is wrapped by VerifyLog's error for a bad stored commit.
var ErrInvalidLog = errors.New("invalid commit in log")

// Report summarizes a verified log.
type Report struct {
	Commits int
	Ops     int
	Authors int
	Forks   int
}

// VerifyLog re-checks every stored commit of a space: that its bytes decode
// strictly, that its ID is the one it was stored under, its signature, its
// seq and prev link, its time against its predecessor, that each author's
// head is its last commit, and, replaying the commits in causal order, that
// every commit was allowed by the grants in its causal past (package acl,
// the rule the store applied), and, deciding the whole log again with
// revocations and invite uses (acl.Evaluate), that the store counts
// exactly the commits that count. The error names the first bad commit
// (one whose row or body does not read is bad too).
//
// It holds the space's commit headers in memory. The log may grow while
// it is read (a running node stores commits); if a check fails and the
// heads changed meanwhile, it verifies again (at most three times).
func VerifyLog(ctx context.Context, st *store.Store, sp keys.SpaceID) (Report, error) {
	for try := 1; ; try++ {
		before, err := st.Heads(ctx, sp)
		if err != nil {
			return Report{}, err
		}
		r, err := verifyLog(ctx, st, sp)
		if err == nil || !errors.Is(err, ErrInvalidLog) || try == 3 {
			return r, err
		}
		after, herr := st.Heads(ctx, sp)
		if herr != nil || slices.Equal(before, after) {
			return r, err
		}
	}
}

func verifyLog(ctx context.Context, st *store.Store, sp keys.SpaceID) (Report, error) {
	var r Report
	type tip struct {
		seq  uint64
		id   keys.CommitID
		time commit.HLC
	}
	tips := map[keys.AuthorID]tip{}
	byAuthor := map[keys.AuthorID][]*commit.Commit{}
	bad := func(sc store.StoredCommit, format string, args ...any) error {
		return fmt.Errorf("%w: %s seq %d (%s): %s", ErrInvalidLog, sc.Author, sc.Seq, sc.ID, fmt.Sprintf(format, args...))
	}
	for sc, err := range st.AllCommits(ctx, sp) {
		if errors.Is(err, store.ErrCorrupt) && sc.Seq > 0 {
			// Its row or its record in the body log does not read.
			return r, bad(sc, "%v", err)
		}
		if err != nil {
			return r, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return r, bad(sc, "%v", err)
		}
		if c.ID != sc.ID || c.Author != sc.Author || c.Seq != sc.Seq || c.Space != sp {
			return r, bad(sc, "stored as %s but its bytes are %s of author %s in %s", sc.ID.Short(), c.ID.Short(), c.Author.Short(), c.Space)
		}
		if err := c.VerifySig(); err != nil {
			return r, bad(sc, "%v", err)
		}
		t := tips[c.Author]
		if c.Seq != t.seq+1 {
			return r, bad(sc, "follows seq %d: the log has a gap", t.seq)
		}
		if c.Prev != t.id {
			return r, bad(sc, "prev is %s, but seq %d is %s", c.Prev.Short(), t.seq, t.id.Short())
		}
		if t.seq > 0 && !t.time.Less(c.Time) {
			return r, bad(sc, "time %s is not after its predecessor's %s", c.Time, t.time)
		}
		tips[c.Author] = tip{c.Seq, c.ID, c.Time}
		byAuthor[c.Author] = append(byAuthor[c.Author], c)
		r.Commits++
		r.Ops += len(c.Ops)
	}
	if _, ok := tips[keys.AuthorID(sp)]; !ok && r.Commits > 0 {
		return r, fmt.Errorf("%w: the space's genesis commit is missing", ErrInvalidLog)
	}
	off, err := st.OffChain(ctx, sp)
	if err != nil {
		return r, err
	}
	if err := verifyGrants(ctx, st, sp, byAuthor, off); err != nil {
		return r, err
	}
	heads, err := st.Heads(ctx, sp)
	if err != nil {
		return r, err
	}
	for _, h := range heads {
		if t := tips[h.Author]; t.seq != h.Seq || t.id != h.ID {
			return r, fmt.Errorf("%w: head of %s says seq %d (%s), the log ends at seq %d", ErrInvalidLog, h.Author, h.Seq, h.ID.Short(), t.seq)
		}
	}
	r.Authors = len(tips)
	forks, err := st.Forks(ctx, sp)
	if err != nil {
		return r, fmt.Errorf("%w: fork evidence: %v", ErrInvalidLog, err)
	}
	r.Forks = len(forks)
	if err := verifyDecisions(ctx, st, sp, byAuthor, forks, off); err != nil {
		return r, err
	}
	return r, nil
}

// verifyDecisions decides the whole log again (acl.EvaluateForked, off
// the commits held off their author's main chain) and checks that the
// store counts exactly the commits that decision counts.
func verifyDecisions(ctx context.Context, st *store.Store, sp keys.SpaceID, byAuthor map[keys.AuthorID][]*commit.Commit, forks []commit.Fork, off map[keys.CommitID]keys.AuthorID) error {
	var all []*commit.Commit
	for _, cs := range byAuthor {
		all = append(all, cs...)
	}
	forked := map[keys.AuthorID]uint64{}
	for _, f := range forks {
		if cur, ok := forked[f.A.Author]; !ok || f.A.Seq < cur {
			forked[f.A.Author] = f.A.Seq
		}
	}
	d := acl.EvaluateForked(sp, all, forked, off)
	voided, err := st.Voided(ctx, sp)
	if err != nil {
		return err
	}
	for l, why := range d.Invalid {
		if _, ok := voided[l]; !ok && !errors.Is(why, acl.ErrForked) {
			return fmt.Errorf("%w: %s seq %d counts in the store, but must not: %v", ErrInvalidLog, l.Author, l.Seq, why)
		}
	}
	for l := range voided {
		if _, ok := d.Invalid[l]; !ok {
			return fmt.Errorf("%w: %s seq %d does not count in the store, but must", ErrInvalidLog, l.Author, l.Seq)
		}
	}
	return nil
}

// verifyGrants replays the commits in causal order, computing each one's
// version vector from its prev and deps, and checks its author's grant.
// Commits of forked authors from their fork on do not count, as in the
// view. A dep off the main chain (off: fork evidence, a forked author's
// other branch) counts as its author's commit before its fork seq, as in
// the store's decision (acl.EvaluateForked).
func verifyGrants(ctx context.Context, st *store.Store, sp keys.SpaceID, byAuthor map[keys.AuthorID][]*commit.Commit, off map[keys.CommitID]keys.AuthorID) error {
	forked := map[keys.AuthorID]uint64{}
	forks, err := st.Forks(ctx, sp)
	if err != nil {
		return fmt.Errorf("%w: fork evidence: %v", ErrInvalidLog, err)
	}
	for _, f := range forks {
		if s, ok := forked[f.A.Author]; !ok || f.A.Seq < s {
			forked[f.A.Author] = f.A.Seq
		}
	}
	locs := map[keys.CommitID]*commit.Commit{}
	for _, cs := range byAuthor {
		for _, c := range cs {
			locs[c.ID] = c
		}
	}
	vvs := map[keys.CommitID]view.VV{}
	state := acl.New(sp)
	next := map[keys.AuthorID]int{}
	done := 0
	total := len(locs)
	for progress := true; progress; {
		progress = false
		for au, cs := range byAuthor {
			for next[au] < len(cs) {
				c := cs[next[au]]
				vv := view.VV{}
				ready := true
				if c.Seq > 1 {
					vv.Merge(vvs[c.Prev])
				}
				for _, d := range c.Deps {
					dc, ok := locs[d]
					if au, isOff := off[d]; !ok && isOff && forked[au] > 1 && len(byAuthor[au]) >= int(forked[au]-1) {
						dc, ok = byAuthor[au][forked[au]-2], true // its author's commit before the fork
					}
					if !ok {
						continue // not held
					}
					dv, ok := vvs[dc.ID]
					if !ok {
						ready = false
						break
					}
					vv.Merge(dv)
				}
				if !ready {
					break
				}
				vv[c.Author] = c.Seq
				vvs[c.ID] = vv
				if fs, isForked := forked[au]; !isForked || c.Seq < fs {
					v, err := state.Check(c, func(a keys.AuthorID, seq uint64) bool {
						if a == c.Author {
							return seq < c.Seq
						}
						return vv.Saw(a, seq)
					})
					if err != nil {
						return fmt.Errorf("%w: %s seq %d (%s): no grant for it in its causal past: %v", ErrInvalidLog, c.Author, c.Seq, c.ID, err)
					}
					for _, g := range v.Grants {
						state.Add(g)
					}
				}
				next[au]++
				done++
				progress = true
			}
		}
	}
	if done != total {
		return fmt.Errorf("%w: %d commits depend on commits the log does not hold", ErrInvalidLog, total-done)
	}
	return nil
}
