package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// readLoop owns the Conn's read side and applies what the peer sends.
func (s *Session) readLoop(ctx context.Context) error {
	for {
		f, err := s.conn.ReadFrame()
		if err != nil {
			return err
		}
		s.Stats.FramesIn.Add(1)
		s.Stats.BytesIn.Add(uint64(len(f)))
		m, err := DecodeMsg(f)
		if err != nil {
			return err
		}
		switch m.Type {
		case msgHello:
			err = s.onHello(ctx, m)
		case msgHave:
			err = s.onHave(m)
		case msgCommits:
			err = s.onCommits(ctx, m)
		case msgWant:
			var ps *peerSpace
			if ps, err = s.shared(m.Disc); err == nil {
				s.mu.Lock()
				if len(ps.wanted) < 4*MaxWant {
					ps.wanted = append(ps.wanted, m.IDs...)
				}
				s.dirty[ps.id] = ps
				s.mu.Unlock()
				s.poke()
			}
		case msgBye:
			return fmt.Errorf("reconcile: peer said goodbye: %s", m.Reason)
		}
		if err != nil {
			return err
		}
	}
}

// onHello checks the peer's proofs. A valid proof for a space we hold makes
// it proved; we offer it back if we have not yet, and send our Have.
func (s *Session) onHello(ctx context.Context, m *Msg) error {
	if m.Version != Version {
		s.sendBye(fmt.Sprintf("protocol version %d, I speak %d", m.Version, Version))
		return fmt.Errorf("reconcile: peer speaks protocol version %d, we speak %d", m.Version, Version)
	}
	local := map[keys.Digest]keys.SpaceID{}
	for _, sp := range s.local.Spaces() {
		local[keys.DiscoveryID(sp)] = sp
	}
	for _, p := range m.Spaces {
		sp, ok := local[p.Disc]
		if !ok {
			continue // a space we do not hold: we learn nothing, and say nothing
		}
		if p.Proof != keys.SyncProof(sp, s.cfg.Peer, s.cfg.Self) {
			return fmt.Errorf("%w (%s)", ErrBadProof, sp)
		}
		s.mu.Lock()
		ps, ok := s.byDisc[p.Disc]
		if !ok {
			ps = &peerSpace{id: sp, disc: p.Disc, has: map[keys.AuthorID]Head{}}
			s.byDisc[p.Disc] = ps
		}
		first := !ps.proved
		ps.proved = true
		ps.needHave = ps.needHave || first
		if first {
			// The peer may have ignored our earlier proof (it did not hold
			// the space yet): offer it again, before our Have.
			s.offered[sp] = false
		}
		s.dirty[sp] = ps // offers it back if needed, then sends our Have
		s.mu.Unlock()
	}
	s.poke()
	return nil
}

// shared returns the space of disc if both sides proved it.
func (s *Session) shared(disc keys.Digest) (*peerSpace, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.byDisc[disc]
	if !ok || !ps.proved {
		return nil, fmt.Errorf("%w: message for a space not shared", ErrBadMessage)
	}
	return ps, nil
}

func (s *Session) onHave(m *Msg) error {
	ps, err := s.shared(m.Disc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ps.has = make(map[keys.AuthorID]Head, len(m.Heads))
	for _, h := range m.Heads {
		ps.has[h.Author] = h
	}
	ps.haveKnown = true
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
	return nil
}

// onCommits verifies every commit of the frame before storing any, then
// applies them with the ones still waiting for their causal past.
func (s *Session) onCommits(ctx context.Context, m *Msg) error {
	ps, err := s.shared(m.Disc)
	if err != nil {
		return err
	}
	cs := make([]*commit.Commit, len(m.Commits))
	for i, b := range m.Commits {
		c, err := commit.Verify(b)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadCommit, err)
		}
		if c.Space != ps.id {
			return fmt.Errorf("%w: %s belongs to another space", ErrBadCommit, c)
		}
		cs[i] = c
	}
	s.Stats.CommitsIn.Add(uint64(len(cs)))
	for _, c := range cs { // the peer has what it sent
		s.raise(ps, Head{Author: c.Author, Seq: c.Seq, ID: c.ID})
	}
	batch := append(ps.pending, cs...)
	res, err := s.local.Apply(ctx, ps.id, batch)
	if err != nil {
		return fmt.Errorf("reconcile: apply: %w", err)
	}
	var pending []*commit.Commit
	progress, newPending := false, false
	for i, o := range res.Outcomes {
		switch o.Status {
		case store.Rejected:
			if errors.Is(o.Err, store.ErrUnauthorized) {
				return fmt.Errorf("%w: %v", ErrUnauthorized, o.Err)
			}
			return fmt.Errorf("%w: %v", ErrBadCommit, o.Err)
		case store.Pending:
			pending = append(pending, batch[i])
			newPending = newPending || i >= len(ps.pending)
		case store.Applied, store.Forked:
			progress = true
		}
	}
	if over := len(pending) - s.cfg.MaxPending; over > 0 {
		pending = pending[over:]
	}
	ps.pending = pending
	if len(pending) > 0 && (progress || newPending) {
		// Something is missing: tell the peer what we have, and ask for the
		// deps we do not know by ID (they may be off the main chain).
		s.requestHave(ps)
		if err := s.wantDeps(ctx, ps, pending); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) wantDeps(ctx context.Context, ps *peerSpace, pending []*commit.Commit) error {
	seen := map[keys.CommitID]bool{}
	var want []keys.CommitID
	for _, c := range pending {
		for _, d := range c.Deps {
			if seen[d] || len(want) == MaxWant {
				continue
			}
			seen[d] = true
			if _, err := s.local.CommitByID(ctx, ps.id, d); errors.Is(err, store.ErrNotFound) {
				want = append(want, d)
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	s.mu.Lock()
	ps.want = want
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
	return nil
}
