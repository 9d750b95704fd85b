package space_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// change returns a change of key written by author a at seq.
func change(key string, a byte, seq uint64) store.Change {
	return store.Change{Key: []byte(key), Entry: view.Entry{
		Version: view.Version{Author: keys.AuthorID{a}, Seq: seq},
		Kind:    commit.KindPut,
		Value:   []byte(key),
	}}
}

// receive reads n changes from ch, failing the test if they do not arrive
// within a few seconds, the channel closes first or a resync comes.
func receive(t *testing.T, ch <-chan space.Event, n int) []store.Change {
	t.Helper()
	out := make([]store.Change, 0, n)
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d changes", len(out), n)
			}
			if ev.Resync {
				t.Fatalf("resync after %d of %d changes", len(out), n)
			}
			out = append(out, ev.Change)
		case <-timeout:
			t.Fatalf("received %d of %d changes", len(out), n)
		}
	}
	return out
}

// waitClosed fails the test unless ch is closed within a few seconds,
// discarding anything still in it.
func waitClosed(t *testing.T, ch <-chan space.Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed after its context ended")
		}
	}
}

func changeKeys(cs []store.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c.Key)
	}
	return out
}

func TestWatchHub(t *testing.T) {
	spA, spB := keys.SpaceID{0xa}, keys.SpaceID{0xb}

	t.Run("each watcher gets its changes in order", func(t *testing.T) {
		h := space.NewHub()
		defer h.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tools := h.Watch(ctx, spA, []byte("tools/"))
		seeds := h.Watch(ctx, spA, []byte("seeds/"))
		other := h.Watch(ctx, spB, []byte("tools/"))

		h.Publish(spA, []store.Change{change("tools/drill", 1, 1), change("seeds/kale", 1, 2), change("notes", 1, 3), change("tools/saw", 2, 1)})
		h.Publish(spB, []store.Change{change("tools/hammer", 3, 1), change("seeds/bean", 3, 2)})
		h.Publish(spA, nil)
		h.Publish(spA, []store.Change{change("seeds/bean", 2, 2), change("tool", 2, 3), change("tools/drill", 1, 4)})
		// A last change under each prefix shows nothing else was queued before it.
		h.Publish(spA, []store.Change{change("tools/~end", 9, 1), change("seeds/~end", 9, 2)})
		h.Publish(spB, []store.Change{change("tools/~end", 9, 3)})

		for _, tt := range []struct {
			name string
			ch   <-chan space.Event
			want []string
		}{
			{"tools/ in A", tools, []string{"tools/drill", "tools/saw", "tools/drill", "tools/~end"}},
			{"seeds/ in A", seeds, []string{"seeds/kale", "seeds/bean", "seeds/~end"}},
			{"tools/ in B", other, []string{"tools/hammer", "tools/~end"}},
		} {
			got := changeKeys(receive(t, tt.ch, len(tt.want)))
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
			}
		}
		cancel()
		for _, ch := range []<-chan space.Event{tools, seeds, other} {
			waitClosed(t, ch)
		}
	})

	t.Run("cancelling a watcher closes only its channel", func(t *testing.T) {
		h := space.NewHub()
		defer h.Close()
		ctx1, cancel1 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		w1 := h.Watch(ctx1, spA, nil)
		w2 := h.Watch(ctx2, spA, nil)
		h.Publish(spA, []store.Change{change("a", 1, 1)})
		cancel1() // with a change not yet read
		waitClosed(t, w1)
		h.Publish(spA, []store.Change{change("b", 1, 2)}) // must not block or panic
		if got := changeKeys(receive(t, w2, 2)); strings.Join(got, " ") != "a b" {
			t.Errorf("the other watcher got %q, want [a b]", got)
		}
		cancel2()
		waitClosed(t, w2)
		h.Publish(spA, []store.Change{change("c", 1, 3)})
		if st := h.Stats(); st.Queued != 0 {
			t.Errorf("%d bytes queued after every watcher ended", st.Queued)
		}
	})

	t.Run("Publish never blocks on a watcher nobody reads", func(t *testing.T) {
		const n = 10_000 // within the limits: nothing is dropped
		h := space.NewHub()
		defer h.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		unread := h.Watch(ctx, spA, nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				h.Publish(spA, []store.Change{change(fmt.Sprintf("k/%05d", i), 1, uint64(i+1))})
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Publish blocked on a watcher that does not read")
		}
		got := receive(t, unread, n)
		for i, c := range got {
			if want := fmt.Sprintf("k/%05d", i); string(c.Key) != want || c.Entry.Seq != uint64(i+1) {
				t.Fatalf("change %d is %s seq %d, want %s seq %d", i, c.Key, c.Entry.Seq, want, i+1)
			}
		}
		select {
		case ev := <-unread:
			t.Errorf("extra event %+v after %d", ev, n)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		waitClosed(t, unread)
	})

	t.Run("Close ends every watcher", func(t *testing.T) {
		h := space.NewHub()
		w := h.Watch(context.Background(), spA, nil)
		h.Publish(spA, []store.Change{change("a", 1, 1)}) // left unread
		h.Close()
		waitClosed(t, w)
		waitClosed(t, h.Watch(context.Background(), spA, nil))
		h.Close()
	})

	t.Run("the queued changes are copies", func(t *testing.T) {
		h := space.NewHub()
		defer h.Close()
		w := h.Watch(context.Background(), spA, nil)
		c := change("k", 1, 1)
		h.Publish(spA, []store.Change{c})
		c.Key[0], c.Entry.Value[0] = 'x', 'x' // the store reuses its buffers
		if got := receive(t, w, 1)[0]; string(got.Key) != "k" || string(got.Entry.Value) != "k" {
			t.Errorf("got %q=%q, want the bytes as published", got.Key, got.Entry.Value)
		}
	})
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bigChange is a change of key k/i with a 1 KiB value.
func bigChange(i int) store.Change {
	c := change(fmt.Sprintf("k/%06d", i), 1, uint64(i+1))
	c.Entry.Value = make([]byte, 1<<10)
	return c
}

// TestStalledWatcherBounded: a watcher that stops reading while 100 MB of
// changes are published holds no more than the hub's limit (and the heap
// does not grow by more), then gets a resync and every change after it.
func TestStalledWatcherBounded(t *testing.T) {
	sp := keys.SpaceID{0xa}
	h := space.NewHub()
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalled := h.Watch(ctx, sp, nil)
	before := heapInUse()
	const n = 100_000
	for i := range n {
		h.Publish(sp, []store.Change{bigChange(i)})
		if q := h.Stats().Queued; q > space.DefaultHubLimits.Bytes {
			t.Fatalf("%d bytes queued after %d changes, over the limit of %d", q, i+1, space.DefaultHubLimits.Bytes)
		}
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grew by %.1f MiB; %d bytes queued", float64(grown)/(1<<20), h.Stats().Queued)
	if grown > 32<<20 {
		t.Fatalf("the heap grew by %d MiB for one stalled watcher, want under 32", grown>>20)
	}

	// The reader comes back: the changes queued before the overflow, then
	// a resync, then every change published after it.
	var got []store.Change
	resynced := false
	for !resynced {
		ev := <-stalled
		if ev.Resync {
			resynced = true
		} else {
			got = append(got, ev.Change)
		}
	}
	for i, c := range got {
		if want := fmt.Sprintf("k/%06d", i); string(c.Key) != want {
			t.Fatalf("change %d before the resync is %s, want %s", i, c.Key, want)
		}
	}
	if st := h.Stats(); st.Resyncs != 1 || st.Queued != 0 {
		t.Errorf("stats %+v: want 1 resync and nothing queued once it is sent", st)
	}
	h.Publish(sp, []store.Change{bigChange(n), bigChange(n + 1)})
	if keys := changeKeys(receive(t, stalled, 2)); strings.Join(keys, " ") != fmt.Sprintf("k/%06d k/%06d", n, n+1) {
		t.Errorf("after the resync: %q", keys)
	}
}

// TestSlowAndFastWatchers: while stalled watchers resync, a watcher that
// keeps up misses nothing, and the hub stays under its total limit.
func TestSlowAndFastWatchers(t *testing.T) {
	sp := keys.SpaceID{0xa}
	limits := space.HubLimits{Bytes: 64 << 10, Changes: 100, Total: 256 << 10}
	h := space.NewHubLimits(limits)
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fast := h.Watch(ctx, sp, nil)
	var stalled []<-chan space.Event
	for range 20 {
		stalled = append(stalled, h.Watch(ctx, sp, nil))
	}
	const n = 2_000
	for i := range n {
		h.Publish(sp, []store.Change{bigChange(i)})
		if q := h.Stats().Queued; q > limits.Total {
			t.Fatalf("%d bytes queued, over the total limit of %d", q, limits.Total)
		}
		// The fast watcher reads each change before the next is
		// published: it keeps up, whatever the machine's load.
		if got := receive(t, fast, 1)[0]; string(got.Key) != fmt.Sprintf("k/%06d", i) {
			t.Fatalf("fast watcher: change %d is %s", i, got.Key)
		}
	}
	st := h.Stats()
	t.Logf("%+v", st)
	// One per stalled watcher, or two if its goroutine had taken the
	// first resync off the queue and waits to send it: a resync stays due
	// until then, whatever else is dropped.
	if st.Resyncs < 20 || st.Resyncs > 40 {
		t.Errorf("%d resyncs, want one or two per stalled watcher", st.Resyncs)
	}
	for i, ch := range stalled {
		// What was sent before the overflow, then the resync.
		timeout := time.After(10 * time.Second)
		for resynced := false; !resynced; {
			select {
			case ev := <-ch:
				resynced = ev.Resync
			case <-timeout:
				t.Fatalf("stalled watcher %d got no resync", i)
			}
		}
	}
}
