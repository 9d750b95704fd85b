package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// fullNode is a test node whose disk can be made full: Apply and Writable
// then fail as the store's do.
type fullNode struct {
	*tnode
	full atomic.Bool
}

var errTestFull = fmt.Errorf("%w: the test's disk is full", store.ErrDiskFull)

func (n *fullNode) Apply(ctx context.Context, sp keys.SpaceID, cs []*commit.Commit) (store.Result, error) {
	if n.full.Load() {
		return store.Result{}, errTestFull
	}
	return n.tnode.Apply(ctx, sp, cs)
}

func (n *fullNode) Writable(need uint64) error {
	if n.full.Load() {
		return errTestFull
	}
	return nil
}

// TestDiskFullPausesSync: a node whose disk is full keeps its session (it
// still serves the peer) and lets go what it receives; once there is room
// again the session ends without error and the next one brings what was
// let go. Before, the first Apply that found the disk full ended the
// session with an error, and the peers reopened it at once, again and
// again, the sender sending everything each time.
func TestDiskFullPausesSync(t *testing.T) {
	c := newCluster(t, 2)
	full := &fullNode{tnode: c.nodes[1]}
	full.full.Store(true)
	var started atomic.Int64
	errs := make(chan error, 16)
	var latest atomic.Pointer[Session]
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for c.ctx.Err() == nil {
			ca, cb := memPipe(chaos{}, uint64(started.Load()))
			na := c.nodes[0]
			sa := NewSession(Config{Self: na.dev.Author(), Peer: full.dev.Author()}, na, ca)
			sb := NewSession(Config{Self: full.dev.Author(), Peer: na.dev.Author(), DiskRecheck: 20 * time.Millisecond}, full, cb)
			started.Add(1)
			latest.Store(sb)
			na.addSession(sa)
			full.addSession(sb)
			var wg sync.WaitGroup
			for _, s := range []*Session{sa, sb} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.Run(c.ctx); err != nil && !errors.Is(err, context.Canceled) {
						select {
						case errs <- err:
						default:
						}
					}
				}()
			}
			wg.Wait()
			na.removeSession(sa)
			full.removeSession(sb)
		}
	}()
	noError := func() {
		t.Helper()
		select {
		case err := <-errs:
			t.Fatalf("a session ended with an error: %v", err)
		default:
		}
	}

	// The genesis is let go at first: the full node holds nothing.
	r := rand.New(rand.NewPCG(7, 7))
	c.write(0, r, 40)
	c.waitFor(10*time.Second, "the full node to let the commits go", func() bool {
		s := latest.Load()
		return s != nil && s.Stats.CommitsLetGo.Load() >= 40
	})
	noError()
	if n := started.Load(); n != 1 {
		t.Fatalf("%d sessions while the disk was full; want the first to go on", n)
	}
	if hs, _ := full.Store.Heads(c.ctx, full.id); len(hs) != 0 {
		t.Fatalf("the full node stored %v", hs)
	}

	// Room again: one new session brings everything.
	full.full.Store(false)
	c.waitFor(20*time.Second, "the nodes to converge once there is room", func() bool {
		noError()
		return c.converged()
	})
	if n := started.Load(); n != 2 {
		t.Fatalf("%d sessions; want one more once there was room", n)
	}
}
