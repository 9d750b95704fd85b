package node

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// skewed is a wall clock off by an offset plus a shared amount the test
// advances: time passing, without waiting for it.
type skewed struct {
	offset  *atomic.Int64
	elapsed *atomic.Int64
}

func (s skewed) now() time.Time {
	return time.Now().Add(time.Duration(s.offset.Load() + s.elapsed.Load()))
}

func openSkewed(t *testing.T, clock skewed) *Node {
	t.Helper()
	return openWith(t, Options{Home: t.TempDir(), Listen: loopback, NoSync: true, Now: clock.now})
}

// held reports whether one of n's sessions holds commits of id waiting.
func held(n *Node, id keys.SpaceID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.sessions {
		if s.Held(id) > 0 {
			return true
		}
	}
	return false
}

// TestFaultClockSkew is the fault suite's clock skew: three nodes with real
// hosts on loopback; once they joined, one clock is set an hour ahead and
// one an hour behind. Commits dated more than store.MaxFuture ahead of a
// node's clock wait there (those of the node ahead everywhere, everyone's
// on the node behind) and count once their time comes; nothing is refused
// for good, and all end with the same view.
func TestFaultClockSkew(t *testing.T) {
	l := limits
	l.recheck = 100 * time.Millisecond // re-offer held commits soon after the clock moves
	withLimits(t, l)
	ctx := ctxT(t)
	var elapsed, plus, minus, zero atomic.Int64
	on := openSkewed(t, skewed{&zero, &elapsed})
	ahead := openSkewed(t, skewed{&plus, &elapsed})
	behind := openSkewed(t, skewed{&minus, &elapsed})
	sp := newSpace(t, on, "skew")
	id := sp.ID()
	for _, n := range []*Node{ahead, behind} {
		tk := inviteFor(t, on, "skew", commit.RoleWrite, 0)
		if _, err := n.Join(ctx, tk); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	all := []*Node{on, ahead, behind}
	waitFor(t, 15*time.Second, "the joins everywhere", func() bool { return converged(all, id) })
	plus.Store(int64(time.Hour))
	minus.Store(int64(-time.Hour))

	put(t, ahead, id, "ahead", "1") // dated an hour ahead
	put(t, on, id, "on", "1")       // an hour ahead for the node behind
	waitFor(t, 15*time.Second, "the writes from the future to arrive and wait", func() bool { return held(on, id) && held(behind, id) })
	for _, n := range []*Node{on, behind} {
		if _, err := n.st.Get(ctx, id, []byte("ahead")); err == nil {
			t.Fatal("a commit dated an hour ahead counted at once")
		}
	}
	if _, err := behind.st.Get(ctx, id, []byte("on")); err == nil {
		t.Fatal("a commit an hour ahead of the node behind counted there at once")
	}
	// Two hours pass.
	elapsed.Add(int64(2 * time.Hour))
	start := time.Now()
	waitFor(t, 15*time.Second, "the writes from the future to count everywhere", func() bool { return holdKeys(all, id, "ahead", "on") })
	t.Logf("figure: commits from an hour ahead counted everywhere %s after their time came", time.Since(start).Round(time.Millisecond))
	put(t, behind, id, "behind", "1")
	waitFor(t, 15*time.Second, "every write everywhere", func() bool { return converged(all, id) })
	if m := misbehaving(all); m != 0 {
		t.Fatalf("%d refusals: a skewed clock is not misbehaviour", m)
	}
}
