package store

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// fakeCompactions is a DB for the scheduler: allowed compactions at once,
// and how many wait for a grant.
type fakeCompactions struct {
	mu               sync.Mutex
	allowed, waiting int
	samples          int // calls to GetAllowedWithoutPermission
	granted          []pebble.CompactionGrantHandle
}

func (f *fakeCompactions) GetAllowedWithoutPermission() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples++
	return f.allowed
}

func (f *fakeCompactions) GetWaitingCompaction() (bool, pebble.WaitingCompaction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting > 0, pebble.WaitingCompaction{}
}

func (f *fakeCompactions) Schedule(h pebble.CompactionGrantHandle) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiting == 0 {
		return false
	}
	f.waiting--
	f.granted = append(f.granted, h)
	return true
}

func (f *fakeCompactions) set(allowed, waiting int) (samples, granted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allowed, f.waiting = allowed, waiting
	return f.samples, len(f.granted)
}

// TestQuietSchedulerSleepsWhenIdle: with no compaction waiting, the
// scheduler samples nothing for a minute (Pebble's samples ten times a
// second); a compaction refused at the limit is granted once the limit
// rises or a running one ends, and sampling stops again after.
func TestQuietSchedulerSleepsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeCompactions{allowed: 1}
		s := newQuietScheduler()
		s.Register(1, db)
		defer s.Unregister()

		time.Sleep(time.Minute)
		synctest.Wait()
		if n, _ := db.set(1, 0); n != 0 {
			t.Fatalf("an idle scheduler sampled the DB %d times in a minute", n)
		}

		ok, h := s.TrySchedule() // the one allowed
		if !ok {
			t.Fatal("the first compaction was refused")
		}
		db.set(1, 1)
		if ok, _ := s.TrySchedule(); ok {
			t.Fatal("a second compaction was granted past the limit of one")
		}
		time.Sleep(time.Second) // waiting: sampled
		synctest.Wait()
		before, _ := db.set(2, 1) // the limit rises (a flush); the ticker finds it
		time.Sleep(time.Second)
		synctest.Wait()
		after, granted := db.set(2, 0)
		if granted != 1 || before < 5 {
			t.Fatalf("granted %d of the waiting compaction, sampled %d times while it waited; want 1 and about 10 a second", granted, before)
		}
		h.Done()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, _ := db.set(2, 0); n-after > 2 {
			t.Fatalf("sampled %d times in a minute once nothing waited", n-after)
		}
	})
}
