package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Deepening a floored space: fetching the history below its floor until
// it holds every author's chain from seq 1, then dropping the floor and
// deciding the space again from everything (docs/design.md, "Deepening a
// floored store"). The commits arrive by ordinary sync: the node announces
// HistoryHeads instead of its heads, so a full replica sends each author's
// chain from the first commit not held; applyBelowFloor stores them
// (Filled); Unfloor checks the chains and ends the floor.

// HistoryHeads returns the heads a floored space announces to fetch the
// history below its floor: for each author of the floor's frontier, its
// last commit held without a gap from seq 1 (the author is left out when
// seq 1 is not held), or its sync head once that reaches the floor; for
// the others, the sync head. floored is false for a space that is not
// floored. It reads every held commit row of the authors below the
// floor: it is meant once per Have.
func (s *Store) HistoryHeads(ctx context.Context, sp keys.SpaceID) (heads []Head, floored bool, err error) {
	fl, err := s.Floor(ctx, sp)
	if err != nil || fl == nil {
		return nil, false, err
	}
	if heads, err = s.SyncHeads(ctx, sp); err != nil {
		return nil, false, err
	}
	floor := fl.floorSeqs()
	out := make([]Head, 0, len(heads))
	for _, h := range heads {
		f := floor[h.Author]
		if f == 0 {
			out = append(out, h)
			continue
		}
		held, err := s.HeldFrom1(ctx, sp, h.Author, 1, f)
		if err != nil {
			return nil, false, err
		}
		switch {
		case held.Seq >= f:
			out = append(out, h)
		case held.Seq > 0:
			out = append(out, held)
		}
	}
	return out, true, nil
}

// HeldFrom1 returns author's last commit held without a gap from seq 1,
// reading from seq from (the caller knows every seq below is held) and
// no further than seq upTo. Its Seq is from-1 when from is not held.
func (s *Store) HeldFrom1(ctx context.Context, sp keys.SpaceID, au keys.AuthorID, from, upTo uint64) (Head, error) {
	last := Head{Author: au, Seq: from - 1}
	for sc, err := range s.Commits(ctx, sp, au, from) {
		if err != nil {
			return Head{}, err
		}
		if sc.Seq != last.Seq+1 {
			break
		}
		last = Head{Author: au, Seq: sc.Seq, ID: sc.ID}
		if sc.Seq >= upTo {
			break
		}
	}
	return last, nil
}

// Unfloor ends a floored space's floor once the store holds its full
// history: for every author of the floor's frontier, each commit from
// seq 1 up to the frontier's, linked by prev up to the frontier's ID. It
// then decides the space again from all its commits, as a full replica
// does (an ordinary rebuild), and notifies an Event with Redecided set:
// the store is then a full replica of the space. It returns how many
// commits below the floor are still missing (0 when the floor is gone or
// there was none). A held commit that does not link (a forked author's
// other commit at that seq filled the hole) is removed and counted
// missing: the one the chain names must be fetched.
//
// The applier runs it alone. A crash between ending the floor and the
// rebuild is safe: the view state says to rebuild, and the next load does.
func (s *Store) Unfloor(ctx context.Context, sp keys.SpaceID) (missing uint64, err error) {
	r, err := s.submit(&request{space: sp, unfloor: true, reply: make(chan reply, 1)}).wait(ctx)
	return r.missing, err
}

// unfloor runs an Unfloor request on the applier goroutine and replies.
func (a *applier) unfloor(r *request) {
	missing, ev, err := a.unfloorSpace(r.space)
	if err != nil {
		delete(a.spaces, r.space) // loaded again from the rows
	}
	if ev != nil && a.s.notify != nil {
		a.s.notify(*ev)
	}
	r.reply <- reply{missing: missing, err: err}
}

func (a *applier) unfloorSpace(sp keys.SpaceID) (uint64, *Event, error) {
	if a.broken != nil {
		return 0, nil, a.broken
	}
	ctx := context.Background()
	st, err := a.load(sp)
	if err != nil {
		return 0, nil, err
	}
	fl, err := a.s.Floor(ctx, sp)
	if err != nil || fl == nil {
		return 0, nil, err
	}
	bc := a.newBatch()
	defer func() { bc.b.Close() }()
	missing, err := a.checkChains(bc, sp, fl)
	if err != nil {
		return 0, nil, fmt.Errorf("store: unfloor %s: %w", sp, err)
	}
	if missing > 0 {
		if err := a.commitBatch(bc.b, &bc.bodies); err != nil { // the rows that did not link, removed
			return 0, nil, fmt.Errorf("store: unfloor %s: %w", sp, err)
		}
		return missing, nil, nil
	}
	if err := bc.b.Delete(floorKey(sp), nil); err != nil {
		return 0, nil, err
	}
	st.view.rebuild = true // if the rebuild below does not happen, the next load does it
	bc.dirty[sp] = st
	if err := a.commit(bc); err != nil {
		return 0, nil, fmt.Errorf("store: unfloor %s: %w", sp, err)
	}
	st.floor = nil
	changes, _, err := a.rebuild(sp, true, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("store: unfloor %s: rebuild: %w", sp, err)
	}
	// Loaded again from the rows, as after an install: grants, schemas
	// and decisions as a full replica holds them.
	delete(a.spaces, sp)
	return 0, &Event{Space: sp, Changes: changes, Redecided: true}, nil
}

// checkChains walks each frontier author's chain down from the
// frontier's ID by prev, counting the commits not held and removing into
// bc the held ones that are not the commit the chain names. Below a gap
// the chain's IDs are not known: the rows there are checked on a later
// call, once the gap is filled.
func (a *applier) checkChains(bc *batch, sp keys.SpaceID, fl *Floor) (uint64, error) {
	var missing uint64
	for _, h := range fl.Frontier {
		want, known := h.ID, true
		for seq := h.Seq; seq >= 1; seq-- {
			k := commitKey(sp, h.Author, seq)
			v, err := a.s.get(k)
			if errors.Is(err, pebble.ErrNotFound) {
				missing++
				known = false
				continue
			}
			if err != nil {
				return 0, err
			}
			sc, err := a.s.readCommitRow(k, v)
			if err != nil {
				return 0, err
			}
			if known && sc.ID != want {
				if err := a.dropRecord(bc, k, false); err != nil {
					return 0, err
				}
				if err := bc.b.Delete(k, nil); err != nil {
					return 0, err
				}
				idk := spaceKey(tagCommitID, sp, sc.ID[:])
				if l, err := a.s.get(idk); err == nil && string(l) == string(append(h.Author[:len(h.Author):len(h.Author)], be64(seq)...)) {
					if err := bc.b.Delete(idk, nil); err != nil {
						return 0, err
					}
				}
				missing++
				known = false
				continue
			}
			hd, _, err := commit.DecodeHeader(sc.Bytes)
			if err != nil {
				return 0, fmt.Errorf("%w: commit %s/%d: %v", ErrCorrupt, h.Author.Short(), seq, err)
			}
			want, known = hd.Prev, true
		}
	}
	return missing, nil
}

// FloorGap returns how many commits below a space's floor this store does
// not hold (0 when it holds the whole history): each frontier author's
// seq, less its commits held at or below it.
func (s *Store) FloorGap(ctx context.Context, sp keys.SpaceID) (uint64, error) {
	fl, err := s.Floor(ctx, sp)
	if err != nil || fl == nil {
		return 0, err
	}
	var missing uint64
	for _, h := range fl.Frontier {
		missing += h.Seq
		for sc, err := range s.Commits(ctx, sp, h.Author, 1) {
			if err != nil {
				return 0, err
			}
			if sc.Seq > h.Seq {
				break
			}
			missing--
		}
	}
	return missing, nil
}
