package reconcile

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/testkit"
)

var chaosSeed = flag.Uint64("chaos.seed", 0, "seed for TestChaosConvergence (0: random)")

func TestMsgRoundTrip(t *testing.T) {
	msgs := []*Msg{
		{Type: msgHello, Version: Version, Spaces: []SpaceProof{{Disc: keys.Digest{1}, Proof: keys.Digest{2}}}},
		{Type: msgHave, Disc: keys.Digest{3}, Heads: []Head{{Author: keys.AuthorID{4}, Seq: 9, ID: keys.CommitID{5}}}},
		{Type: msgCommits, Disc: keys.Digest{6}, Commits: [][]byte{{1, 2, 3}}},
		{Type: msgWant, Disc: keys.Digest{7}, IDs: []keys.CommitID{{8}}},
		{Type: msgBye, Reason: "bye"},
	}
	for _, m := range msgs {
		got, err := DecodeMsg(m.Encode())
		if err != nil {
			t.Fatalf("type %d: %v", m.Type, err)
		}
		if !bytes.Equal(got.Encode(), m.Encode()) {
			t.Fatalf("type %d: round trip changed the message", m.Type)
		}
	}
	// A head whose author or ID is not 32 bytes.
	type looseHead struct {
		_      struct{} `cbor:",toarray"`
		Author []byte
		Seq    uint64
		ID     []byte
	}
	type looseHave struct {
		Type  uint64      `cbor:"1,keyasint"`
		Disc  []byte      `cbor:"4,keyasint"`
		Heads []looseHead `cbor:"5,keyasint"`
	}
	var loose [][]byte
	for _, h := range []looseHead{{Author: make([]byte, 31), Seq: 1, ID: make([]byte, 32)}, {Author: make([]byte, 32), Seq: 1, ID: make([]byte, 33)}} {
		b, err := encMode.Marshal(looseHave{Type: msgHave, Disc: make([]byte, 32), Heads: []looseHead{h}})
		if err != nil {
			t.Fatal(err)
		}
		loose = append(loose, b)
	}
	// Heads out of author order, or an author twice.
	h1, h2 := Head{Author: keys.AuthorID{1}, Seq: 1}, Head{Author: keys.AuthorID{2}, Seq: 1}
	loose = append(loose,
		(&Msg{Type: msgHave, Disc: keys.Digest{1}, Heads: []Head{h2, h1}}).Encode(),
		(&Msg{Type: msgHave, Disc: keys.Digest{1}, Heads: []Head{h1, h1}}).Encode())
	for _, bad := range append([][]byte{nil, {0xa0}, {0xa1, 0x01, 0x09}, (&Msg{Type: msgCommits, Disc: keys.Digest{1}}).Encode(), (&Msg{Type: msgHello}).Encode()}, loose...) {
		if _, err := DecodeMsg(bad); !errors.Is(err, ErrMisbehaving) {
			t.Fatalf("DecodeMsg(%x) = %v, want a misbehaviour error", bad, err)
		}
	}
}

// TestLineConvergence: five nodes in a line, every node writing while the
// links run, end with identical heads and view hashes.
func TestLineConvergence(t *testing.T) {
	c := newCluster(t, 5)
	for i := range 4 {
		c.link(i, i+1, chaos{}, uint64(i), false)
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.write(i, rand.New(rand.NewPCG(uint64(i), 7)), 40)
		}()
	}
	wg.Wait()
	c.waitFor(20*time.Second, "convergence", func() bool { return c.converged() })
}

// TestChaosConvergence: links that duplicate frames, reorder commit frames
// and are cut and reconnected at random still converge.
func TestChaosConvergence(t *testing.T) {
	seed := testkit.Seed(t, *chaosSeed, "chaos.seed")
	c := newCluster(t, 4)
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range c.nodes {
				hs, _ := nd.Store.Heads(context.Background(), nd.id)
				var b strings.Builder
				for _, h := range hs {
					fmt.Fprintf(&b, "%s:%d ", h.Author.Short()[4:8], h.Seq)
				}
				nd.mu.Lock()
				ns := len(nd.sessions)
				var pend []int
				for s := range nd.sessions {
					for _, ps := range s.byDisc {
						pend = append(pend, len(ps.wait.cs))
					}
				}
				nd.mu.Unlock()
				t.Logf("node %d: %s sessions=%d pending=%v", i, b.String(), ns, pend)
			}
		}
	})
	ch := chaos{dup: 0.1, reorder: 0.2, cut: 0.05}
	c.link(0, 1, ch, seed, true)
	c.link(1, 2, ch, seed+100, true)
	c.link(2, 3, ch, seed+200, true)
	c.link(3, 0, ch, seed+300, true)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.write(i, rand.New(rand.NewPCG(seed, uint64(i))), 50)
		}()
	}
	wg.Wait()
	c.waitFor(30*time.Second, "convergence under chaos", func() bool { return c.converged() })
}

// TestPartitionHeals: two halves write apart, then one link joins them.
func TestPartitionHeals(t *testing.T) {
	c := newCluster(t, 4)
	c.link(0, 1, chaos{}, 1, false)
	c.link(2, 3, chaos{}, 2, false)
	// Node 2 and 3 need the genesis: give it through a short-lived link.
	c.link(1, 2, chaos{cut: 1}, 3, false) // cut after the first frame
	// Let node 2 receive the genesis over a proper link before partitioning.
	c.link(0, 2, chaos{}, 4, false)
	c.waitFor(10*time.Second, "genesis everywhere", func() bool {
		for _, nd := range c.nodes {
			if hs, _ := nd.Store.Heads(c.ctx, nd.id); len(hs) == 0 {
				return false
			}
		}
		return true
	})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.write(i, rand.New(rand.NewPCG(9, uint64(i))), 30)
		}()
	}
	wg.Wait()
	c.waitFor(20*time.Second, "convergence after the partition heals", func() bool { return c.converged() })
}

// TestEquivocation: an author signs two different commits with one seq and
// gives one to each end of a line (through nodes other than its own: a
// device that sends its own fork is misbehaving, see
// TestEquivocatorDisconnected). Every node ends with the fork evidence
// and the same view.
func TestEquivocation(t *testing.T) {
	c := newCluster(t, 5) // node 4's device is the liar; its node stays out
	line := []int{0, 1, 2, 3}
	// Genesis everywhere first, through a line.
	for i := range 3 {
		c.link(i, i+1, chaos{}, uint64(i), false)
	}
	c.waitFor(10*time.Second, "genesis everywhere", func() bool { return c.converged(line...) })
	c.write(1, rand.New(rand.NewPCG(1, 1)), 5)
	c.waitFor(10*time.Second, "first writes everywhere", func() bool { return c.converged(line...) })

	// Node 4's device equivocates: two commits with its next seq.
	liar := c.nodes[4].dev
	a, b := storetest.Equivocate(c.ctx, t, c.nodes[0].Store, c.sk.Space(), liar, "k/liar")
	// The line is linked: the first commit may reach the other end
	// before the second is applied there, which then stores it as fork
	// evidence at once (CI saw it). Either way both ends hold one side
	// each, and sync must carry the evidence to the middle.
	for i, x := range map[int]*commit.Commit{0: a, 3: b} {
		res, err := c.nodes[i].Store.Apply(c.ctx, c.sk.Space(), []*commit.Commit{x})
		if err != nil || (res.Outcomes[0].Status != store.Applied && res.Outcomes[0].Status != store.Forked) {
			t.Fatalf("node %d: %+v %v", i, res.Outcomes, err)
		}
	}
	c.write(2, rand.New(rand.NewPCG(2, 2)), 5)
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range c.nodes {
				fs, _ := nd.Store.Forks(context.Background(), nd.id)
				hs, _ := nd.Store.Heads(context.Background(), nd.id)
				t.Logf("node %d: %d forks, heads %v", i, len(fs), hs)
			}
		}
	})
	c.waitFor(20*time.Second, "fork evidence on every node", func() bool {
		for _, nd := range c.nodes[:4] {
			if fs, _ := nd.Store.Forks(c.ctx, nd.id); len(fs) != 1 {
				return false
			}
		}
		return true
	})
	c.waitFor(20*time.Second, "identical views", func() bool {
		var ref string
		for i, nd := range c.nodes[:4] {
			v, _ := nd.Store.View(c.ctx, nd.id)
			if i == 0 {
				ref = v.Hash.String()
			} else if v.Hash.String() != ref {
				return false
			}
		}
		return true
	})
	for _, nd := range c.nodes[:4] {
		if _, err := nd.Store.Get(c.ctx, nd.id, []byte("k/liar")); err == nil {
			t.Fatal("the equivocated write counts on some node")
		}
	}
}

// TestMisbehavingPeers: a session ends with a misbehaviour error, and the
// store is unchanged, for each kind of bad input.
func TestMisbehavingPeers(t *testing.T) {
	c := newCluster(t, 1)
	nd := c.nodes[0]
	sp := c.sk.Space()
	evil := keys.DeviceKeyFromSeed([32]byte{99})
	disc := keys.DiscoveryID(sp)
	hello := &Msg{Type: msgHello, Version: Version, Spaces: []SpaceProof{{Disc: disc, Proof: keys.SyncProof(sp, evil.Author(), nd.dev.Author())}}}
	stranger, _ := commit.Build(commit.Header{Space: sp, Author: evil.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}}, []commit.Op{commit.Put([]byte("k"), []byte("v"))}, evil)
	bad := bytes.Clone(stranger.Bytes())
	bad[len(bad)-1] ^= 1
	cases := []struct {
		name   string
		frames [][]byte
		want   error
	}{
		{"bad proof", [][]byte{(&Msg{Type: msgHello, Version: Version, Spaces: []SpaceProof{{Disc: disc, Proof: keys.Digest{1}}}}).Encode()}, ErrBadProof},
		{"malformed CBOR", [][]byte{{0xff, 0x00}}, ErrBadMessage},
		{"have before hello", [][]byte{(&Msg{Type: msgHave, Disc: disc}).Encode()}, ErrBadMessage},
		{"bad signature", [][]byte{hello.Encode(), (&Msg{Type: msgCommits, Disc: disc, Commits: [][]byte{bad}}).Encode()}, ErrBadCommit},
		{"unauthorized author", [][]byte{hello.Encode(), (&Msg{Type: msgCommits, Disc: disc, Commits: [][]byte{stranger.Bytes()}}).Encode()}, ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := nd.Store.Heads(c.ctx, sp)
			ours, theirs := memPipe(chaos{}, 1)
			s := NewSession(Config{Self: nd.dev.Author(), Peer: evil.Author()}, nd, ours)
			go func() {
				for _, f := range tc.frames {
					if theirs.FrameConn.WriteFrame(f) != nil {
						return
					}
				}
			}()
			go func() { // drain what the session sends
				for {
					if _, err := theirs.ReadFrame(); err != nil {
						return
					}
				}
			}()
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			defer cancel()
			err := s.Run(ctx)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrMisbehaving) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
			after, _ := nd.Store.Heads(c.ctx, sp)
			if len(after) != len(before) {
				t.Fatalf("store changed: heads %v -> %v", before, after)
			}
		})
	}
}

func TestOversizedFrame(t *testing.T) {
	var buf bytes.Buffer
	buf.Write([]byte{0xff, 0xff, 0xff, 0x7f}) // a uvarint far over MaxFrame
	sc := NewStreamConn(&buf, nopCloser{})
	if _, err := sc.ReadFrame(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("oversized frame: %v", err)
	}
	buf.Reset()
	sc = NewStreamConn(&buf, nopCloser{})
	if err := sc.WriteFrame([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if f, err := sc.ReadFrame(); err != nil || string(f) != "hello" {
		t.Fatalf("frame round trip: %q %v", f, err)
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// TestLateSpace: a peer that starts holding a space after the session began
// (a join) still gets it synced: proofs are offered again when the other
// side proves the space for the first time.
func TestLateSpace(t *testing.T) {
	c := newCluster(t, 2)
	late := c.nodes[1]
	late.setSpace(keys.SpaceID{}) // holds nothing at first
	c.link(0, 1, chaos{}, 1, false)
	c.write(0, rand.New(rand.NewPCG(1, 1)), 3)
	late.setSpace(c.sk.Space())
	late.mu.Lock()
	for s := range late.sessions {
		s.Notify(late.id)
	}
	late.mu.Unlock()
	c.waitFor(10*time.Second, "the late space to sync", func() bool { return c.converged() })
}

// TestStreamErrorsAreNotMisbehaviour: a stream that ends or fails while a
// frame length is read is the transport's fault, not the peer's.
func TestStreamErrorsAreNotMisbehaviour(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		bad  bool
	}{
		{"empty", nil, false},
		{"cut in the length", []byte{0x80}, false},
		{"cut in the body", []byte{0x05, 'a'}, false},
		{"length over 64 bits", bytes.Repeat([]byte{0xff}, 11), true},
		{"length over the limit", []byte{0xff, 0xff, 0xff, 0x7f}, true},
		{"length not in its shortest form", []byte{0x85, 0x00, 'a', 'b', 'c', 'd', 'e'}, true},
		{"an empty frame", []byte{0x00}, true},
	} {
		_, err := NewStreamConn(bytes.NewBuffer(tc.in), nopCloser{}).ReadFrame()
		if err == nil || errors.Is(err, ErrMisbehaving) != tc.bad {
			t.Errorf("%s: err = %v, misbehaviour = %v, want %v", tc.name, err, errors.Is(err, ErrMisbehaving), tc.bad)
		}
	}
	// (Lengths, and the limit checked as they arrive: frame.TestLengths.)
}

// TestNotifiedBeforeHeld: a store event for a space the node does not
// hold yet (a join adds the space to the store, then the node holds it)
// offers it to no peer. An offer made then brought the peer's Hello and
// Have for a space this side did not share yet, which it refused as a
// malformed message, blocking an honest peer (the join waited a minute).
func TestNotifiedBeforeHeld(t *testing.T) {
	c := newCluster(t, 1)
	n := c.nodes[0]
	sp := c.sk.Space()
	n.setSpace(keys.SpaceID{}) // holds nothing yet
	a, b := testkit.FramePipe(16)
	defer b.Close()
	s := NewSession(Config{Self: n.dev.Author(), Peer: keys.DeviceKeyFromSeed([32]byte{7}).Author()}, n, a)
	// offered reads what the session wrote since the last call (up to a
	// marker written after it) and reports whether a Hello offered sp.
	offered := func() bool {
		if err := a.WriteFrame([]byte("mark")); err != nil {
			t.Fatal(err)
		}
		found := false
		for {
			f, err := b.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if string(f) == "mark" {
				return found
			}
			m, err := DecodeMsg(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Spaces {
				found = found || m.Type == msgHello && p.Disc == keys.DiscoveryID(sp)
			}
		}
	}
	s.Notify(sp) // the store's event, before the node holds the space
	if err := s.flush(c.ctx); err != nil {
		t.Fatal(err)
	}
	if offered() {
		t.Fatal("a space the node does not hold yet was offered to the peer")
	}
	n.setSpace(sp)
	s.Notify(sp) // as node.addHeld does once it holds the space
	if err := s.flush(c.ctx); err != nil {
		t.Fatal(err)
	}
	if !offered() {
		t.Fatal("the space, once held, was not offered")
	}
}
