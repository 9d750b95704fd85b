package node

import (
	"time"

	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
)

// syncLimits is how the node bounds what one sync peer can cost it.
type syncLimits struct {
	// frames bounds how long one frame may take to cross a sync stream.
	frames frame.Timeouts
	// pendingPerPeer and pendingPerSpace bound the commits held waiting
	// for their causal past: per session (one per peer), and per space
	// summed over sessions.
	pendingPerPeer, pendingPerSpace int64
	// ungranted bounds the commits a peer may send whose authors nothing
	// held could grant anything, before it is misbehaving.
	ungranted int64
	// stall is how long held commits may wait for their causal past with
	// no progress before their sender is misbehaving.
	stall time.Duration
	// recheck bounds the wait of commits held for being dated in the
	// future.
	recheck time.Duration
}

// defaultSyncLimits: a peer can make the node hold at most 32 MiB of
// commits waiting for their past (64 MiB per space over all peers),
// send 8 MiB of commits nobody granted, and keep a frame in flight for
// 30 s plus its size at 16 KiB/s.
var defaultSyncLimits = syncLimits{
	frames:          reconcile.DefaultFrameTimeouts,
	pendingPerPeer:  reconcile.DefaultMaxPendingBytes,
	pendingPerSpace: 2 * reconcile.DefaultMaxPendingBytes,
	ungranted:       reconcile.DefaultMaxUngrantedBytes,
	stall:           reconcile.DefaultStallTimeout,
	recheck:         reconcile.DefaultRecheck,
}

// limits are the sync limits of nodes opened from now on; tests that
// need shorter deadlines swap them (never in parallel).
var limits = defaultSyncLimits

// nodeSync is what a node's sync sessions share.
type nodeSync struct {
	limits syncLimits
	budget *reconcile.Budget // pending commits per space, over all sessions
	now    func() time.Time  // Options.Now
	news   *syncNews         // wakes WaitSynced when a session made progress
}

func newNodeSync(now func() time.Time) nodeSync {
	if now == nil {
		now = time.Now
	}
	return nodeSync{limits: limits, budget: reconcile.NewBudget(limits.pendingPerSpace), now: now, news: newSyncNews()}
}

// sessionConfig configures a sync session with peer.
func (n *Node) sessionConfig(peer keys.AuthorID) reconcile.Config {
	l := n.sync.limits
	return reconcile.Config{
		Self: n.dev.Author(), Peer: peer,
		MaxPendingBytes:   l.pendingPerPeer,
		Budget:            n.sync.budget,
		MaxUngrantedBytes: l.ungranted,
		StallTimeout:      l.stall,
		Now:               n.sync.now,
		Recheck:           l.recheck,
		Progress:          n.sync.news.wake,
	}
}
