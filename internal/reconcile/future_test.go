package reconcile

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// multiNode is a test node holding several spaces in one store.
type multiNode struct {
	*tnode
	spaces []keys.SpaceID
}

func (n *multiNode) Spaces() []keys.SpaceID { return n.spaces }

// addSpace creates in c's node 0 another space whose genesis grants
// writing to every node of c, and returns it.
func (c *cluster) addSpace(seed byte) keys.SpaceID {
	c.t.Helper()
	sk := keys.SpaceKeyFromSeed([32]byte{seed})
	var grants []commit.Op
	for _, nd := range c.nodes {
		grants = append(grants, commit.GrantOp(commit.Grant{Subject: nd.dev.Author(), Role: commit.RoleAdmin}))
	}
	g, err := commit.Build(commit.Header{Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().Add(-time.Minute).UnixMicro())}}, grants, sk)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.nodes[0].Store.CreateSpace(c.ctx, "s2", g); err != nil {
		c.t.Fatal(err)
	}
	return sk.Space()
}

// future builds a commit of node i's device in sp, dated in after the
// hold-back limit.
func (c *cluster) future(i int, sp keys.SpaceID, in time.Duration, key string) *commit.Commit {
	c.t.Helper()
	hs, err := c.nodes[0].Store.Heads(c.ctx, sp)
	if err != nil || len(hs) == 0 {
		c.t.Fatalf("heads of %s: %v", sp, err)
	}
	dev := c.nodes[i].dev
	x, err := commit.Build(commit.Header{Space: sp, Author: dev.Author(), Seq: 1, Deps: []keys.CommitID{hs[0].ID},
		Time: commit.HLC{Wall: uint64(time.Now().Add(store.MaxFuture + in).UnixMicro())}}, []commit.Op{commit.Put([]byte(key), []byte("x"))}, dev)
	if err != nil {
		c.t.Fatal(err)
	}
	return x
}

func (c *cluster) applied(sp keys.SpaceID, key string) bool {
	_, err := c.nodes[0].Store.Get(c.ctx, sp, []byte(key))
	return err == nil
}

// TestFutureCommitHeldBack: a commit dated past the limit is not applied
// when its frame has been processed, and is applied once it is within the
// limit, with no further frame from the peer. (Fake time: synctest.)
func TestFutureCommitHeldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2)
		sp := c.sk.Space()
		p := newRawPeer(t, c.ctx, c.nodes[0], sp, c.nodes[1].dev.Author(), Config{})
		p.commits(c.future(1, sp, time.Hour, "k/future"))
		synctest.Wait() // the frame is processed
		if c.applied(sp, "k/future") {
			t.Fatal("a commit dated past the limit was applied at once")
		}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if c.applied(sp, "k/future") {
			t.Fatal("a commit dated past the limit was applied before it was within it")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !c.applied(sp, "k/future") {
			t.Fatal("the held commit was not applied once within the limit")
		}
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFutureCommitsEverySpace: commits held back in several spaces are
// each offered again when they are due: a later, more distant one in
// another space does not delay an earlier one, and two due at once are
// both applied.
func TestFutureCommitsEverySpace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2)
		sp1, sp2 := c.sk.Space(), c.addSpace(43)
		nd := &multiNode{tnode: c.nodes[0], spaces: []keys.SpaceID{sp1, sp2}}
		ctx, cancel := context.WithCancel(c.ctx)
		defer cancel()
		ours, theirs := memPipe(chaos{}, 1)
		s := NewSession(Config{Self: nd.dev.Author(), Peer: c.nodes[1].dev.Author()}, nd, ours)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		go func() {
			for {
				if _, err := theirs.ReadFrame(); err != nil {
					return
				}
			}
		}()
		peer := c.nodes[1].dev.Author()
		var proofs []SpaceProof
		for _, sp := range nd.spaces {
			proofs = append(proofs, SpaceProof{Disc: keys.DiscoveryID(sp), Proof: keys.SyncProof(sp, peer, nd.dev.Author())})
		}
		theirs.FrameConn.WriteFrame((&Msg{Type: msgHello, Version: Version, Spaces: proofs}).Encode())
		send := func(sp keys.SpaceID, x *commit.Commit) {
			theirs.FrameConn.WriteFrame((&Msg{Type: msgCommits, Disc: keys.DiscoveryID(sp), Commits: [][]byte{x.Bytes()}}).Encode())
		}
		send(sp1, c.future(1, sp1, 10*time.Minute, "soon"))
		send(sp2, c.future(1, sp2, 2*time.Hour, "later")) // after the sooner one
		synctest.Wait()
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		if !c.applied(sp1, "soon") {
			t.Fatal("a commit held in one space waited for a later one in another")
		}
		if c.applied(sp2, "later") {
			t.Fatal("applied before its time")
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if !c.applied(sp2, "later") {
			t.Fatal("the later commit was not applied")
		}
		// Two due at the same time, in two spaces: both are applied.
		a := c.future(0, sp1, 5*time.Minute, "both/1")
		b := c.future(0, sp2, 5*time.Minute, "both/2")
		send(sp1, a)
		send(sp2, b)
		synctest.Wait()
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if !c.applied(sp1, "both/1") || !c.applied(sp2, "both/2") {
			t.Fatalf("two commits due at once: applied %v and %v", c.applied(sp1, "both/1"), c.applied(sp2, "both/2"))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
