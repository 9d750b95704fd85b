package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// rawPeer runs a session of nd with a peer that is only the test: it sends
// frames and drains what the session sends.
type rawPeer struct {
	s    *Session
	end  *memConn
	done chan error
	sp   keys.SpaceID
	who  keys.AuthorID
	self keys.AuthorID
}

func newRawPeer(t *testing.T, ctx context.Context, nd *tnode, sp keys.SpaceID, who keys.AuthorID, cfg Config) *rawPeer {
	t.Helper()
	ours, theirs := memPipe(chaos{}, 1)
	cfg.Self, cfg.Peer = nd.dev.Author(), who
	p := &rawPeer{s: NewSession(cfg, nd, ours), end: theirs, done: make(chan error, 1), sp: sp, who: who, self: nd.dev.Author()}
	nd.addSession(p.s)
	go func() { p.done <- p.s.Run(ctx) }()
	go func() {
		for {
			if _, err := theirs.ReadFrame(); err != nil {
				return
			}
		}
	}()
	p.send(&Msg{Type: msgHello, Version: Version, Spaces: []SpaceProof{{Disc: keys.DiscoveryID(sp), Proof: keys.SyncProof(sp, who, nd.dev.Author())}}})
	return p
}

func (p *rawPeer) send(m *Msg) { p.end.FrameConn.WriteFrame(m.Encode()) }

func (p *rawPeer) commits(cs ...*commit.Commit) {
	var raw [][]byte
	for _, c := range cs {
		raw = append(raw, c.Bytes())
	}
	p.send(&Msg{Type: msgCommits, Disc: keys.DiscoveryID(p.sp), Commits: raw})
}

// stop ends the session and returns Run's error.
func (p *rawPeer) stop() error {
	p.end.Close()
	return <-p.done
}

// ended reports Run's error if the session ended.
func (p *rawPeer) ended() (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return err, true
	default:
		return nil, false
	}
}

// running fails the test if the session has ended; what says what should
// not have ended it.
func (p *rawPeer) running(t *testing.T, what string) {
	t.Helper()
	if err, ended := p.ended(); ended {
		t.Fatalf("%s: the session ended: %v", what, err)
	}
}

// endedWith fails the test unless the session has ended with target.
func (p *rawPeer) endedWith(t *testing.T, target error, what string) {
	t.Helper()
	if err, ended := p.ended(); !ended || !errors.Is(err, target) {
		t.Fatalf("%s: session: %v (ended %v), want %v", what, err, ended, target)
	}
}

// build signs a commit of key in the cluster's space.
func (c *cluster) build(key commit.Signer, author keys.AuthorID, seq uint64, prev keys.CommitID, deps []keys.CommitID, at time.Time, ops ...commit.Op) *commit.Commit {
	c.t.Helper()
	deps = slices.Clone(deps)
	slices.SortFunc(deps, func(a, b keys.CommitID) int { return bytes.Compare(a[:], b[:]) })
	x, err := commit.Build(commit.Header{Space: c.sk.Space(), Author: author, Seq: seq, Prev: prev, Deps: deps, Time: commit.HLC{Wall: uint64(at.UnixMicro())}}, ops, key)
	if err != nil {
		c.t.Fatal(err)
	}
	return x
}

func (c *cluster) genesisID() keys.CommitID {
	hs, err := c.nodes[0].Store.Heads(c.ctx, c.sk.Space())
	if err != nil || len(hs) == 0 {
		c.t.Fatalf("no genesis: %v", err)
	}
	for _, h := range hs {
		if h.Author == keys.AuthorID(c.sk.Space()) {
			return h.ID
		}
	}
	c.t.Fatal("no genesis")
	return keys.CommitID{}
}

// big returns about 1 MiB of puts (values are at most 64 KiB each).
func big(n int) []commit.Op {
	var ops []commit.Op
	for i := range 16 {
		ops = append(ops, commit.Put(fmt.Appendf(nil, "big/%d/%d", n, i), bytes.Repeat([]byte{7}, 64<<10-64)))
	}
	return ops
}

// TestUngrantedCommitsNotHeld is attack B in one session: a key with no
// grant sends large commits whose prev is missing. None is held, and past
// MaxUngrantedBytes the peer is misbehaving.
func TestUngrantedCommitsNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 1)
		nd, sp := c.nodes[0], c.sk.Space()
		stranger := keys.DeviceKeyFromSeed([32]byte{99})
		budget := NewBudget(1 << 30)
		p := newRawPeer(t, c.ctx, nd, sp, stranger.Author(), Config{MaxUngrantedBytes: 3 << 20, Budget: budget})
		for i := range 6 {
			p.commits(c.build(stranger, stranger.Author(), uint64(10+i), keys.CommitID{byte(i + 1)}, nil, time.Now(), big(i)...))
			synctest.Wait()
			if used := budget.Used(sp); used != 0 {
				t.Fatalf("%d bytes held of commits nobody granted", used)
			}
		}
		p.endedWith(t, ErrUngranted, "after 6 commits nobody granted")
	})
}

// TestPendingBounded: commits of a granted author that wait for a dep are
// held up to the session's bound, and sessions together up to the space's
// Budget; the session releases what it held when it ends.
func TestPendingBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3)
		nd, sp := c.nodes[0], c.sk.Space()
		g := c.genesisID()
		budget := NewBudget(6 << 20)
		var peers []*rawPeer
		for i, w := range []*tnode{c.nodes[1], c.nodes[2]} {
			p := newRawPeer(t, c.ctx, nd, sp, w.dev.Author(), Config{MaxPendingBytes: 4 << 20, Budget: budget})
			peers = append(peers, p)
			prev := keys.CommitID{}
			for j := range 8 {
				deps := []keys.CommitID{g, {0xee, byte(i)}} // a dep nobody holds
				x := c.build(w.dev, w.dev.Author(), uint64(j+1), prev, deps, time.Now().Add(time.Duration(j)*time.Microsecond), big(10*i+j)...)
				prev = x.ID
				p.commits(x)
			}
			synctest.Wait()
			if used := budget.Used(sp); used > 4<<20+(1<<20) && i == 0 || used > 6<<20 {
				t.Fatalf("after peer %d: %d bytes held", i, used)
			}
		}
		if used := budget.Used(sp); used < 5<<20 {
			t.Fatalf("%d bytes held: the bound left room unused", used)
		}
		for _, p := range peers {
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
		}
		if used := budget.Used(sp); used != 0 {
			t.Fatalf("%d bytes still held after the sessions ended", used)
		}
	})
}

// TestStalledPending: commits that wait for a dep the peer never sends,
// once asked for it, make the peer misbehaving after StallTimeout.
func TestStalledPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2)
		nd, sp, w := c.nodes[0], c.sk.Space(), c.nodes[1].dev
		p := newRawPeer(t, c.ctx, nd, sp, w.Author(), Config{StallTimeout: time.Minute})
		p.commits(c.build(w, w.Author(), 1, keys.CommitID{}, []keys.CommitID{c.genesisID(), {0xee}}, time.Now(), commit.Put([]byte("k"), []byte("v"))))
		synctest.Wait()
		p.running(t, "at once")
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		p.endedWith(t, ErrStalled, "after StallTimeout")
	})
}

// TestJoinerCommitsBeforeItsGrant: a joiner whose clock runs ahead: its
// join (a self-grant through an invite) is dated past the limit, and its
// next commits arrive before the join can count. They are held, not
// refused, nobody is misbehaving, and all apply once the join is due.
func TestJoinerCommitsBeforeItsGrant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2)
		nd, sp := c.nodes[0], c.sk.Space()
		admin := nd.dev // admin in the genesis
		inv := keys.DeviceKeyFromSeed([32]byte{77})
		joiner := keys.DeviceKeyFromSeed([32]byte{78})
		g := c.genesisID()
		invite := c.build(admin, admin.Author(), 1, keys.CommitID{}, []keys.CommitID{g}, time.Now(), commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: commit.UnlimitedUses}))
		if res, err := nd.Store.Apply(c.ctx, sp, []*commit.Commit{invite}); err != nil || res.Outcomes[0].Status != store.Applied {
			t.Fatalf("invite: %v %v", res.Outcomes, err)
		}
		ahead := time.Now().Add(store.MaxFuture + 30*time.Minute)
		join := c.build(joiner, joiner.Author(), 1, keys.CommitID{}, []keys.CommitID{invite.ID}, ahead, commit.GrantOp(commit.InviteGrant(sp, joiner.Author(), commit.RoleWrite, inv)))
		cs := []*commit.Commit{join}
		for i := range 5 {
			cs = append(cs, c.build(joiner, joiner.Author(), uint64(i+2), cs[len(cs)-1].ID, nil, ahead.Add(time.Duration(i+1)*time.Millisecond), big(i)...))
		}
		p := newRawPeer(t, c.ctx, nd, sp, c.nodes[1].dev.Author(), Config{MaxUngrantedBytes: 1 << 20, StallTimeout: time.Minute})
		p.commits(cs[0])
		p.commits(cs[1:]...)
		synctest.Wait()
		if _, err := nd.Store.Get(c.ctx, sp, []byte("big/4/0")); err == nil {
			t.Fatal("a commit after a join dated in the future was applied at once")
		}
		time.Sleep(30*time.Minute + time.Second) // the join is due; no stall meanwhile
		synctest.Wait()
		p.running(t, "once the join is due")
		if _, err := nd.Store.Get(c.ctx, sp, []byte("big/4/0")); err != nil {
			t.Fatalf("the joiner's commits were not applied once its join was due: %v", err)
		}
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEquivocatorDisconnected: a peer that sends a commit of its own at a
// seq where we hold another of its commits signed two commits with one
// seq: it is misbehaving. A third peer forwarding such a pair is not.
func TestEquivocatorDisconnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3)
		nd, sp, liar := c.nodes[0], c.sk.Space(), c.nodes[1].dev
		g := c.genesisID()
		a := c.build(liar, liar.Author(), 1, keys.CommitID{}, []keys.CommitID{g}, time.Now(), commit.Put([]byte("k"), []byte("a")))
		b := c.build(liar, liar.Author(), 1, keys.CommitID{}, []keys.CommitID{g}, time.Now(), commit.Put([]byte("k"), []byte("b")))
		if _, err := nd.Store.Apply(c.ctx, sp, []*commit.Commit{a}); err != nil {
			t.Fatal(err)
		}
		fwd := newRawPeer(t, c.ctx, nd, sp, c.nodes[2].dev.Author(), Config{})
		fwd.commits(a, b)
		synctest.Wait()
		fwd.running(t, "a peer forwarding fork evidence")
		if fs, _ := nd.Store.Forks(c.ctx, sp); len(fs) != 1 {
			t.Fatalf("%d forks held", len(fs))
		}
		fwd.stop()
		self := newRawPeer(t, c.ctx, nd, sp, liar.Author(), Config{})
		self.commits(b)
		synctest.Wait()
		// Already held: a duplicate is not a new offence.
		self.running(t, "a duplicate of held evidence")
		// Going on with its other branch, known forked, is not new
		// evidence (a device whose key someone else used does that too).
		b2 := c.build(liar, liar.Author(), 2, b.ID, nil, time.Now().Add(time.Millisecond), commit.Put([]byte("k"), []byte("b2")))
		self.commits(b2)
		synctest.Wait()
		self.running(t, "the forked device going on with a branch")
		// A third commit at the seq: new evidence, signed by the peer.
		b3 := c.build(liar, liar.Author(), 1, keys.CommitID{}, []keys.CommitID{g}, time.Now(), commit.Put([]byte("k"), []byte("b3")))
		self.commits(b3)
		synctest.Wait()
		self.endedWith(t, ErrEquivocation, "the device signing a third commit at one seq")
	})
}
