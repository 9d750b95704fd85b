package space

import (
	"context"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// The committer: one goroutine per space, started when a write is queued
// and none runs, that ends when the queue is empty and no commit is in
// flight. It alone builds, signs and submits the device's commits and
// reads their outcomes, in seq order, so the device's chain has one
// writer: a commit that fails takes back its seq only once every commit
// prepared after it is known to fail too (they build on it), and a new
// commit never reuses the seq of one that may still be stored. That is
// what keeps a device from forking itself, whatever fails.

// flight is a commit submitted whose outcome the committer has not read.
type flight struct {
	c      *commit.Commit
	t      store.Ticket
	group  []*write
	parent store.Head                      // the device's head before c
	deps   map[keys.AuthorID]keys.CommitID // the deps c took, given back if it fails
	gen    uint64                          // the chain generation c was prepared in
}

// commitLoop runs the committer (see above).
func (s *Space) commitLoop() {
	var inflight []*flight // oldest first
	for {
		s.wmu.Lock()
		var group []*write
		if len(inflight) < maxInFlight {
			group = s.takeGroup()
		}
		if group == nil && len(inflight) == 0 {
			s.running = false
			s.wmu.Unlock()
			return
		}
		s.wmu.Unlock()
		if group != nil {
			if f := s.start(group); f != nil {
				inflight = append(inflight, f)
			}
			continue
		}
		s.finish(inflight[0])
		inflight = inflight[1:]
	}
}

// takeGroup takes the writes at the head of the queue that merge into one
// commit, or nil if the queue is empty. Callers hold wmu.
func (s *Space) takeGroup() []*write {
	n, ops, bytes := 0, 0, 0
	for n < len(s.queue) {
		w := s.queue[n]
		if n > 0 && (ops+len(w.ops) > mergeMaxOps || bytes+w.bytes > mergeMaxBytes || w.epoch != s.queue[0].epoch) {
			break
		}
		ops += len(w.ops)
		bytes += w.bytes
		n++
	}
	if n == 0 {
		return nil
	}
	group := s.queue[:n:n]
	s.queue = s.queue[n:]
	return group
}

// start prepares, signs and submits the commit of a group. If it cannot
// be prepared, the group's writers get the error and start returns nil.
func (s *Space) start(group []*write) *flight {
	merged := group[0].ops
	if len(group) > 1 {
		n := 0
		for _, w := range group {
			n += len(w.ops)
		}
		merged = make([]commit.Op, 0, n)
		for _, w := range group {
			merged = append(merged, w.ops...)
		}
	}
	f, err := s.prepare(group[0].epoch, merged)
	if err != nil {
		deliver(group, nil, err)
		return nil
	}
	f.group = group
	f.c.Sign(s.dev)
	f.t = s.st.Submit(s.info.ID, []*commit.Commit{f.c})
	return f
}

// prepare assigns the next seq, prev, time and deps and encodes the
// commit. Only the committer calls it, so the seq cannot be taken twice;
// the encoding happens outside mu, so Observe (on the store's applier)
// never waits for it.
func (s *Space) prepare(epoch uint64, ops []commit.Op) (*flight, error) {
	s.trimDeps(context.Background())
	s.mu.Lock()
	parent := s.head
	deps := make([]keys.CommitID, 0, len(s.deps))
	took := make(map[keys.AuthorID]keys.CommitID, len(s.deps))
	for a, id := range s.deps {
		if len(deps) == commit.MaxDeps {
			break
		}
		deps = append(deps, id)
		took[a] = id
		delete(s.deps, a)
	}
	h := commit.Header{
		Space:  s.info.ID,
		Author: s.dev.Author(),
		Seq:    parent.Seq + 1,
		Prev:   parent.ID,
		Time:   s.clock.Now(),
		Epoch:  epoch,
		Deps:   deps,
	}
	gen := s.gen
	s.mu.Unlock()

	c, err := commit.Prepare(h, ops)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.giveBack(took)
		return nil, fmt.Errorf("space: %w", err)
	}
	s.head = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
	s.heads[c.Author] = s.head
	return &flight{c: c, parent: parent, deps: took, gen: gen}, nil
}

// giveBack returns deps a failed commit took, unless a later head of the
// same author arrived meanwhile. Callers hold mu.
func (s *Space) giveBack(took map[keys.AuthorID]keys.CommitID) {
	for a, id := range took {
		if _, newer := s.deps[a]; !newer {
			s.deps[a] = id
		}
	}
}

// finish waits for the outcome of the oldest commit in flight and tells
// its writers. The store answers every request, if only with ErrClosed.
func (s *Space) finish(f *flight) {
	res, err := f.t.Wait(context.Background())
	var o store.Outcome
	if err == nil {
		o = res.Outcomes[0]
	}
	s.mu.Lock()
	stale := f.gen != s.gen // an earlier commit failed: this one built on it
	stored := err == nil && (o.Status == store.Applied || o.Status == store.Duplicate || o.Status == store.Revoked || o.Status == store.Forked)
	if !stored && !stale {
		// Not stored, so neither will be any commit prepared after it:
		// the chain goes on from its parent, with the deps it took.
		s.head = f.parent
		s.heads[f.parent.Author] = f.parent
		s.giveBack(f.deps)
		s.gen++
	}
	if err == nil && (o.Status == store.Revoked || o.Status == store.Forked) {
		s.accessGen++ // the store knows something the space does not
	}
	s.mu.Unlock()

	switch {
	case stale && !stored:
		err = fmt.Errorf("space: not written: a commit of this device before it failed (%w)", s.failure(f, err, o))
	case err != nil:
		err = fmt.Errorf("space: commit %s: %w", f.c, err)
	case o.Status == store.Applied || o.Status == store.Duplicate:
	case o.Status == store.Revoked && s.appRuleErr(o.Err, true) != nil:
		err = s.appRuleErr(o.Err, true) // not revoked: the write broke an app rule the store holds
	case o.Status == store.Revoked:
		err = fmt.Errorf("%w: %s was revoked in space %s: the write was kept but does not count; ask an admin for a new invite (%w)", ErrReadOnly, s.dev.Author(), s.info.Name, o.Err)
	case o.Status == store.Forked:
		err = s.forkedErr(o.Err)
	default:
		err = fmt.Errorf("space: commit %s: %s: %w", f.c, o.Status, o.Err)
	}
	deliver(f.group, f.c, err)
}

// failure returns why commit f was not stored.
func (s *Space) failure(f *flight, err error, o store.Outcome) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", o.Status, o.Err)
}

// ErrForked is wrapped (with ErrReadOnly) by the error of a write by a
// device that has forked: two commits of it share a seq (its key is used
// by two homes at once), so none of its commits from there on count.
var ErrForked = errors.New("this device has forked")

func (s *Space) forkedErr(why error) error {
	return fmt.Errorf("%w: %w: %s has two different commits at one seq in space %s (is its key, HOME/device.key, in use in two Loam homes?), so none of its writes from there on count, here or anywhere; use one home per device key, and ask an admin to invite a new device (%w)",
		ErrReadOnly, ErrForked, s.dev.Author(), s.info.Name, why)
}

func deliver(group []*write, c *commit.Commit, err error) {
	if err != nil {
		c = nil
	}
	for _, w := range group {
		w.done <- writeResult{c, err}
	}
}
