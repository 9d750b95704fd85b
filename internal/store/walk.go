package store

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// walkCursor is an author's next commit in a walk, with the places of its
// main-chain deps.
type walkCursor struct {
	author keys.AuthorID
	last   uint64         // the author's head
	next   *commit.Commit // nil once every commit up to last is visited
	deps   []loc

	ahead    [][]byte // the rows read ahead, each its key then its value: aheadSeq's first
	aheadSeq uint64
}

// walk visits the main-chain commits of st's space in acl.Evaluate's
// decision order: the least ready commit by (time, author, ID) first, a
// commit being ready once its prev and its main-chain deps are visited.
// It reads them from the store and holds one commit per author (and
// the rows of the next few, walkLoad), the
// authors waiting for a dep by the author they wait for, and per author
// the seq visited. visit gets each commit with its causal past (pastOf),
// valid until visit returns (the author's knowledge then moves past it).
func (a *applier) walk(ctx context.Context, bc *batch, st *spaceState, visit func(c *commit.Commit, p *past) error) error {
	sp := st.id
	heads, err := a.s.Heads(ctx, sp)
	if err != nil {
		return err
	}
	done := map[keys.AuthorID]uint64{}
	waiting := map[keys.AuthorID][]*walkCursor{}
	ready := &walkHeap{}
	// queue pushes cur if its next commit is ready, or makes it wait for
	// the first dep not visited.
	queue := func(cur *walkCursor) {
		if cur.next == nil {
			return
		}
		for _, l := range cur.deps {
			if done[l.author] < l.seq {
				waiting[l.author] = append(waiting[l.author], cur)
				return
			}
		}
		heap.Push(ready, cur)
	}
	for _, h := range heads {
		cur := &walkCursor{author: h.Author, last: h.Seq}
		if err := a.walkLoad(ctx, bc, st, cur, 1); err != nil {
			return err
		}
		queue(cur)
	}
	for ready.Len() > 0 {
		cur := heap.Pop(ready).(*walkCursor)
		c := cur.next
		p, err := a.pastOf(bc, st, c)
		if err != nil {
			return err
		}
		if err := visit(c, p); err != nil {
			return err
		}
		st.advance(c, p)
		a.checkBudget(st, c.Author)
		done[c.Author] = c.Seq
		if err := a.walkLoad(ctx, bc, st, cur, c.Seq+1); err != nil {
			return err
		}
		queue(cur)
		ws := waiting[c.Author]
		delete(waiting, c.Author)
		for _, w := range ws {
			queue(w)
		}
	}
	for _, ws := range waiting {
		for _, w := range ws {
			return fmt.Errorf("%w: walk: %s's commit %d waits for a dep never visited", ErrCorrupt, w.author.Short(), w.next.Seq)
		}
	}
	return nil
}

// walkAhead is how many commits of an author a walk reads in one scan.
const walkAhead = 64

// walkLoad reads cur's commit seq into cur.next (nil past its head) and
// locates its main-chain deps. It reads the author's rows walkAhead at a
// time (one seek, not one per commit) and keeps them encoded.
func (a *applier) walkLoad(ctx context.Context, bc *batch, st *spaceState, cur *walkCursor, seq uint64) error {
	sp := st.id
	cur.next, cur.deps = nil, cur.deps[:0]
	if seq > cur.last {
		return nil
	}
	if len(cur.ahead) == 0 || cur.aheadSeq != seq {
		cur.ahead, cur.aheadSeq = cur.ahead[:0], seq
		var e err0
		for k, v := range a.s.scanRange(ctx, commitKey(sp, cur.author, seq), commitKey(sp, cur.author, min(seq+walkAhead, cur.last+1)), false, &e) {
			if len(k) != recordKeySize {
				return fmt.Errorf("%w: walk: commit row key %x", ErrCorrupt, k)
			}
			cur.ahead = append(cur.ahead, append(bytes.Clone(k), v...))
		}
		if e.err != nil {
			return e.err
		}
		if len(cur.ahead) == 0 {
			return fmt.Errorf("%w: walk: %s's commit %d is not held", ErrCorrupt, cur.author.Short(), seq)
		}
	}
	kv := cur.ahead[0]
	cur.ahead, cur.aheadSeq = cur.ahead[1:], seq+1
	_, b, err := a.s.commitRow(kv[:recordKeySize], kv[recordKeySize:])
	if err != nil {
		return err
	}
	c, err := commit.Decode(b)
	if err != nil {
		return fmt.Errorf("%w: walk: %v", ErrCorrupt, err)
	}
	if c.Seq != seq {
		return fmt.Errorf("%w: walk: %s's commit %d is missing", ErrCorrupt, cur.author.Short(), seq)
	}
	for _, id := range c.Deps {
		l, ok, err := a.mainDep(bc, st, id)
		if err != nil {
			return err
		}
		if ok {
			cur.deps = append(cur.deps, l)
		}
	}
	cur.next = c
	return nil
}

// mainDep returns the place of a main-chain dep, ok false if it is not
// held or off-chain (not waited for, as in acl.Evaluate). Without forks
// every commit held is on the main chain, and the applier's cache of
// places answers first (pastOf then finds the place there too).
func (a *applier) mainDep(bc *batch, st *spaceState, id keys.CommitID) (loc, bool, error) {
	if len(st.forked) == 0 {
		return a.locateDep(bc, st, id)
	}
	v, err := a.s.get(spaceKey(tagCommitID, st.id, id[:]))
	if errors.Is(err, pebble.ErrNotFound) {
		return loc{}, false, nil
	}
	if err != nil {
		return loc{}, false, err
	}
	l, _, err := decodeLocRow(v)
	return l, err == nil, err
}

// walkHeap orders cursors by their next commit's (time, author, ID), as
// acl's decision order takes ready commits.
type walkHeap []*walkCursor

func (h walkHeap) Len() int { return len(h) }
func (h walkHeap) Less(i, j int) bool {
	a, b := h[i].next, h[j].next
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}
func (h walkHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *walkHeap) Push(x any)   { *h = append(*h, x.(*walkCursor)) }
func (h *walkHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// errWhole stops decideStreamed where a space must be decided whole.
var errWhole = errors.New("store: decided whole")

// decideStreamed decides st's space as acl.Evaluate does, in two levels
// (acl.EvaluateControl): a walk in decision order keeps the control
// commits (not acl.DataOnly) with their causal pasts, they are decided in
// memory, and a second walk decides each data-only commit (acl.DecideData).
// It holds the control commits, one commit per author and the data
// commits that do not count, never the space's commits. It returns the
// control commits (slim), and ok false where the two levels are not
// Evaluate (a fork, or a commit declaring app rules): the caller decides
// with Evaluate then.
func (a *applier) decideStreamed(ctx context.Context, bc *batch, st *spaceState) (d *acl.Decision, control []*commit.Commit, ok bool, err error) {
	if len(st.forked) > 0 {
		return nil, nil, false, nil
	}
	var placed []acl.Placed
	err = a.walk(ctx, bc, st, func(c *commit.Commit, p *past) error {
		if acl.DataOnly(c) {
			return nil
		}
		s := slim(c, false)
		if s.rules {
			return errWhole
		}
		placed = append(placed, acl.Placed{C: s.c, Past: p.vector()})
		control = append(control, s.c)
		return nil
	})
	if errors.Is(err, errWhole) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	d = acl.EvaluateControl(st.id, placed, st.forked)
	placed = nil
	valid := d.State(st.id)
	// A revocation may void many commits of an author past its cut, all
	// for the same reason: they share it (one error, not one a commit).
	cutWhy := map[keys.AuthorID]error{}
	err = a.walk(ctx, bc, st, func(c *commit.Commit, p *past) error {
		if !acl.DataOnly(c) {
			return nil
		}
		l := acl.Loc{Author: c.Author, Seq: c.Seq}
		cut, isCut := d.Cuts[c.Author]
		if why := cutWhy[c.Author]; why != nil && isCut && c.Seq > cut {
			d.Invalid[l] = why
			return nil
		}
		seen := func(au keys.AuthorID, seq uint64) bool {
			if au == c.Author {
				return seq < c.Seq
			}
			return p.saw(au, seq)
		}
		if why := acl.DecideData(valid, d, c, seen, st.forked); why != nil {
			d.Invalid[l] = why
			if isCut && c.Seq > cut { // DecideData's reason then: the cut
				cutWhy[c.Author] = why
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	return d, control, true, nil
}

// vector returns the causal past p answers for, but its own author's
// commits: the highest seq of every other author.
func (p *past) vector() map[keys.AuthorID]uint64 {
	out := map[keys.AuthorID]uint64{}
	for i, v := range p.base {
		if v > 0 && p.st.authors[i] != p.author {
			out[p.st.authors[i]] = v
		}
	}
	for _, g := range p.gains {
		if au := p.st.authors[g.num]; au != p.author {
			out[au] = max(out[au], g.seq)
		}
	}
	return out
}
