package p2p

import (
	"context"
	"sync"
)

// maxDiscoveryDials bounds the peers discovery dials at once (ConnectAny,
// the bootstrap nodes): with up to 8 addresses dialled per peer, at most
// 64 of the 160 TCP dials go-libp2p's swarm runs at a time.
const maxDiscoveryDials = 8

// dialGate gives the dials a person waits for (a ticket's peers:
// ConnectAddrs; an explicit Connect) precedence over discovery dials. The
// swarm runs at most 160 TCP dials at a time and queues the others first
// come, first served, so discovery dials to addresses that hang (a
// firewall that drops packets, a captive network) would hold a join back
// for their whole timeout. While a priority dial runs, discovery dials wait
// to start and those under way are cancelled: the swarm drops a cancelled
// dial from its queue at once, and their callers retry as they do after
// any failure. docs/design.md, "Reconnecting, tickets and joins (#10)".
type dialGate struct {
	slots chan struct{} // one per discovery dial running, at most maxDiscoveryDials

	mu       sync.Mutex
	priority int                           // priority dials running; guarded by mu
	free     chan struct{}                 // closed when priority drops to 0; guarded by mu
	running  map[uint64]context.CancelFunc // discovery dials under way; guarded by mu
	next     uint64                        // guarded by mu
}

func newDialGate() *dialGate {
	free := make(chan struct{})
	close(free)
	return &dialGate{slots: make(chan struct{}, maxDiscoveryDials), free: free, running: map[uint64]context.CancelFunc{}}
}

// discovery waits for a discovery dial's turn: a free slot and no priority
// dial running. It returns the context to dial with, cancelled if a
// priority dial starts, and the function that ends the turn.
func (g *dialGate) discovery(ctx context.Context) (context.Context, func(), error) {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	for {
		g.mu.Lock()
		if g.priority == 0 {
			cctx, cancel := context.WithCancel(ctx)
			id := g.next
			g.next++
			g.running[id] = cancel
			g.mu.Unlock()
			return cctx, func() {
				g.mu.Lock()
				delete(g.running, id)
				g.mu.Unlock()
				cancel()
				<-g.slots
			}, nil
		}
		free := g.free
		g.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			<-g.slots
			return nil, nil, ctx.Err()
		}
	}
}

// prioritize starts a priority dial: it cancels the discovery dials under
// way and holds new ones back until the returned function is called.
func (g *dialGate) prioritize() func() {
	g.mu.Lock()
	if g.priority == 0 {
		g.free = make(chan struct{})
	}
	g.priority++
	for _, cancel := range g.running {
		cancel()
	}
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.priority--
		if g.priority == 0 {
			close(g.free)
		}
		g.mu.Unlock()
	}
}
