package reconcile

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Budget bounds the bytes of commits held waiting for their causal past
// per space, summed over every session holding some (a node shares one
// Budget among its sessions). It is safe for concurrent use.
type Budget struct {
	perSpace int64
	mu       sync.Mutex
	used     map[keys.SpaceID]int64 // guarded by mu
}

// NewBudget returns a budget of perSpace bytes per space.
func NewBudget(perSpace int64) *Budget {
	return &Budget{perSpace: perSpace, used: map[keys.SpaceID]int64{}}
}

// take reserves n bytes of sp, or reports false if they do not fit.
func (b *Budget) take(sp keys.SpaceID, n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used[sp]+n > b.perSpace {
		return false
	}
	b.used[sp] += n
	return true
}

// give releases n bytes of sp.
func (b *Budget) give(sp keys.SpaceID, n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	if b.used[sp] -= n; b.used[sp] <= 0 {
		delete(b.used, sp)
	}
	b.mu.Unlock()
}

// Used returns the bytes held in sp.
func (b *Budget) Used(sp keys.SpaceID) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used[sp]
}

// heldSize is what a held commit is counted as: its bytes and an estimate
// of its decoded form.
func heldSize(c *commit.Commit) int64 {
	return int64(len(c.Bytes()) + 256 + 96*len(c.Ops) + 32*len(c.Deps))
}

// Caps of the sets a pendingSet keeps besides the commits.
const (
	maxAsked   = 16 << 10
	maxDropped = 16 << 10
)

// pendingSet is what one session holds of one space waiting for its
// causal past. Only the apply goroutine uses it.
type pendingSet struct {
	cs    []*commit.Commit // held, in arrival order
	ids   map[keys.CommitID]bool
	bytes int64 // heldSize of cs, taken from the session's bound and the Budget
	// future is when the earliest commit held for being dated in the
	// future may be offered again (zero: none held).
	future time.Time
	// asked holds the IDs asked for (Want) since the last progress: each
	// is asked once, so Want rounds end.
	asked map[keys.CommitID]bool
	// granted caches the authors the store grants something.
	granted map[keys.AuthorID]bool
	// dropped holds commits the store dropped (past a cut, over the bound)
	// and those waiting for them: they can never be applied here, through
	// no fault of the peer, and are not held.
	dropped map[keys.CommitID]bool
	// overflowed: commits were not held for lack of room; the peer must be
	// told our heads on the next progress to send them again.
	overflowed bool
	// stallSince is when commits started waiting with no progress since
	// (zero: none wait, or only for the clock).
	stallSince time.Time
}

// candidate is a commit the store answered Pending for.
type candidate struct {
	c      *commit.Commit
	fresh  bool // it came in this frame, unasked (was not held before)
	future bool // held for being dated in the future
}

// hold decides which candidates are held (apply goroutine). A commit is
// held only if its author could ever be allowed to write: the store holds
// a grant for it, or a held commit grants it (an admin's grant, or its own
// self-grant through an invite the store or a held commit grants). Others
// are not held, and count against the peer (MaxUngrantedBytes). Commits
// waiting for one the store dropped are let go. The rest is held oldest
// first within the session's bound and the space's Budget.
func (s *Session) hold(ctx context.Context, ps *peerSpace, cands []candidate) error {
	w := &ps.wait
	// Release what was held: it is taken again below.
	s.pendingBytes -= w.bytes
	s.cfg.Budget.give(ps.id, w.bytes)
	w.cs, w.ids, w.bytes = nil, nil, 0

	vouched, err := s.vouched(ctx, ps, cands)
	if err != nil {
		return err
	}
	// Let go of commits waiting for a dropped one, transitively.
	for changed := len(w.dropped) > 0; changed; {
		changed = false
		for _, cd := range cands {
			if w.dropped[cd.c.ID] {
				continue
			}
			gone := cd.c.Seq > 1 && w.dropped[cd.c.Prev]
			for _, d := range cd.c.Deps {
				gone = gone || w.dropped[d]
			}
			if gone && len(w.dropped) < maxDropped {
				w.dropped[cd.c.ID] = true
				changed = true
			}
		}
	}
	var ungranted int64
	for _, cd := range cands {
		c := cd.c
		switch {
		case w.dropped[c.ID] || w.ids[c.ID]:
			continue
		case !vouched[c.Author]:
			if cd.fresh {
				ungranted += int64(len(c.Bytes()))
			}
			continue
		}
		n := heldSize(c)
		if s.pendingBytes+n > s.cfg.MaxPendingBytes || !s.cfg.Budget.take(ps.id, n) {
			w.overflowed = true
			continue
		}
		s.pendingBytes += n
		w.bytes += n
		w.cs = append(w.cs, c)
		if w.ids == nil {
			w.ids = map[keys.CommitID]bool{}
		}
		w.ids[c.ID] = true
	}
	ps.nPending.Store(int64(len(w.cs)))
	if s.ungranted += ungranted; s.ungranted > s.cfg.MaxUngrantedBytes {
		return ErrUngranted
	}
	return nil
}

// vouched returns which authors of cands could ever be allowed to write.
func (s *Session) vouched(ctx context.Context, ps *peerSpace, cands []candidate) (map[keys.AuthorID]bool, error) {
	w := &ps.wait
	if w.granted == nil {
		w.granted = map[keys.AuthorID]bool{}
	}
	out := map[keys.AuthorID]bool{}
	check := func(a keys.AuthorID) error {
		if _, done := out[a]; done {
			return nil
		}
		if w.granted[a] {
			out[a] = true
			return nil
		}
		ok, err := s.local.Granted(ctx, ps.id, a)
		if err != nil {
			return err
		}
		if ok {
			w.granted[a] = true
		}
		out[a] = ok
		return nil
	}
	// A held grant vouches for its subject if its granter (or, for a
	// self-grant through an invite, the invite key) is vouched for.
	type edge struct{ subject, by keys.AuthorID }
	var edges []edge
	for _, cd := range cands {
		if err := check(cd.c.Author); err != nil {
			return nil, err
		}
		for _, o := range cd.c.Ops {
			if o.Kind != commit.KindGrant {
				continue
			}
			g, err := commit.DecodeGrant(o)
			if err != nil {
				continue
			}
			by := cd.c.Author
			if !g.Invite.IsZero() {
				if g.Subject != cd.c.Author || !g.VerifyInvite(ps.id) {
					continue
				}
				by = g.Invite
			}
			if err := check(by); err != nil {
				return nil, err
			}
			edges = append(edges, edge{g.Subject, by})
		}
	}
	for changed := true; changed; {
		changed = false
		for _, e := range edges {
			if out[e.by] && !out[e.subject] {
				out[e.subject] = true
				changed = true
			}
		}
	}
	return out, nil
}

// wantDeps asks the peer for what held commits miss and it was not asked
// for since the last progress: deps and prevs we do not know. (A prev can
// be missing only when the peer withholds it, or holds it off its main
// chain: its author forked or was cut; the answer brings its chain.)
func (s *Session) wantDeps(ctx context.Context, ps *peerSpace) error {
	w := &ps.wait
	var want []keys.CommitID
	ask := func(id keys.CommitID) {
		if w.ids[id] || w.asked[id] || len(w.asked) >= maxAsked {
			return
		}
		if _, err := s.local.CommitByID(ctx, ps.id, id); !errors.Is(err, store.ErrNotFound) {
			return
		}
		if w.asked == nil {
			w.asked = map[keys.CommitID]bool{}
		}
		w.asked[id] = true
		want = append(want, id)
	}
	for _, c := range w.cs {
		for _, d := range c.Deps {
			ask(d)
		}
		if c.Seq > 1 {
			ask(c.Prev)
		}
	}
	if len(want) == 0 {
		return nil
	}
	s.mu.Lock()
	ps.want = append(ps.want, want...) // the writer may not have sent the last ones yet
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
	return nil
}

// releasePending lets go of every held commit (the session ended).
func (s *Session) releasePending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.byDisc {
		s.cfg.Budget.give(ps.id, ps.wait.bytes)
		s.pendingBytes -= ps.wait.bytes
		ps.wait = pendingSet{}
		ps.nPending.Store(0)
	}
}
