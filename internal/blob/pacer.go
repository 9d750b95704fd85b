package blob

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer bounds the bytes per second of the answers a Server sends (a
// node's upload rate). The bytes are counted by a token bucket
// (golang.org/x/time/rate) of PacerBurst bytes, which an idle pacer saves
// up; the Pacer decides whose turn it is.
//
// Each answer takes a Ticket when it arrives and sends its bytes in
// pieces, each once the pacer gives it a slot. A slot starts once the
// bytes of the slots before it are paid for (the bucket is not in debt)
// and takes its own bytes from the bucket at once: a piece is paid for
// after it is sent, so the order of the slots is decided at their start,
// and a slot lasts n / rate for n bytes.
//
// Slots go to the oldest waiting ticket, so answers are served first come
// first served and each completes as soon as it can (which a download's
// endgame relies on), except that a ticket that has sent nothing for keep
// goes first: every answer in progress then gets some bytes at least that
// often, as long as fewer than keep / (piece time) are starving, and its
// client, which waits for the next byte for a minute
// (DefaultRequestTimeout), does not take a queue for a peer that stopped.
// A waiter that gives up (its request was cancelled) costs the others
// nothing. Every wait happens on the waiting goroutine, with its own
// timer: the pacer starts no goroutine and no timer that could outlive
// its callers.
type Pacer struct {
	rate float64       // bytes per second
	keep time.Duration // see above
	lim  *rate.Limiter // the bytes sent; used under mu only

	mu      sync.Mutex
	taken   uint64        // tickets taken; guarded by mu
	waiting []*Ticket     // tickets in wait, oldest first; guarded by mu
	changed chan struct{} // closed and replaced when waiting or the bucket changes; guarded by mu
}

// Ticket is one answer's place in a Pacer.
type Ticket struct {
	p    *Pacer
	seq  uint64    // take order
	last time.Time // when it last got a slot, or was taken; guarded by p.mu
}

const (
	// PacerBurst is what an idle pacer lets through at once: one chunk,
	// as when chunks were paced whole.
	PacerBurst = ChunkSize
	// PacerKeep is how long an answer in progress may go without a slot
	// before it goes first.
	PacerKeep = 10 * time.Second
)

// NewPacer returns a pacer of rate bytes per second whose answers go first
// after keep without a slot (PacerKeep in a daemon), or nil (no bound) if
// rate is not positive.
func NewPacer(bytesPerSecond int64, keep time.Duration) *Pacer {
	if bytesPerSecond <= 0 {
		return nil
	}
	return &Pacer{
		rate: float64(bytesPerSecond), keep: keep,
		lim:     rate.NewLimiter(rate.Limit(bytesPerSecond), PacerBurst),
		changed: make(chan struct{}),
	}
}

// Piece returns the size of the pieces to pace a send in: an eighth of a
// second at the rate, within minPiece and maxPiece (maxPiece if p is nil).
func (p *Pacer) Piece() int {
	if p == nil {
		return maxPiece
	}
	return min(max(int(p.rate/8), minPiece), maxPiece)
}

// Take returns the ticket of an answer that arrives now (nil if p is nil).
func (p *Pacer) Take() *Ticket {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken++
	return &Ticket{p: p, seq: p.taken, last: time.Now()}
}

// broadcast wakes every waiter to look again. p.mu is held.
func (p *Pacer) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// chosen returns the waiting ticket the next slot is for. p.mu is held.
func (p *Pacer) chosen(now time.Time) *Ticket {
	var starved *Ticket
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
func (p *Pacer) remove(t *Ticket) {
	if i := slices.Index(p.waiting, t); i >= 0 {
		p.waiting = slices.Delete(p.waiting, i, i+1)
		p.broadcast()
	}
}

// owed returns how long until the bucket is out of debt at now: zero if
// it is (less than a byte owed counts as paid, so that rounding cannot
// make a wait of no time). p.mu is held.
func (p *Pacer) owed(now time.Time) time.Duration {
	tokens := p.lim.TokensAt(now)
	if tokens > -1 {
		return 0
	}
	return max(time.Duration(-tokens/p.rate*float64(time.Second)), time.Nanosecond)
}

// spend takes n bytes from the bucket at now, in parts of at most the
// burst (the limiter reserves no more at once). p.mu is held.
func (p *Pacer) spend(now time.Time, n int) {
	for n > 0 {
		k := min(n, PacerBurst)
		p.lim.ReserveN(now, k) // acted on at once: the next slot waits for it
		n -= k
	}
}

// Wait returns when t may send n bytes, or ctx's error.
func (t *Ticket) Wait(ctx context.Context, n int) error {
	if t == nil {
		return nil
	}
	p := t.p
	p.mu.Lock()
	i, _ := slices.BinarySearchFunc(p.waiting, t.seq, func(x *Ticket, seq uint64) int { return cmp.Compare(x.seq, seq) })
	p.waiting = slices.Insert(p.waiting, i, t)
	p.broadcast()
	for {
		now := time.Now()
		owed := p.owed(now)
		c := p.chosen(now)
		if c == t && owed == 0 {
			p.spend(now, n)
			t.last = now
			p.remove(t)
			p.mu.Unlock()
			return nil
		}
		// Look again when the slot is paid for if t has it, when t
		// starves if it has not yet, and whenever the waiters change.
		d := time.Duration(-1)
		switch starve := t.last.Add(p.keep); {
		case c == t:
			d = owed
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
