package node

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/blob"
)

// pacer bounds a rate in bytes per second over the answers a node serves.
// Each answer takes a ticket when it arrives and sends its bytes in pieces,
// each once the pacer gives it a slot; a slot lasts n / rate for n bytes,
// less a burst of pacerBurst bytes an idle pacer saves up (a token bucket
// of that size).
//
// Slots go to the oldest waiting ticket, so answers are served first come
// first served and each completes as soon as it can (which a download's
// endgame relies on), except that a ticket that has sent nothing for keep
// goes first: every answer in progress then gets some bytes at least that
// often, as long as fewer than keep / (piece time) are starving, and its
// client, which waits for the next byte for a minute
// (defaultBlobTimeouts.request), does not take a queue for a peer that stopped.
// A waiter that gives up (its request was cancelled) costs the others
// nothing. Every wait happens on the waiting goroutine, with its own
// timer: the pacer starts no goroutine and no timer that could outlive
// its callers.
type pacer struct {
	rate float64       // bytes per second
	keep time.Duration // see above; pacerKeep but in tests

	mu      sync.Mutex
	next    time.Time     // when the next slot may start; guarded by mu
	taken   uint64        // tickets taken; guarded by mu
	waiting []*ticket     // tickets in wait, oldest first; guarded by mu
	changed chan struct{} // closed and replaced when waiting or next changes; guarded by mu
}

// ticket is one answer's place in the pacer.
type ticket struct {
	p    *pacer
	seq  uint64    // take order
	last time.Time // when it last got a slot, or was taken; guarded by p.mu
}

const (
	// pacerBurst is what an idle pacer lets through at once: one chunk, as
	// when chunks were paced whole.
	pacerBurst = blob.ChunkSize
	// pacerKeep is how long an answer in progress may go without a slot
	// before it goes first.
	pacerKeep = 10 * time.Second
)

// newPacer returns a pacer of rate bytes per second, or nil (no bound) if
// rate is not positive.
func newPacer(rate int64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{rate: float64(rate), keep: pacerKeep, changed: make(chan struct{})}
}

// piece returns the size of the pieces to pace a send in: an eighth of a
// second at the rate, within minPiece and maxPiece (maxPiece if p is nil).
func (p *pacer) piece() int {
	if p == nil {
		return maxPiece
	}
	return min(max(int(p.rate/8), minPiece), maxPiece)
}

// take returns the ticket of an answer that arrives now (nil if p is nil).
func (p *pacer) take() *ticket {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken++
	return &ticket{p: p, seq: p.taken, last: time.Now()}
}

// broadcast wakes every waiter to look again. p.mu is held.
func (p *pacer) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// chosen returns the waiting ticket the next slot is for. p.mu is held.
func (p *pacer) chosen(now time.Time) *ticket {
	var starved *ticket
	for _, t := range p.waiting {
		if now.Sub(t.last) >= p.keep && (starved == nil || t.last.Before(starved.last)) {
			starved = t
		}
	}
	if starved != nil {
		return starved
	}
	return p.waiting[0]
}

// remove takes t off the waiting list. p.mu is held.
func (p *pacer) remove(t *ticket) {
	if i := slices.Index(p.waiting, t); i >= 0 {
		p.waiting = slices.Delete(p.waiting, i, i+1)
		p.broadcast()
	}
}

// wait returns when t may send n bytes, or ctx's error.
func (t *ticket) wait(ctx context.Context, n int) error {
	if t == nil {
		return nil
	}
	p := t.p
	p.mu.Lock()
	i, _ := slices.BinarySearchFunc(p.waiting, t.seq, func(x *ticket, seq uint64) int { return cmp.Compare(x.seq, seq) })
	p.waiting = slices.Insert(p.waiting, i, t)
	p.broadcast()
	for {
		now := time.Now()
		at := p.next
		if earliest := now.Add(-time.Duration(pacerBurst / p.rate * float64(time.Second))); at.Before(earliest) {
			at = earliest
		}
		c := p.chosen(now)
		if c == t && !at.After(now) {
			// A slot that starts late (a timer that fired late, or a
			// send that took a while) does not move the slots after it.
			p.next = at.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
			t.last = now
			p.remove(t)
			p.mu.Unlock()
			return nil
		}
		// Look again at the slot's time if t has it, when t starves if
		// it has not yet, and whenever the waiters change.
		d := time.Duration(-1)
		switch starve := t.last.Add(p.keep); {
		case c == t:
			d = at.Sub(now)
		case starve.After(now):
			d = starve.Sub(now)
		}
		changed := p.changed
		p.mu.Unlock()
		var tm *time.Timer
		var timer <-chan time.Time
		if d >= 0 {
			tm = time.NewTimer(d)
			timer = tm.C
		}
		select {
		case <-changed:
		case <-timer:
		case <-ctx.Done():
		}
		if tm != nil {
			tm.Stop()
		}
		p.mu.Lock()
		if ctx.Err() != nil {
			p.remove(t)
			p.mu.Unlock()
			return ctx.Err()
		}
	}
}
