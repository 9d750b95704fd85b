package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/testkit"
)

// chaos configures the in-memory connector's misbehaviour.
type chaos struct {
	dup     float64 // probability a frame is delivered twice
	reorder float64 // probability a Commits frame is held back behind the next one
	cut     float64 // probability the link is cut after a frame
}

// memConn is one end of an in-memory frame pipe that misbehaves as its
// chaos says when it writes.
type memConn struct {
	*testkit.FrameConn
	chaos  chaos
	mu     sync.Mutex
	r      *rand.Rand
	held   []byte // a Commits frame held back (reorder)
	closed func()
}

func memPipe(c chaos, seed uint64) (*memConn, *memConn) {
	pa, pb := testkit.FramePipe(1024)
	a := &memConn{FrameConn: pa, chaos: c, r: rand.New(rand.NewPCG(seed, 1))}
	b := &memConn{FrameConn: pb, chaos: c, r: rand.New(rand.NewPCG(seed, 2))}
	return a, b
}

func (c *memConn) WriteFrame(f []byte) error {
	c.mu.Lock()
	r := c.r.Float64()
	dup := c.r.Float64() < c.chaos.dup
	cut := c.r.Float64() < c.chaos.cut
	c.mu.Unlock()
	m, _ := DecodeMsg(f)
	var send [][]byte
	c.mu.Lock()
	if m != nil && m.Type == msgCommits && c.held == nil && r < c.chaos.reorder {
		// Deliver after the next frame, or after a moment if none comes:
		// a stream delays, it does not lose.
		c.held = f
		time.AfterFunc(2*time.Millisecond, c.flushHeld)
	} else {
		send = append(send, f)
		if c.held != nil {
			send = append(send, c.held)
			c.held = nil
		}
	}
	c.mu.Unlock()
	if dup {
		send = append(send, f)
	}
	for _, x := range send {
		if err := c.FrameConn.WriteFrame(x); err != nil {
			return err
		}
	}
	if cut {
		c.Close()
		return io.ErrClosedPipe
	}
	return nil
}

func (c *memConn) flushHeld() {
	c.mu.Lock()
	f := c.held
	c.held = nil
	c.mu.Unlock()
	if f != nil {
		c.FrameConn.WriteFrame(f)
	}
}

// tnode is a node for tests: a real store, the space's write path, and the
// sessions it runs. The store's methods are the Local ones but Spaces and
// Heads.
type tnode struct {
	*store.Store
	t   *testing.T
	dev keys.DeviceKey
	sp  *space.Space // nil until the genesis arrived
	id  keys.SpaceID

	mu       sync.Mutex
	sessions map[*Session]bool
	spaceMu  sync.Mutex
}

// newTNode opens a test node of device dev holding space id, on an
// in-memory store whose events reach the node's sessions. The caller
// closes the store.
func newTNode(t *testing.T, dev keys.DeviceKey, id keys.SpaceID) *tnode {
	t.Helper()
	n := &tnode{t: t, dev: dev, id: id, sessions: map[*Session]bool{}}
	st, err := store.Open("node", store.Options{FS: vfs.NewMem(), NoSync: true, Notify: n.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	n.Store = st
	return n
}

func (n *tnode) Spaces() []keys.SpaceID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return []keys.SpaceID{n.id}
}

// setSpace changes the space the node holds (TestLateSpace).
func (n *tnode) setSpace(id keys.SpaceID) {
	n.mu.Lock()
	n.id = id
	n.mu.Unlock()
}
func (n *tnode) Heads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error) {
	return n.SyncHeads(ctx, sp) // as the node: withheld tails are not announced
}

// onEvent is the store's Notify: tell the write path, wake the sessions.
func (n *tnode) onEvent(ev store.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.sessions {
		s.Observe(ev)
	}
	if sp := n.space(); sp != nil {
		sp.Observe(ev)
	}
}

func (n *tnode) space() *space.Space {
	n.spaceMu.Lock()
	defer n.spaceMu.Unlock()
	return n.sp
}

// cluster is a set of test nodes sharing one space.
type cluster struct {
	t     *testing.T
	sk    keys.SpaceKey
	nodes []*tnode
	ctx   context.Context
	wg    sync.WaitGroup
	errs  chan error
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &cluster{t: t, sk: keys.SpaceKeyFromSeed([32]byte{42}), ctx: ctx, errs: make(chan error, 1024)}
	t.Cleanup(func() {
		cancel()
		c.wg.Wait()
		for _, nd := range c.nodes {
			nd.Store.Close()
		}
	})
	var grants []commit.Op
	for i := range n {
		var seed [32]byte
		seed[0] = byte(i + 1)
		dev := keys.DeviceKeyFromSeed(seed)
		role := commit.RoleWrite
		if i == 0 {
			role = commit.RoleAdmin
		}
		grants = append(grants, commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: role}))
		c.nodes = append(c.nodes, newTNode(t, dev, c.sk.Space()))
	}
	genesis, err := commit.Build(commit.Header{Space: c.sk.Space(), Author: c.sk.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().Add(-time.Minute).UnixMicro())}}, grants, c.sk)
	if err != nil {
		t.Fatal(err)
	}
	for i, nd := range c.nodes {
		if i == 0 {
			err = nd.Store.CreateSpace(ctx, "s", genesis)
		} else {
			err = nd.Store.AddSpace(ctx, "s", c.sk.Space())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// link runs a session pair between nodes a and b until the link is cut or
// the test ends; reconnect makes it reconnect after every cut.
func (c *cluster) link(a, b int, ch chaos, seed uint64, reconnect bool) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for round := uint64(0); ; round++ {
			ca, cb := memPipe(ch, seed+round)
			na, nb := c.nodes[a], c.nodes[b]
			sa := NewSession(Config{Self: na.dev.Author(), Peer: nb.dev.Author()}, na, ca)
			sb := NewSession(Config{Self: nb.dev.Author(), Peer: na.dev.Author()}, nb, cb)
			na.addSession(sa)
			nb.addSession(sb)
			var wg sync.WaitGroup
			wg.Add(2)
			for _, s := range []*Session{sa, sb} {
				go func() {
					defer wg.Done()
					err := s.Run(c.ctx)
					if err != nil && (ch.cut == 0 || errors.Is(err, ErrMisbehaving)) {
						c.errs <- err
					}
				}()
			}
			wg.Wait()
			na.removeSession(sa)
			nb.removeSession(sb)
			if !reconnect || c.ctx.Err() != nil {
				return
			}
		}
	}()
}

func (n *tnode) addSession(s *Session) {
	n.mu.Lock()
	n.sessions[s] = true
	n.mu.Unlock()
}

func (n *tnode) removeSession(s *Session) {
	n.mu.Lock()
	delete(n.sessions, s)
	n.mu.Unlock()
}

// write makes node i write k random puts as its device, once it has the
// genesis (its grant).
func (c *cluster) write(i int, r *rand.Rand, k int) {
	c.t.Helper()
	nd := c.nodes[i]
	c.waitFor(10*time.Second, fmt.Sprintf("node %d to receive the genesis", i), func() bool {
		hs, _ := nd.Store.Heads(c.ctx, nd.id)
		return len(hs) > 0
	})
	if nd.space() == nil {
		sp, err := space.Open(c.ctx, nd.Store, nd.id, nd.dev, commit.NewClock())
		if err != nil {
			c.t.Fatal(err)
		}
		nd.spaceMu.Lock()
		nd.sp = sp
		nd.spaceMu.Unlock()
	}
	for range k {
		key := fmt.Appendf(nil, "k/%02d", r.IntN(30))
		if _, err := nd.space().Commit(c.ctx, []commit.Op{commit.Put(key, fmt.Appendf(nil, "node %d", i))}); err != nil {
			c.t.Fatalf("node %d write: %v", i, err)
		}
	}
}

// waitFor waits until cond holds, checking every few milliseconds, or
// fails the test at the deadline.
func (c *cluster) waitFor(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case err := <-c.errs:
			c.t.Fatalf("session error while waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}

// converged reports whether every node holds the same heads and view hash.
func (c *cluster) converged(nodes ...int) bool {
	if len(nodes) == 0 {
		for i := range c.nodes {
			nodes = append(nodes, i)
		}
	}
	var ref string
	for k, i := range nodes {
		s, ok := storetest.State(c.ctx, c.nodes[i].Store, c.nodes[i].id)
		if !ok {
			return false
		}
		if k == 0 {
			ref = s
		} else if s != ref {
			return false
		}
	}
	return true
}
