package space

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Event is what a watcher receives: one change, or a resync.
type Event struct {
	// Change is a change of a key's visible value, unless Resync.
	Change store.Change
	// Resync says that changes were dropped here because the watcher fell
	// behind (its queue reached the hub's limits). The watcher should
	// read the keys it shows again, then go on: the events after a Resync
	// are every change applied after the drop, in apply order.
	Resync bool
}

// HubLimits bound the memory of a hub's queues. A change counts its key,
// its value and changeOverhead bytes.
type HubLimits struct {
	Bytes   int64 // queued per watcher
	Changes int   // queued per watcher
	Total   int64 // queued over all watchers
}

// DefaultHubLimits fit a max-size commit (commit.MaxCommitSize) in one
// watcher's queue, and keep a hub under 64 MiB whatever the number of
// watchers.
var DefaultHubLimits = HubLimits{Bytes: 8 << 20, Changes: 32 << 10, Total: 64 << 20}

// changeOverhead is what a queued change costs besides its key and value:
// the Change and its Entry, and the slice slot.
const changeOverhead = 160

// Hub fans the store's changes out to watchers. Publish is called on the
// store's applier goroutine and never blocks: each watcher has a queue
// bounded by the hub's limits, drained by its own goroutine, which stops
// when the watcher's context ends or the hub closes. Changes reach each
// watcher in apply order; a watcher whose queue would pass a limit loses
// its queue and gets a resync event instead (see Event).
type Hub struct {
	limits HubLimits
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the watchers' goroutines

	queued  atomic.Int64  // bytes queued over all watchers
	resyncs atomic.Uint64 // resync events decided

	mu       sync.Mutex
	watchers map[*watcher]struct{} // guarded by mu
}

// NewHub returns an empty hub with DefaultHubLimits.
func NewHub() *Hub { return NewHubLimits(DefaultHubLimits) }

// NewHubLimits returns an empty hub with limits l.
func NewHubLimits(l HubLimits) *Hub {
	h := &Hub{limits: l, watchers: map[*watcher]struct{}{}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// HubStats describe a hub's queues.
type HubStats struct {
	Watchers int
	Queued   int64  // bytes queued over all watchers
	Resyncs  uint64 // resync events decided since the hub was made
}

// Stats returns the hub's current figures.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	n := len(h.watchers)
	h.mu.Unlock()
	return HubStats{Watchers: n, Queued: h.queued.Load(), Resyncs: h.resyncs.Load()}
}

// Close ends every watcher (their channels close) and waits for their
// goroutines. Watch channels made after Close are closed at once.
// Close is idempotent.
func (h *Hub) Close() {
	h.cancel()
	h.wg.Wait()
}

type watcher struct {
	space  keys.SpaceID
	prefix []byte
	out    chan Event
	wake   chan struct{} // buffered 1: there is something to send

	mu     sync.Mutex
	queue  []store.Change // guarded by mu
	bytes  int64          // of queue, as the limits count; guarded by mu
	resync bool           // a resync is due before queue; guarded by mu
}

func changeSize(c store.Change) int64 {
	return int64(len(c.Key)+len(c.Entry.Value)) + changeOverhead
}

// Publish queues changes for every watcher of sp whose prefix matches.
// The changes are copied: the queues hold only the bytes they count.
func (h *Hub) Publish(sp keys.SpaceID, changes []store.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var (
		own   []store.Change // the copies, made when first needed
		owned []bool         // own[i] is made
	)
	for w := range h.watchers {
		if w.space != sp {
			continue
		}
		n := 0
		for i, c := range changes {
			if !bytes.HasPrefix(c.Key, w.prefix) {
				continue
			}
			if owned == nil || !owned[i] {
				if own == nil {
					own, owned = make([]store.Change, len(changes)), make([]bool, len(changes))
				}
				own[i] = c
				own[i].Key = bytes.Clone(c.Key)
				own[i].Entry.Value = bytes.Clone(c.Entry.Value)
				owned[i] = true
			}
			if h.queue(w, own[i]) {
				n++
			}
		}
		if n > 0 {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// queue adds c to w's queue, or drops w's queue for a resync if c does not
// fit. It reports whether w has something new to send. h.mu is held.
func (h *Hub) queue(w *watcher, c store.Change) bool {
	size := changeSize(c)
	for h.queued.Load()+size > h.limits.Total {
		// The hub is full: the watcher with the longest queue resyncs.
		var big *watcher
		var most int64 = -1
		for x := range h.watchers {
			x.mu.Lock()
			if x.bytes > most {
				big, most = x, x.bytes
			}
			x.mu.Unlock()
		}
		if most <= 0 {
			break // only c itself is too large: w's own limit decides
		}
		big.mu.Lock()
		h.overflow(big)
		big.mu.Unlock()
		if big != w {
			select {
			case big.wake <- struct{}{}:
			default:
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.resync {
		// A resync is due and not yet sent (so nothing is queued): the
		// watcher reads the state after it, which will have c.
		return true
	}
	if w.bytes+size > h.limits.Bytes || len(w.queue)+1 > h.limits.Changes || h.queued.Load()+size > h.limits.Total {
		h.overflow(w)
		return true
	}
	w.queue = append(w.queue, c)
	w.bytes += size
	h.queued.Add(size)
	return true
}

// overflow drops w's queue and makes a resync due. w.mu is held.
func (h *Hub) overflow(w *watcher) {
	clear(w.queue)
	w.queue = nil
	h.queued.Add(-w.bytes)
	w.bytes = 0
	if !w.resync {
		w.resync = true
		h.resyncs.Add(1)
	}
}

// Watch returns a channel of the changes to keys of sp under prefix, from
// now on, and of resync events when the reader falls behind (see Event).
// The channel is closed after ctx ends or the hub closes.
func (h *Hub) Watch(ctx context.Context, sp keys.SpaceID, prefix []byte) <-chan Event {
	w := &watcher{space: sp, prefix: bytes.Clone(prefix), out: make(chan Event), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.ctx.Err() != nil {
		h.mu.Unlock()
		close(w.out)
		return w.out
	}
	h.watchers[w] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer close(w.out)
		defer func() {
			h.mu.Lock()
			delete(h.watchers, w)
			h.mu.Unlock()
			w.mu.Lock()
			h.overflow(w) // releases what is still queued
			w.mu.Unlock()
		}()
		for {
			ev, ok := w.next(h)
			if !ok {
				select {
				case <-w.wake:
					continue
				case <-ctx.Done():
				case <-h.ctx.Done():
				}
				return
			}
			select {
			case w.out <- ev:
			case <-ctx.Done():
				return
			case <-h.ctx.Done():
				return
			}
		}
	}()
	return w.out
}

// next takes the next event to send off w's queue: a due resync first.
func (w *watcher) next(h *Hub) (Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.resync {
		w.resync = false
		return Event{Resync: true}, true
	}
	if len(w.queue) == 0 {
		return Event{}, false
	}
	c := w.queue[0]
	w.queue[0] = store.Change{} // the backing array must not keep it
	w.queue = w.queue[1:]
	size := changeSize(c)
	w.bytes -= size
	h.queued.Add(-size)
	return Event{Change: c}, true
}
