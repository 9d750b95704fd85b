package space

import (
	"context"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
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
// seq and prev link, its time against its predecessor, that its author had a
// grant from the space key, and that each author's head is its last commit.
// The error names the first bad commit.
func VerifyLog(ctx context.Context, st *store.Store, sp keys.SpaceID) (Report, error) {
	var r Report
	grants := map[keys.AuthorID]commit.Role{}
	type tip struct {
		seq  uint64
		id   keys.CommitID
		time commit.HLC
	}
	tips := map[keys.AuthorID]tip{}
	var pending []*commit.Commit // non-space-key commits, checked once all grants are known

	bad := func(sc store.StoredCommit, format string, args ...any) error {
		return fmt.Errorf("%w: %s seq %d (%s): %s", ErrInvalidLog, sc.Author, sc.Seq, sc.ID, fmt.Sprintf(format, args...))
	}
	for sc, err := range st.AllCommits(ctx, sp) {
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
		r.Commits++
		r.Ops += len(c.Ops)
		if c.Author == keys.AuthorID(sp) {
			for _, o := range c.Ops {
				if o.Kind == commit.KindGrant {
					if g, err := commit.DecodeGrant(o); err == nil && g.Role > grants[g.Subject] {
						grants[g.Subject] = g.Role
					}
				}
			}
		} else {
			pending = append(pending, c)
		}
	}
	if _, ok := tips[keys.AuthorID(sp)]; !ok && r.Commits > 0 {
		return r, fmt.Errorf("%w: the space's genesis commit is missing", ErrInvalidLog)
	}
	for _, c := range pending {
		if g := grants[c.Author]; g != commit.RoleWrite && g != commit.RoleAdmin {
			return r, fmt.Errorf("%w: %s seq %d (%s): author has no write grant from the space key", ErrInvalidLog, c.Author, c.Seq, c.ID)
		}
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
	return r, nil
}
