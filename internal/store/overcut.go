package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// What a store keeps of an author past its cut: the commits of a revoked
// author after its accepted cut, and of a forked author from its fork on
// (main chain, fork evidence and the other branch alike). None of them
// counts, but they are kept because their senders may be honest and other
// commits may depend on them; without a bound, a revoked or forked key
// could grow every store without end. Past the bound a commit is Dropped:
// not stored. The first evidence of a fork is always kept, so every store
// can learn of a fork whatever it already holds.
const (
	MaxOverCut      = 1024     // commits per author and space
	MaxOverCutBytes = 16 << 20 // bytes per author and space
)

// ErrOverCut is wrapped by the error of a Dropped commit.
var ErrOverCut = errors.New("commit not kept: its author is revoked or forked below it, and this node keeps no more of its commits past that point")

// overCount is what a store holds of one author past one cut. Counting is
// exact for committed rows and may miss commits stored earlier in the same
// group commit when the cut moves within it.
type overCount struct {
	cut   uint64 // the last seq of the author that can count
	n     int
	bytes int64
}

// lastCounting returns the last seq of au that can still count (its
// revocation cut, or the seq before its fork, whichever is lower), and
// false if au has neither.
func (st *spaceState) lastCounting(au keys.AuthorID) (uint64, bool) {
	cut, ok := st.cuts[au]
	if fs, forked := st.forked[au]; forked && (!ok || fs-1 < cut) {
		cut, ok = fs-1, true
	}
	return cut, ok
}

// sideways reports whether c, if new, would be kept off the main chain:
// as evidence that its author forked (or a duplicate), or on a forked
// author's other branch.
func (st *spaceState) sideways(c *commit.Commit) bool {
	h := st.heads[c.Author]
	if c.Seq <= h.Seq {
		return true
	}
	fs, forked := st.forked[c.Author]
	return forked && c.Seq > fs && (c.Seq > h.Seq+1 || c.Prev != h.ID)
}

// firstEvidence reports whether c, if new, would be the first (lowest)
// evidence that its author forked.
func (st *spaceState) firstEvidence(c *commit.Commit) bool {
	if c.Seq > st.heads[c.Author].Seq {
		return false
	}
	fs, forked := st.forked[c.Author]
	return !forked || c.Seq < fs
}

// applyBounded is applyOne with two rules sync needs.
//
// A new commit past its author's cut is Dropped once the store keeps
// MaxOverCut commits or MaxOverCutBytes of that author past it.
//
// A commit kept off the main chain (evidence of a fork, or a forked
// author's other branch) waits, like a main-chain commit, until its prev
// and deps are known: every commit a store holds then has its causal past
// held, so a peer can always answer a Want for what a commit it sent
// misses, and a commit held off-chain here can be applied where its
// branch is the main chain. (Before, a branch kept off-chain without its
// deps could take dependents that no store holding it as its main chain
// ever could; a forked author whose second commit names deps nobody
// holds now only keeps that commit out of every store, where it is
// harmless.)
func (a *applier) applyBounded(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	if c.Space == st.id && st.floor != nil && c.Seq <= st.floor[c.Author] {
		// A hole below the floor needs none of its causal past: the
		// rows of S(F) stand for it (floor.go).
		if _, err := a.idAt(bc, st.id, c.Author, c.Seq); errors.Is(err, ErrBelowFloor) {
			return a.applyBelowFloor(bc, st, c)
		}
	}
	if c.Space == st.id && st.sideways(c) {
		known, err := a.known(bc, st.id, c.ID)
		if err != nil {
			return Outcome{}, err
		}
		need := c.Deps
		if c.Seq > 1 {
			need = append([]keys.CommitID{c.Prev}, need...)
		}
		for _, d := range need {
			if known {
				break
			}
			ok, err := a.known(bc, st.id, d)
			if err != nil {
				return Outcome{}, err
			}
			if !ok {
				return pending("%s (off its author's main chain) needs %s", c, d.Short()), nil
			}
		}
	}
	if c.Space == st.id {
		if cut, ok := st.lastCounting(c.Author); ok && c.Seq > cut && !st.firstEvidence(c) {
			oc, err := a.overCounted(bc, st, c.Author, cut)
			if err != nil {
				return Outcome{}, err
			}
			if oc.n >= MaxOverCut || oc.bytes+int64(len(c.Bytes())) > MaxOverCutBytes {
				known, err := a.known(bc, st.id, c.ID)
				if err != nil {
					return Outcome{}, err
				}
				if !known {
					return Outcome{Status: Dropped, Err: fmt.Errorf("%w: %s (%d commits, %d bytes held past seq %d)", ErrOverCut, c, oc.n, oc.bytes, cut)}, nil
				}
			}
		}
	}
	o, err := a.applyOne(bc, st, c)
	if err != nil {
		return o, err
	}
	switch o.Status {
	case Applied, Forked, Revoked:
		if cut, ok := st.lastCounting(c.Author); ok && c.Seq > cut {
			if oc := st.over[c.Author]; oc != nil && oc.cut == cut {
				oc.n++
				oc.bytes += int64(len(c.Bytes()))
			} else if _, err := a.overCounted(bc, st, c.Author, cut); err != nil { // counts c, which is in the batch
				return Outcome{}, err
			}
		}
	}
	return o, nil
}

// overCounted returns what the store holds of au past cut, counting it on
// first need or when the cut moved. Counting stops at the bound.
func (a *applier) overCounted(bc *batch, st *spaceState, au keys.AuthorID, cut uint64) (*overCount, error) {
	if oc := st.over[au]; oc != nil && oc.cut == cut {
		return oc, nil
	}
	oc := &overCount{cut: cut}
	full := func() bool { return oc.n >= MaxOverCut || oc.bytes >= MaxOverCutBytes }
	ctx := context.Background()
	var e err0
	for _, v := range a.s.scanRange(ctx, commitKey(st.id, au, cut+1), prefixEnd(spaceKey(tagCommit, st.id, au[:])), false, &e) {
		cv, err := decodeCommitValue(v)
		if err != nil {
			return nil, err
		}
		oc.n++
		oc.bytes += int64(cv.bodyLen())
		if full() {
			break
		}
	}
	for _, v := range a.s.scan(ctx, spaceKey(tagOffchain, st.id), false, &e) {
		if full() {
			break
		}
		if len(v) < keys.Size+8 {
			return nil, fmt.Errorf("%w: off-chain row", ErrCorrupt)
		}
		if keys.AuthorID(v[:keys.Size]) == au && binary.BigEndian.Uint64(v[keys.Size:]) > cut {
			oc.n++
			oc.bytes += int64(len(v) - keys.Size - 8)
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	// Rows of this group commit are not readable yet: count them from the
	// batch's own records.
	for k, c := range bc.byLoc {
		if k.sp == st.id && k.author == au && k.seq > cut {
			oc.n++
			oc.bytes += int64(len(c.Bytes()))
		}
	}
	for id, l := range bc.offIDs {
		if l.author == au && l.seq > cut {
			oc.n++
			for _, c := range bc.stored {
				if c.ID == id {
					oc.bytes += int64(len(c.Bytes()))
				}
			}
		}
	}
	if st.over == nil {
		st.over = map[keys.AuthorID]*overCount{}
	}
	st.over[au] = oc
	return oc, nil
}

// forkSeqs returns, per author (under the author prefix, nil: all), the
// lowest seq at which the store holds evidence that it forked.
func (s *Store) forkSeqs(ctx context.Context, sp keys.SpaceID, author []byte) (map[keys.AuthorID]uint64, error) {
	var e err0
	out := map[keys.AuthorID]uint64{}
	for k := range s.scan(ctx, spaceKey(tagFork, sp, author), false, &e) {
		if len(k) != 1+2*keys.Size+8+keys.Size {
			return nil, fmt.Errorf("%w: fork row", ErrCorrupt)
		}
		au := keys.AuthorID(k[1+keys.Size:])
		seq := binary.BigEndian.Uint64(k[1+2*keys.Size:])
		if cur, ok := out[au]; !ok || seq < cur {
			out[au] = seq
		}
	}
	return out, e.err
}

// Granted reports whether author may ever write in a space as far as this
// store knows: it is the space key, or a stored commit grants it a role
// (whether or not that grant still counts). Sync asks it before holding
// commits whose causal past is missing.
func (s *Store) Granted(ctx context.Context, sp keys.SpaceID, author keys.AuthorID) (bool, error) {
	if author == keys.AuthorID(sp) {
		return true, nil
	}
	var e err0
	for range s.scan(ctx, spaceKey(tagGrant, sp, author[:]), false, &e) {
		return true, nil
	}
	return false, e.err
}
