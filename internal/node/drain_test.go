package node

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store"
)

// TestCloseAfterWaitSynced: a node that closes right after WaitSynced
// returns (as `loam join` without a daemon does) has delivered what it
// wrote: the peer holds every commit of it, though the peer's reader
// may still be behind when WaitSynced returns (WaitSynced counts what
// was written to the stream). Five joiners in turn, as one loses in
// about half the runs without the graceful end.
func TestCloseAfterWaitSynced(t *testing.T) {
	a := openNode(t, t.TempDir())
	id, _ := invited(t, a, "garden")
	for round := range 5 {
		ctx := ctxT(t) // each round its own minute: five under -race on a loaded machine took more than one
		tk := inviteFor(t, a, "garden", commit.RoleWrite, time.Hour)
		b := openNode(t, t.TempDir())
		joinWith(t, b, tk)
		if err := b.WaitSynced(ctx, id); err != nil {
			t.Fatal(err)
		}
		sp, err := b.openSpace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 16 { // 16 commits of 480 KiB, random: not compressible
			var ops []commit.Op
			for j := range 8 {
				val := make([]byte, 60<<10)
				rand.Read(val)
				ops = append(ops, commit.Put(fmt.Appendf(nil, "big/%d/%02d/%d", round, i, j), val))
			}
			if _, err := sp.Commit(ctx, ops); err != nil {
				t.Fatal(err)
			}
		}
		head := authorHead(t, b, id, b.Author())
		if err := b.WaitSynced(ctx, id); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("figure: round %d: Close took %s (bound %s)", round, time.Since(start).Round(time.Millisecond), closeDrain)
		waitFor(t, 20*time.Second, fmt.Sprintf("round %d: a to hold b's commits up to seq %d", round, head.Seq), func() bool {
			return authorHead(t, a, id, b.Author()).Seq >= head.Seq
		})
	}
}

// TestCloseBoundedByPeers: peers that do not answer the graceful end
// cannot hold Close past closeDrain: one that stopped reading (the
// node's writer is blocked mid-send), one that reads but never ends its
// side of the stream. The second one saw the node's Bye.
func TestCloseBoundedByPeers(t *testing.T) {
	n := openNode(t, t.TempDir())
	sp := newSpace(t, n, "garden")
	id := sp.ID()
	fillSpace(t, n, id, 8)
	stuck := attack(t, n, keys.DeviceKeyFromSeed([32]byte{211}), id)
	stuck.send(&reconcile.Msg{Type: 2, Disc: keys.DiscoveryID(id)}) // it has nothing, and reads nothing
	mute := attack(t, n, keys.DeviceKeyFromSeed([32]byte{212}), id)
	bye := make(chan string, 1)
	go func() { // reads everything, never closes
		for {
			f, err := mute.conn.ReadFrame()
			if err != nil {
				return
			}
			if m, err := reconcile.DecodeMsg(f); err == nil && m.Type == 5 {
				bye <- m.Reason
			}
		}
	}()
	mute.send(&reconcile.Msg{Type: 2, Disc: keys.DiscoveryID(id)})
	waitFor(t, 20*time.Second, "both sessions", func() bool { return n.SyncStats().Sessions == 2 })
	waitFor(t, 20*time.Second, "the node to send to both", func() bool { return n.SyncStats().FramesOut >= 6 })

	start := time.Now()
	n.Close()
	took := time.Since(start)
	t.Logf("figure: Close with two peers that do not answer took %s (bound %s)", took.Round(time.Millisecond), closeDrain)
	if took > closeDrain+5*time.Second {
		t.Fatalf("Close took %s: peers held it past the bound %s", took, closeDrain)
	}
	select {
	case r := <-bye:
		if r != reconcile.ByeClosing {
			t.Errorf("the node said goodbye with %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Error("the reading peer got no Bye")
	}
}

// authorHead returns n's head of author in space id (zero if none).
func authorHead(t *testing.T, n *Node, id keys.SpaceID, author keys.AuthorID) store.Head {
	t.Helper()
	hs, err := n.st.Heads(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Author == author {
			return h
		}
	}
	return store.Head{}
}

// TestCloseQUICPeerStopsReading: a peer on QUIC that proves the space and
// then reads nothing, while the node has more to send than the stream's
// flow-control window: Close still returns within its bound. (A QUIC
// stream's Close does not wake a Write blocked on the peer's window; only
// a Reset or the write deadline does, and the deadline of a whole frame is
// far longer than closeDrain.)
func TestCloseQUICPeerStopsReading(t *testing.T) {
	n := openWith(t, Options{Home: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}, NoSync: true})
	sp := newSpace(t, n, "garden")
	id := sp.ID()
	fillSpace(t, n, id, 40) // beyond the 10 MiB a QUIC stream's window holds
	stuck := attack(t, n, keys.DeviceKeyFromSeed([32]byte{213}), id)
	stuck.send(&reconcile.Msg{Type: 2, Disc: keys.DiscoveryID(id)}) // it has nothing, and reads nothing
	waitFor(t, 20*time.Second, "the session", func() bool { return n.SyncStats().Sessions == 1 })
	// A frame of commits (about 1 MiB) written: the next write blocks on
	// the window (how many frames fit depends on how far QUIC's receive
	// window has grown, which under -race and load may be one).
	waitFor(t, 20*time.Second, "the node to send a frame of commits", func() bool { return n.SyncStats().BytesOut >= 512<<10 })

	done := make(chan struct{})
	start := time.Now()
	go func() { n.Close(); close(done) }()
	select {
	case <-done:
		t.Logf("figure: Close with a QUIC peer that stopped reading took %s (bound %s)", time.Since(start).Round(time.Millisecond), closeDrain)
	case <-time.After(closeDrain + 10*time.Second):
		t.Fatalf("Close did not return within %s: a write blocked on the peer's window held it", closeDrain+10*time.Second)
	}
}
