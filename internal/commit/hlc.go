package commit

import (
	"fmt"
	"sync"
	"time"
)

// HLC is a hybrid logical clock reading: wall-clock microseconds since the
// Unix epoch and a logical counter that orders events within one microsecond
// (or while the wall clock lags behind a time already seen).
type HLC struct {
	Wall    uint64
	Logical uint32
}

// Less orders clock readings.
func (a HLC) Less(b HLC) bool {
	if a.Wall != b.Wall {
		return a.Wall < b.Wall
	}
	return a.Logical < b.Logical
}

// Compare returns -1, 0 or +1.
func (a HLC) Compare(b HLC) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// Time returns the wall part as a time.Time.
func (a HLC) Time() time.Time { return time.UnixMicro(int64(a.Wall)) }

func (a HLC) String() string {
	return fmt.Sprintf("%s+%d", a.Time().UTC().Format("2006-01-02T15:04:05.000000Z"), a.Logical)
}

// Clock issues HLC readings that never go backwards and that are later than
// every reading observed. It is safe for concurrent use.
type Clock struct {
	now func() time.Time // the wall clock

	mu   sync.Mutex
	last HLC // guarded by mu
}

// NewClock returns a clock reading the system time.
func NewClock() *Clock { return &Clock{now: time.Now} }

// NewClockAt returns a clock reading its wall time from now (nil: the
// system time): a node whose clock is skewed, in tests.
func NewClockAt(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns a reading later than every previous reading and observation.
func (c *Clock) Now() HLC {
	wall := uint64(c.now().UnixMicro())
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall > c.last.Wall {
		c.last = HLC{Wall: wall}
	} else {
		c.last.Logical++
		if c.last.Logical == 0 { // counter wrapped: borrow a microsecond
			c.last.Wall++
		}
	}
	return c.last
}

// Observe moves the clock past t, so the next reading orders after it.
func (c *Clock) Observe(t HLC) {
	c.mu.Lock()
	if c.last.Less(t) {
		c.last = t
	}
	c.mu.Unlock()
}
