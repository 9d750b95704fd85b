package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store/storetest"
)

// bareHost is a p2p host with key on loopback, without a node, closed when
// the test ends.
func bareHost(t *testing.T, key keys.DeviceKey) *p2p.Host {
	t.Helper()
	h, err := p2p.New(context.Background(), p2p.Config{Key: key, Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// rogue is a bare p2p host that speaks the sync protocol badly on purpose.
func rogue(t *testing.T, seed byte) (*p2p.Host, keys.DeviceKey) {
	t.Helper()
	key := keys.DeviceKeyFromSeed([32]byte{seed})
	return bareHost(t, key), key
}

// syncStream connects h to n and opens a sync stream to it.
func syncStream(t *testing.T, h *p2p.Host, n *Node) (p2p.Stream, *reconcile.StreamConn) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := h.Connect(ctx, n.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	s, err := h.Open(ctx, n.Author(), reconcile.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	return s, reconcile.NewStreamConn(s, s)
}

// TestMisbehavingPeersBlocked: a peer that sends a proof for a space it does
// not know, or a commit by an author without a grant, is refused: nothing
// is stored, the refusal is counted and logged with its kind (and the
// commit refused, with its reason), and the peer is blocked.
func TestMisbehavingPeersBlocked(t *testing.T) {
	ctx := ctxT(t)
	n, log := openLogged(t, false)
	sp := newSpace(t, n, "guarded")
	id := sp.ID()
	disc := keys.DiscoveryID(id)
	for i, tc := range []struct {
		kind   string
		frames func(key keys.DeviceKey) [][]byte
	}{
		{"bad_proof", func(keys.DeviceKey) [][]byte {
			return [][]byte{(&reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: disc, Proof: keys.Digest{7}}}}).Encode()}
		}},
		{"unauthorized_commit", func(key keys.DeviceKey) [][]byte {
			heads, _ := n.st.Heads(ctx, id)
			c, err := commit.Build(commit.Header{Space: id, Author: key.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}, Deps: []keys.CommitID{heads[0].ID}},
				[]commit.Op{commit.Put([]byte("evil"), []byte("x"))}, key)
			if err != nil {
				t.Fatal(err)
			}
			return [][]byte{
				(&reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: disc, Proof: keys.SyncProof(id, key.Author(), n.Author())}}}).Encode(),
				(&reconcile.Msg{Type: 3, Disc: disc, Commits: [][]byte{c.Bytes()}}).Encode(),
			}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			h, key := rogue(t, byte(100+i))
			_, conn := syncStream(t, h, n)
			for _, f := range tc.frames(key) {
				conn.WriteFrame(f)
			}
			waitFor(t, 10*time.Second, "the refusal to be counted", func() bool { return n.Counters().Misbehaving[tc.kind] == 1 })
			refused := `msg="peer refused" peer=` + p2p.PeerIDString(key.Author()) + " kind=" + tc.kind + " blocked_for=1m0s reason="
			waitFor(t, 10*time.Second, "the refusal to be logged", func() bool { return strings.Contains(log.String(), refused) })
			if n := strings.Count(log.String(), refused); n != 1 {
				t.Errorf("%d log lines with %s, want 1:\n%s", n, refused, log)
			}
			commitRefused := `msg="commit refused" space=` + id.String()
			if n := strings.Count(log.String(), commitRefused); tc.kind == "unauthorized_commit" && n != 1 {
				t.Errorf("%d log lines with %s, want 1:\n%s", n, commitRefused, log)
			}
			if _, err := n.st.Get(ctx, id, []byte("evil")); err == nil {
				t.Fatal("a refused commit was stored")
			}
			// Blocked: a new connection is refused (or dropped at once).
			waitFor(t, 10*time.Second, "the rogue to be disconnected", func() bool {
				for _, p := range n.Peers() {
					if p.ID == key.Author() && p.Connected {
						return false
					}
				}
				return true
			})
			h.Disconnect(n.Author())
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if s2, err := h.Open(cctx, n.Author(), reconcile.ProtocolID); err == nil {
				// The dial may look successful before the gater's verdict
				// reaches us; the stream must not work.
				s2.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := reconcile.NewStreamConn(s2, s2).ReadFrame(); err == nil {
					t.Fatal("a blocked peer still syncs")
				}
			}
		})
	}
}

// TestEquivocationAcrossNodes: an author signs two commits with one seq and
// gives one to each end of a line of real nodes (not through its own
// node: a device that sends its own fork is misbehaving, see
// TestFaultRevokedMemberForkFlood). Every node stores the evidence and ends with
// the same view.
func TestEquivocationAcrossNodes(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, _ := line(t, 5)
	put(t, nodes[1], id, "honest", "1")
	waitFor(t, 15*time.Second, "the line to converge", func() bool { return converged(nodes, id) })
	// Node 4's device equivocates, once its node is gone.
	liar := nodes[4].dev
	nodes[4].Close()
	nodes = nodes[:4]
	a, b := storetest.Equivocate(ctx, t, nodes[0].st, id, liar, "liar")
	for i, c := range map[int]*commit.Commit{0: a, 3: b} {
		if _, err := nodes[i].st.Apply(ctx, id, []*commit.Commit{c}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < 3; i++ { // honest writes keep flowing
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				put(t, nodes[i], id, fmt.Sprintf("honest/%d/%d", i, j), "x")
			}
		}()
	}
	wg.Wait()
	waitFor(t, 20*time.Second, "evidence on every node", func() bool {
		for _, n := range nodes {
			if fs, _ := n.st.Forks(ctx, id); len(fs) != 1 {
				return false
			}
		}
		return true
	})
	waitFor(t, 20*time.Second, "identical views", func() bool {
		ref, _ := nodes[0].st.View(ctx, id)
		for _, n := range nodes[1:] {
			if v, _ := n.st.View(ctx, id); v.Hash != ref.Hash {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		if _, err := n.st.Get(ctx, id, []byte("liar")); err == nil {
			t.Fatal("the equivocated write counts somewhere")
		}
	}
}

// TestIdleDoesNoWork: a node connected to three peers, sharing two spaces,
// does no sync work between writes: over an idle interval no session wakes,
// no frame moves. Then one write wakes exactly the sessions of its space.
func TestIdleDoesNoWork(t *testing.T) {
	ctx := ctxT(t)
	hub := openNode(t, t.TempDir())
	var peers []*Node
	for range 3 {
		peers = append(peers, openNode(t, t.TempDir()))
	}
	var ids []keys.SpaceID
	for i := range 2 {
		sp := newSpace(t, hub, fmt.Sprintf("s%d", i))
		ids = append(ids, sp.ID())
		for _, p := range peers {
			tk, err := hub.Invite(ctx, fmt.Sprintf("s%d", i), commit.RoleWrite, 0)
			if err != nil {
				t.Fatal(err)
			}
			joinWith(t, p, tk)
		}
	}
	all := append([]*Node{hub}, peers...)
	settled := func() bool {
		for _, id := range ids {
			if !converged(all, id) {
				return false
			}
		}
		return true
	}
	waitFor(t, 20*time.Second, "everything to sync", settled)
	// Let in-flight acknowledgements settle: wait until two snapshots taken
	// a moment apart agree, then watch an idle interval.
	var before SyncStats
	waitFor(t, 10*time.Second, "the sessions to go quiet", func() bool {
		s := hub.SyncStats()
		quiet := s == before
		before = s
		time.Sleep(100 * time.Millisecond) // sampling interval
		return quiet
	})
	if before.Sessions != 3 {
		t.Fatalf("hub runs %d sessions, want 3", before.Sessions)
	}
	time.Sleep(time.Second) // the idle interval being observed, not synchronization
	if after := hub.SyncStats(); after != before {
		t.Fatalf("idle node did work: %+v -> %+v", before, after)
	}
	put(t, hub, ids[0], "wake", "up")
	waitFor(t, 10*time.Second, "the write to reach the peers", func() bool { return converged(all, ids[0]) })
	after := hub.SyncStats()
	if after.Wakeups == before.Wakeups || after.CommitsOut-before.CommitsOut != 3 {
		t.Fatalf("one write: wakeups %d -> %d, commits out %d -> %d (want one commit to each of 3 peers)", before.Wakeups, after.Wakeups, before.CommitsOut, after.CommitsOut)
	}
}
