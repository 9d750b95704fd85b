package blob_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loamdb/loam/internal/blob"
)

// paceLog records when each ticket got its slots, relative to start.
type paceLog struct {
	mu    sync.Mutex
	start time.Time
	got   map[string][]time.Duration
}

func (l *paceLog) send(t *testing.T, ctx context.Context, tk *blob.Ticket, name string, pieces, n int) {
	for range pieces {
		if err := tk.Wait(ctx, n); err != nil {
			return
		}
		l.mu.Lock()
		l.got[name] = append(l.got[name], time.Since(l.start))
		l.mu.Unlock()
	}
}

// TestPacer: answers get their slots first come first served, each slot
// as long as its bytes take at the rate, less a burst of one chunk an idle
// pacer saves up; an answer that has had no slot for keep goes first; a
// waiter that gives up costs the others nothing; nothing is left running
// when the waits end.
func TestPacer(t *testing.T) {
	const MiB = 1 << 20
	ms := func(v ...int) string {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return fmt.Sprint(ds)
	}
	synctest.Test(t, func(t *testing.T) {
		p := blob.NewPacer(MiB, blob.PacerKeep) // bytes per second: the burst is one second
		ctx := context.Background()
		// An idle pacer lets a chunk through at once; the next slot is
		// then a quarter second on.
		start := time.Now()
		p.Take().Wait(ctx, MiB+MiB/4)
		if d := time.Since(start); d != 0 {
			t.Errorf("the burst waited %v", d)
		}
		l := &paceLog{start: time.Now(), got: map[string][]time.Duration{}}
		a, b := p.Take(), p.Take()
		cctx, cancel := context.WithCancel(ctx)
		c := p.Take()
		var wg sync.WaitGroup
		wg.Go(func() { l.send(t, ctx, b, "b", 2, MiB/4) }) // asks first, but took its ticket after a
		synctest.Wait()
		wg.Go(func() { l.send(t, cctx, c, "c", 1, MiB) }) // gives up: costs nothing
		synctest.Wait()
		wg.Go(func() { l.send(t, ctx, a, "a", 4, MiB/4) })
		synctest.Wait()
		cancel()
		wg.Wait()
		if got := fmt.Sprint(l.got["a"]); got != ms(250, 500, 750, 1000) {
			t.Errorf("a's slots at %s, want %s", got, ms(250, 500, 750, 1000))
		}
		if got := fmt.Sprint(l.got["b"]); got != ms(1250, 1500) {
			t.Errorf("b's slots at %s, want %s (after a's)", got, ms(1250, 1500))
		}
		if len(l.got["c"]) != 0 || blob.Waiting(p) != 0 {
			t.Errorf("c got %v; %d waiters left", l.got["c"], blob.Waiting(p))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		p := blob.NewPacer(MiB, time.Second)
		ctx := context.Background()
		p.Take().Wait(ctx, MiB+MiB/4) // spend the burst: the next slot is at 250 ms
		l := &paceLog{start: time.Now(), got: map[string][]time.Duration{}}
		a, b := p.Take(), p.Take()
		var wg sync.WaitGroup
		wg.Go(func() { l.send(t, ctx, a, "a", 12, MiB/4) })
		wg.Go(func() { l.send(t, ctx, b, "b", 2, MiB/4) })
		wg.Wait()
		// b starves after a second: it gets the slot at 1 s, and the next
		// a second after that one.
		if got := fmt.Sprint(l.got["b"]); got != ms(1000, 2000) {
			t.Errorf("b's slots at %s, want %s", got, ms(1000, 2000))
		}
		if got, want := fmt.Sprint(l.got["a"]), ms(250, 500, 750, 1250, 1500, 1750, 2250, 2500, 2750, 3000, 3250, 3500); got != want {
			t.Errorf("a's slots at %s, want %s", got, want)
		}
	})
}
