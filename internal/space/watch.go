package space

import (
	"bytes"
	"context"
	"sync"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Hub fans the store's changes out to watchers. Publish is called on the
// store's applier goroutine and never blocks: each watcher has an unbounded
// queue drained by its own goroutine, which stops when the watcher's
// context ends. Changes reach each watcher in apply order.
type Hub struct {
	mu       sync.Mutex
	watchers map[*watcher]struct{} // guarded by mu
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{watchers: map[*watcher]struct{}{}} }

type watcher struct {
	space  keys.SpaceID
	prefix []byte
	out    chan store.Change

	mu    sync.Mutex
	queue []store.Change // guarded by mu
	wake  chan struct{}  // buffered 1: queue is non-empty
}

// Publish queues changes for every watcher of sp whose prefix matches.
func (h *Hub) Publish(sp keys.SpaceID, changes []store.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		if w.space != sp {
			continue
		}
		n := 0
		w.mu.Lock()
		for _, c := range changes {
			if bytes.HasPrefix(c.Key, w.prefix) {
				w.queue = append(w.queue, c)
				n++
			}
		}
		w.mu.Unlock()
		if n > 0 {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Watch returns a channel of the changes to keys of sp under prefix, from
// now on. The channel is closed after ctx ends.
func (h *Hub) Watch(ctx context.Context, sp keys.SpaceID, prefix []byte) <-chan store.Change {
	w := &watcher{space: sp, prefix: bytes.Clone(prefix), out: make(chan store.Change), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	go func() {
		defer close(w.out)
		defer func() {
			h.mu.Lock()
			delete(h.watchers, w)
			h.mu.Unlock()
		}()
		for {
			w.mu.Lock()
			q := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, c := range q {
				select {
				case w.out <- c:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return w.out
}
