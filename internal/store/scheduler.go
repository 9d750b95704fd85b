package store

import (
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// quietScheduler is Pebble's default compaction scheduler
// (pebble.ConcurrencyLimitScheduler: as many compactions at once as the
// DB allows) without its idle ticker. The default samples the DB every
// 100 ms for as long as it is open, about ten wake-ups a second of every
// idle daemon (#16, docs/benchmarks.md "Idle daemons"). This one samples
// every 100 ms only while a compaction waits for a grant, which is the
// case the sampling is for: a grant refused at the limit is retried as
// running compactions end (Done), when a flush raises the limit
// (UpdateGetAllowedWithoutPermission), and by the ticker meanwhile.
type quietScheduler struct {
	db pebble.DBForCompaction

	mu           sync.Mutex
	cond         *sync.Cond // signals the end of a grant round; uses mu
	running      int        // compactions granted and not done
	granting     bool       // a grant round is under way
	unregistered bool
	waiting      bool // a compaction was refused a grant: sample until none waits
	lastAllowed  int

	poke chan struct{} // wakes the granter (buffered 1)
	stop chan struct{}
	done chan struct{}
}

var (
	_ pebble.CompactionScheduler   = (*quietScheduler)(nil)
	_ pebble.CompactionGrantHandle = (*quietScheduler)(nil)
)

// grantEvery is how often a waiting compaction is offered a grant again.
const grantEvery = 100 * time.Millisecond

func newQuietScheduler() *quietScheduler {
	s := &quietScheduler{poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *quietScheduler) Register(_ int, db pebble.DBForCompaction) {
	s.db = db
	go s.granter()
}

func (s *quietScheduler) Unregister() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unregistered = true
	for s.granting {
		s.cond.Wait()
	}
}

func (s *quietScheduler) TrySchedule() (bool, pebble.CompactionGrantHandle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unregistered {
		return false, nil
	}
	s.lastAllowed = s.db.GetAllowedWithoutPermission()
	if s.lastAllowed > s.running {
		s.running++
		return true, s
	}
	s.waiting = true
	s.wake()
	return false, nil
}

func (s *quietScheduler) UpdateGetAllowedWithoutPermission() {
	s.mu.Lock()
	allowed := s.db.GetAllowedWithoutPermission()
	raised := allowed > s.lastAllowed
	s.lastAllowed = allowed
	if raised {
		s.wake()
	}
	s.mu.Unlock()
}

// The grant handle: Pebble reports a granted compaction's progress.
func (s *quietScheduler) Started()                                          {}
func (s *quietScheduler) MeasureCPU(pebble.CompactionGoroutineKind)         {}
func (s *quietScheduler) CumulativeStats(pebble.CompactionGrantHandleStats) {}

func (s *quietScheduler) Done() {
	s.mu.Lock()
	s.running--
	s.grantLockedAndUnlock()
}

// wake pokes the granter (mu held or not).
func (s *quietScheduler) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// granter offers grants when poked and, while a compaction waits, every
// grantEvery; with nothing waiting it sleeps.
func (s *quietScheduler) granter() {
	defer close(s.done)
	var t *time.Ticker
	var tick <-chan time.Time
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		select {
		case <-tick:
		case <-s.poke:
		case <-s.stop:
			return
		}
		s.mu.Lock()
		s.grantLockedAndUnlock()
		s.mu.Lock()
		waiting := s.waiting
		s.mu.Unlock()
		switch {
		case waiting && t == nil:
			t = time.NewTicker(grantEvery)
			tick = t.C
		case !waiting && t != nil:
			t.Stop()
			t, tick = nil, nil
		}
	}
}

// grantLockedAndUnlock grants as many waiting compactions as the DB allows
// beyond those running, one round at a time, as Pebble's scheduler does.
// mu is held on entry and released on return.
func (s *quietScheduler) grantLockedAndUnlock() {
	defer s.mu.Unlock()
	for s.granting && !s.unregistered {
		s.cond.Wait()
	}
	if s.unregistered {
		return
	}
	s.lastAllowed = s.db.GetAllowedWithoutPermission()
	toGrant := s.lastAllowed - s.running
	if toGrant <= 0 {
		return // still waiting, if a compaction was: the ticker retries
	}
	s.granting = true
	s.mu.Unlock()
	waiting := true
	for toGrant > 0 {
		if waiting, _ = s.db.GetWaitingCompaction(); !waiting {
			break
		}
		if !s.db.Schedule(s) {
			break
		}
		s.mu.Lock()
		s.running++
		s.mu.Unlock()
		toGrant--
	}
	s.mu.Lock()
	if !waiting {
		s.waiting = false
	}
	s.granting = false
	s.cond.Broadcast()
}
