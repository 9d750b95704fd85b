package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// applyJob is a verified Commits frame waiting to be applied.
type applyJob struct {
	ps *peerSpace
	cs []*commit.Commit
}

// readLoop owns the Conn's read side. Commits frames are verified here and
// applied by an apply goroutine it owns, so the next frame is read and
// verified while the previous one is stored.
func (s *Session) readLoop(ctx context.Context) (err error) {
	jobs := make(chan applyJob, 1)
	applyDone := make(chan error, 1)
	go func() { applyDone <- s.applyLoop(ctx, jobs) }()
	defer func() {
		close(jobs)
		if aerr := <-applyDone; aerr != nil && (err == nil || errors.Is(err, io.EOF) || s.applyFailed.Load()) {
			err = aerr
		}
	}()
	var lastHave [sha256.Size]byte // of the last large Have frame, as received
	for {
		f, err := s.conn.ReadFrame()
		if err != nil {
			return err
		}
		s.Stats.FramesIn.Add(1)
		s.Stats.BytesIn.Add(uint64(len(f)))
		// A large Have the same as the last one changes nothing (see
		// onHave): it is not decoded again, so a peer repeating its
		// largest Have costs reading it, not decoding and keeping it.
		if len(f) > repeatHaveSize && bytes.HasPrefix(f, havePrefix) {
			sum := sha256.Sum256(f)
			if sum == lastHave {
				continue
			}
			lastHave = sum
		}
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
			var job applyJob
			if job, err = s.verifyCommits(m); err == nil {
				select {
				case jobs <- job:
				case <-ctx.Done():
					return nil
				}
			}
		case msgWant:
			var ps *peerSpace
			if ps, err = s.shared(m.Disc); err == nil {
				s.mu.Lock()
				if len(ps.wanted) < maxAsked { // what a peer asks at most before progress
					if len(ps.wanted) == 0 {
						s.nWanted++
					}
					ps.wanted = append(ps.wanted, m.IDs...)
				}
				s.dirty[ps.id] = ps
				s.mu.Unlock()
				s.poke()
			}
		case msgBye:
			if m.Reason == ByeClosing {
				return errPeerClosing // an orderly end: Run returns nil
			}
			return fmt.Errorf("reconcile: peer said goodbye: %s", m.Reason)
		}
		if err != nil {
			return err
		}
	}
}

// Have frames over repeatHaveSize are checked for repeats; every Have
// frame starts with havePrefix (map of 3: type 2).
const repeatHaveSize = 64 << 10

var havePrefix = []byte{0xa3, 0x01, 0x02}

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
			ps = newPeerSpace(sp, p.Disc)
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
	clear(ps.raised)
	if !ps.haveKnown || !slices.Equal(ps.lastHave, m.Heads) {
		// The peer's store changed: what it did not take up before may
		// be taken up now. An unchanged Have changes nothing of what we
		// send (see sendMissing): that is what ends every exchange.
		ps.sent = map[keys.AuthorID]uint64{}
	}
	ps.lastHave = m.Heads
	ps.haveKnown = true
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
	return nil
}

// verifyCommits decodes and verifies every commit of a frame, on all
// cores, before any is stored.
func (s *Session) verifyCommits(m *Msg) (applyJob, error) {
	ps, err := s.shared(m.Disc)
	if err != nil {
		return applyJob{}, err
	}
	cs := make([]*commit.Commit, len(m.Commits))
	workers := max(1, min(runtime.GOMAXPROCS(0), (len(cs)+15)/16))
	errs := make([]error, workers)
	// Each worker decodes a contiguous chunk and checks its signatures as
	// one batch.
	verify := func(w int) {
		lo, hi := w*len(cs)/workers, (w+1)*len(cs)/workers
		for i := lo; i < hi; i++ {
			c, err := commit.Decode(m.Commits[i])
			if err == nil && c.Space != ps.id {
				err = fmt.Errorf("%s belongs to another space", c)
			}
			if err != nil {
				errs[w] = err
				return
			}
			cs[i] = c
		}
		errs[w] = commit.VerifySigs(cs[lo:hi])
	}
	if workers <= 1 {
		verify(0)
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				verify(w)
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return applyJob{}, fmt.Errorf("%w: %v", ErrBadCommit, err)
		}
	}
	s.Stats.CommitsIn.Add(uint64(len(cs)))
	for _, c := range cs { // the peer has what it sent
		s.raise(ps, Head{Author: c.Author, Seq: c.Seq, ID: c.ID})
	}
	// What the peer has changed: the writer looks again (it may hold
	// fork evidence the peer lacks).
	s.mu.Lock()
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
	return applyJob{ps: ps, cs: cs}, nil
}
