package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// syncNews tells waiters that some sync session made progress (see
// reconcile.Config.Progress): they look again at what they wait for.
type syncNews struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next progress; guarded by mu
}

func newSyncNews() *syncNews { return &syncNews{ch: make(chan struct{})} }

// next returns a channel closed at the next progress after the call.
func (s *syncNews) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// wake closes the current channel. It never blocks for long.
func (s *syncNews) wake() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// WaitSynced waits until space id is in sync with at least one connected
// peer (SpaceSync): this node holds every commit the peer announced, the
// peer holds or was sent every commit held here, and nothing waits for
// its causal past. After a join that is the end of the first sync: what
// the peer had is here, and this device's own commits (its join) went
// out. "Sent" means written to the stream, not yet read by the peer:
// Close delivers it (endSessions), so a caller may close the node right
// after WaitSynced returns. It waits on the sessions' progress, not on a
// timer, and returns ctx's error if ctx ends first, and ErrOffline at
// once for a node without networking.
func (n *Node) WaitSynced(ctx context.Context, id keys.SpaceID) error {
	if n.host == nil {
		return fmt.Errorf("node: wait for sync: %w", ErrOffline)
	}
	for {
		news := n.sync.news.next() // before looking, so no progress is missed
		_, inSync, err := n.SpaceSync(ctx, id)
		if err != nil {
			return err
		}
		if inSync > 0 {
			return nil
		}
		select {
		case <-news:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.ctx.Done():
			return fmt.Errorf("node: wait for sync: %w", store.ErrClosed)
		}
	}
}
