package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// applyLoop applies verified frames in order. A misbehaviour it finds ends
// the session: it closes the Conn, so the reader stops too.
//
// One timer serves every space, set only while commits are held: to the
// earliest time a commit held for being dated in the future may be
// offered again (at most Recheck ahead, by the wall clock), and to the
// time held commits would have stalled. When it fires, every space due is
// offered its held commits again.
func (s *Session) applyLoop(ctx context.Context, jobs <-chan applyJob) (err error) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	defer s.releasePending()
	for {
		select {
		case j, ok := <-jobs:
			if !ok {
				return nil
			}
			if s.full {
				s.Stats.CommitsLetGo.Add(uint64(len(j.cs)))
				continue // the timer is set: see pauseFull
			}
			err = s.onCommits(ctx, j.ps, j.cs)
		case <-timer.C:
			if s.full {
				err = s.local.Writable(BatchBytes)
				if err == nil {
					err = errRoomAgain
				} else if errors.Is(err, store.ErrDiskFull) {
					err = nil
				}
				break
			}
			err = s.retryDue(ctx)
		}
		if err != nil {
			s.applyFailed.Store(true)
			s.conn.Close()
			for range jobs { // let the reader finish
			}
			return err
		}
		s.arm(timer)
	}
}

// errRoomAgain ends a session paused by a full disk once there is room
// again (Run returns nil for it): the next session starts from the heads,
// so the peer sends again what this one let go.
var errRoomAgain = errors.New("reconcile: the disk has room again: sync starts over")

// pauseFull pauses applying after Apply failed because the disk is full
// (apply goroutine). The session goes on serving the peer, which reads
// from a full disk need; the commits the peer sends meanwhile are let go
// (they are not stored, and what is held waiting is released), and every
// DiskRecheck the session asks whether a write would be stored again.
// Once it would, the session ends without blame and the next one starts
// from the heads: the peer's record of what this node has, raised by what
// it sent, is then forgotten. Ending the session at once instead would
// make the peer reopen it and send everything again every moment, and a
// Have cannot undo the peer's record (an unchanged Have sends nothing).
func (s *Session) pauseFull(n int) {
	s.full = true
	s.Stats.CommitsLetGo.Add(uint64(n))
	s.releasePending()
}

// holding returns the spaces with held commits (apply goroutine).
func (s *Session) holding() []*peerSpace {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*peerSpace
	for _, ps := range s.byDisc {
		if len(ps.wait.cs) > 0 {
			out = append(out, ps)
		}
	}
	return out
}

// retryDue offers again the held commits of every space whose commits
// dated in the future are due, and fails if held commits stalled.
func (s *Session) retryDue(ctx context.Context) error {
	now := s.cfg.Now()
	for _, ps := range s.holding() {
		w := &ps.wait
		if !w.stallSince.IsZero() && time.Since(w.stallSince) >= s.cfg.StallTimeout {
			return fmt.Errorf("%w: %d commits of %s waited %s", ErrStalled, len(w.cs), ps.id, time.Since(w.stallSince).Round(time.Second))
		}
		if !w.future.IsZero() && !w.future.After(now) {
			if err := s.onCommits(ctx, ps, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// arm sets the timer to the next time something held is due, or stops it.
func (s *Session) arm(timer *time.Timer) {
	timer.Stop()
	if s.full {
		timer.Reset(s.cfg.DiskRecheck)
		return
	}
	next := time.Duration(-1)
	soonest := func(d time.Duration) {
		if next < 0 || d < next {
			next = d
		}
	}
	now := s.cfg.Now()
	for _, ps := range s.holding() {
		w := &ps.wait
		if !w.future.IsZero() {
			soonest(min(w.future.Sub(now), s.cfg.Recheck))
		}
		if !w.stallSince.IsZero() {
			soonest(s.cfg.StallTimeout - time.Since(w.stallSince))
		}
	}
	if next >= 0 {
		timer.Reset(max(next, time.Millisecond))
	}
}

// onCommits applies verified commits with the ones held for their causal
// past (apply goroutine), then decides what stays held, asks the peer for
// what is missing, and tells it our heads when they changed in a way its
// record of them would not show.
func (s *Session) onCommits(ctx context.Context, ps *peerSpace, cs []*commit.Commit) error {
	w := &ps.wait
	old := len(w.cs)
	batch := append(slices.Clip(w.cs), cs...)
	if len(batch) == 0 {
		return nil
	}
	res, err := s.local.Apply(ctx, ps.id, batch)
	if errors.Is(err, store.ErrDiskFull) {
		s.pauseFull(len(cs))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: apply: %w", err)
	}
	// A frame that answers our Want was asked for: what it holds never
	// counts against the peer as ungranted (its grants may come next).
	asked := false
	for _, c := range cs {
		asked = asked || w.asked[c.ID]
	}
	var cands []candidate
	var future time.Time // the earliest a commit dated in the future may be offered again
	progress, announce := false, false
	for i, o := range res.Outcomes {
		c := batch[i]
		// A commit held but not counted is not in the heads we announce,
		// yet the peer counted it as ours when it sent it: tell it what we
		// announce, or it will think we hold more than we say.
		announce = announce || o.Status == store.Revoked || errors.Is(o.Err, store.ErrRevoked)
		switch o.Status {
		case store.Rejected:
			if errors.Is(o.Err, store.ErrUnauthorized) {
				return fmt.Errorf("%w: %v", ErrUnauthorized, o.Err)
			}
			return fmt.Errorf("%w: %v", ErrBadCommit, o.Err)
		case store.Dropped:
			// Past its author's cut and over the bound: a peer forwarding
			// it is honest (it may hold more from before the cut was
			// known); the author sending it itself is not.
			if c.Author == s.cfg.Peer {
				return fmt.Errorf("%w: %v", ErrOverCut, o.Err)
			}
			if w.dropped == nil {
				w.dropped = map[keys.CommitID]bool{}
			}
			if len(w.dropped) < maxDropped {
				w.dropped[c.ID] = true
			}
		case store.Forked:
			progress = true
		case store.Pending:
			cd := candidate{c: c, fresh: i >= old && !asked, future: errors.Is(o.Err, store.ErrFuture)}
			if cd.future {
				if t := c.Time.Time().Add(-store.MaxFuture); future.IsZero() || t.Before(future) {
					future = t
				}
			}
			cands = append(cands, cd)
		case store.Revoked:
			// Stored but void: the peer may not have seen the revocation
			// yet; honest, not misbehaving. But its own commit that
			// breaks an app rule (#15) with every declaration of the
			// rules in its causal past, counting or not, is misbehaviour
			// (acl.Broken): an honest node checks its writes against the
			// rules in force for it before signing. One that keeps a
			// declaration voided by a revocation its author had not seen
			// is honest, and so is a peer forwarding another's (asked for
			// it as a dep).
			if c.Author == s.cfg.Peer && acl.Broken(o.Err) {
				return fmt.Errorf("%w: %v", ErrBrokenRule, o.Err)
			}
			progress = true
		case store.Applied, store.Filled:
			progress = true // Filled: a hole below our checkpoint's floor, that a pending commit may wait for
		}
	}
	for _, f := range res.Forks {
		// The peer sent a commit of its own at a seq where we hold
		// another: it signed both. (Its commits on either branch after
		// a fork we knew of are not new evidence: a device whose key was
		// used by someone else goes on like that.)
		if f.A.Author == s.cfg.Peer {
			return fmt.Errorf("%w: %s and %s at seq %d", ErrEquivocation, f.A.ID.Short(), f.B.ID.Short(), f.A.Seq)
		}
	}
	if progress {
		w.asked, w.stallSince = nil, time.Time{}
		if w.overflowed {
			// Commits were let go for lack of room; now that some
			// applied, the peer's record of our heads is behind: a Have
			// makes it send from where we are.
			announce, w.overflowed = true, false
		}
	}
	if err := s.hold(ctx, ps, cands); err != nil {
		return err
	}
	w.future = time.Time{}
	clock := false // some held commit waits for the clock, not the peer
	for _, cd := range cands {
		if cd.future && w.ids[cd.c.ID] {
			w.future, clock = future, true
		}
	}
	if announce {
		s.requestHave(ps)
	}
	switch {
	case len(w.cs) == 0 || clock:
		w.stallSince = time.Time{}
	case w.stallSince.IsZero():
		w.stallSince = time.Now()
	}
	if len(w.cs) > 0 {
		return s.wantDeps(ctx, ps)
	}
	return nil
}
