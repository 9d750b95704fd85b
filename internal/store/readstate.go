package store

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/keys"
)

// Reads see only durable state. Pebble makes a committed batch visible
// before its log is synced, so a reader could see (and sync send to a
// peer) a commit that a power loss then erases here; the device would
// then write that seq again and fork. Readers therefore read a Pebble
// snapshot that the applier takes after each commit returned, that is
// once it is durable (publish), and the applier itself reads only after
// its commits returned.

// readState is a snapshot readers share, counted so that the last one
// closes it once a newer one is published.
type readState struct {
	snap    *pebble.Snapshot
	gen     uint64 // Store.gen when published: later ones are greater
	refs    int    // readers using it; guarded by Store.rmu
	retired bool   // a newer one was published; guarded by Store.rmu

	// clean caches, per space, whether the snapshot holds no invalid and
	// no fork row of it (withheld's answer is then empty for every
	// author): sync asks it for each author it sends, many times a second.
	// syncHeads caches SyncHeads per space: sync asks it each time it
	// looks for what a peer lacks.
	cmu       sync.Mutex
	clean     map[keys.SpaceID]bool
	syncHeads map[keys.SpaceID][]Head
}

// isClean reports whether r's snapshot holds no invalid and no fork row
// of space sp.
func (r *readState) isClean(sp keys.SpaceID) (bool, error) {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	if c, ok := r.clean[sp]; ok {
		return c, nil
	}
	c := true
	for _, tag := range []byte{tagInvalid, tagFork} {
		p := spaceKey(tag, sp)
		it, err := r.snap.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return false, err
		}
		c = c && !it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return false, err
		}
	}
	if r.clean == nil {
		r.clean = map[keys.SpaceID]bool{}
	}
	r.clean[sp] = c
	return c, nil
}

// errGone is the error of a read after reopening the store failed for
// good (see reopen). A read after Close fails with ErrClosed itself.
var errGone = fmt.Errorf("%w: after the disk was full the database could not be reopened: restart loam", ErrClosed)

// acquire returns the read state for a read; the caller must release it.
func (s *Store) acquire() (*readState, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.rs == nil {
		select {
		case <-s.quit:
			return nil, ErrClosed
		default:
			return nil, errGone
		}
	}
	s.rs.refs++
	return s.rs, nil
}

func (s *Store) release(r *readState) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	r.refs--
	if r.refs == 0 && r.retired {
		r.snap.Close()
		delete(s.held, r)
		select { // the applier may remove a segment now (reclaim.go)
		case s.released <- struct{}{}:
		default:
		}
		s.retired--
		if s.retired == 0 && s.drained != nil {
			close(s.drained)
		}
	}
}

// publish makes the state of the last commit, now durable, the one
// readers see. Only the applier calls it (and Open, before it starts).
func (s *Store) publish() {
	snap := s.db.NewSnapshot()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.retire()
	s.rs = s.newReadState(snap)
}

// newReadState returns the read state of snap, newer than every other.
// Callers hold rmu.
func (s *Store) newReadState(snap *pebble.Snapshot) *readState {
	s.gen++
	return &readState{snap: snap, gen: s.gen}
}

// readGen returns the generation of the read state published last.
func (s *Store) readGen() uint64 {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.gen
}

// readersSince reports whether every read state readers hold was
// published at generation gen or later: none can read rows a batch
// committed before gen replaced (reclaim.go).
func (s *Store) readersSince(gen uint64) bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.rs != nil && s.rs.gen < gen {
		return false
	}
	for r := range s.held {
		if r.gen < gen {
			return false
		}
	}
	return true
}

// retire retires the current read state, closing it if no reader holds
// it. Callers hold rmu.
func (s *Store) retire() {
	if s.rs == nil {
		return
	}
	if s.rs.refs == 0 {
		s.rs.snap.Close()
	} else {
		s.rs.retired = true
		s.retired++
		if s.held == nil {
			s.held = map[*readState]struct{}{}
		}
		s.held[s.rs] = struct{}{}
	}
	s.rs = nil
}

// idle runs fn holding rmu if no reader holds any read state (so fn may
// close the database), and reports whether it ran. Readers that arrive
// meanwhile wait; none can be nested in another's read, since none holds
// a read state.
func (s *Store) idle(fn func()) bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.retired > 0 || s.rs != nil && s.rs.refs > 0 {
		return false
	}
	fn()
	return true
}
