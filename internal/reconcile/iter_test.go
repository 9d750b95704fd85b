package reconcile

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// iterCounting is a node that counts the store iterators open.
type iterCounting struct {
	*tnode
	open atomic.Int64
}

func (n *iterCounting) Commits(ctx context.Context, sp keys.SpaceID, a keys.AuthorID, from uint64) iter.Seq2[store.StoredCommit, error] {
	return func(yield func(store.StoredCommit, error) bool) {
		n.open.Add(1)
		defer n.open.Add(-1)
		for sc, err := range n.tnode.Commits(ctx, sp, a, from) {
			if !yield(sc, err) {
				return
			}
		}
	}
}

// blockingConn records how many iterators were open at each write of
// commits, and blocks every one after the first until released: a peer
// that stops reading.
type blockingConn struct {
	n       *iterCounting
	mu      sync.Mutex
	writes  int
	openAt  []int64
	blocked chan struct{} // closed when a write blocks
	release chan struct{}
	in      chan []byte
	once    sync.Once
}

func (c *blockingConn) ReadFrame() ([]byte, error) {
	f, ok := <-c.in
	if !ok {
		return nil, fmt.Errorf("closed")
	}
	return f, nil
}

func (c *blockingConn) WriteFrame(b []byte) error {
	if m, err := DecodeMsg(b); err != nil || m.Type != msgCommits {
		return nil
	}
	c.mu.Lock()
	c.writes++
	c.openAt = append(c.openAt, c.n.open.Load())
	first := c.writes == 1 // the first frame of commits goes through
	c.mu.Unlock()
	if first {
		return nil
	}
	c.once.Do(func() { close(c.blocked) })
	<-c.release
	return fmt.Errorf("closed")
}

func (c *blockingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.release:
	default:
		close(c.release)
		close(c.in)
	}
	return nil
}

// TestNoIteratorOpenWhileWriting: a session with a lot to send to a peer
// that stops reading holds no store iterator while its write is blocked,
// and every write happens with none open.
func TestNoIteratorOpenWhileWriting(t *testing.T) {
	c := newCluster(t, 2)
	nd := &iterCounting{tnode: c.nodes[0]}
	sp := c.sk.Space()
	// Over 1 MiB from two authors: several frames.
	for i := range 2 {
		dev := c.nodes[i].dev
		hs, _ := nd.Store.Heads(c.ctx, sp)
		prev, seq := keys.CommitID{}, uint64(0)
		for j := range 20 {
			deps := []keys.CommitID{hs[0].ID}
			if seq > 0 {
				deps = nil
			}
			x, err := commit.Build(commit.Header{Space: sp, Author: dev.Author(), Seq: seq + 1, Prev: prev, Deps: deps, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro()) + uint64(j)}},
				[]commit.Op{commit.Put(fmt.Appendf(nil, "k/%d/%d", i, j), make([]byte, 60<<10))}, dev)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := nd.Store.Apply(c.ctx, sp, []*commit.Commit{x}); err != nil || res.Outcomes[0].Status != store.Applied {
				t.Fatalf("%v %v", res.Outcomes, err)
			}
			prev, seq = x.ID, x.Seq
		}
	}
	peer := keys.DeviceKeyFromSeed([32]byte{55}).Author()
	conn := &blockingConn{n: nd, blocked: make(chan struct{}), release: make(chan struct{}), in: make(chan []byte, 4)}
	s := NewSession(Config{Self: nd.dev.Author(), Peer: peer}, nd, conn)
	done := make(chan error, 1)
	go func() { done <- s.Run(c.ctx) }()
	conn.in <- (&Msg{Type: msgHello, Version: Version, Spaces: []SpaceProof{{Disc: keys.DiscoveryID(sp), Proof: keys.SyncProof(sp, peer, nd.dev.Author())}}}).Encode()
	conn.in <- (&Msg{Type: msgHave, Disc: keys.DiscoveryID(sp)}).Encode() // it has nothing
	select {
	case <-conn.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the session never wrote its commits")
	}
	if open := nd.open.Load(); open != 0 {
		t.Fatalf("%d store iterators open while a write is blocked", open)
	}
	s.Close()
	<-done
	for i, n := range conn.openAt {
		if n != 0 {
			t.Fatalf("write %d with %d store iterators open", i, n)
		}
	}
}
