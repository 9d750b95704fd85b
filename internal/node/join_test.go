package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/testkit"
)

// openFinder opens a node that can look up peers without addresses (a
// private DHT through a bootstrap node on loopback), so that a join gets
// past its first dial even when the ticket's peers are down.
func openFinder(t *testing.T, home, boot string) *Node {
	t.Helper()
	return openWith(t, Options{Home: home, Listen: loopback, NoSync: true, DHT: p2p.DHTPrivate, Bootstrap: []string{boot}})
}

// stopMidJoin opens a node in home (see openFinder) that joins with tk,
// and closes it once the joining space is held: a node that stops
// mid-join. It returns the closed node and the join's result.
func stopMidJoin(t *testing.T, home, boot string, tk keys.Ticket) (*Node, error) {
	t.Helper()
	ctx := ctxT(t)
	b := openFinder(t, home, boot)
	joined := make(chan error, 1)
	go func() {
		_, err := b.Join(ctx, tk)
		joined <- err
	}()
	waitFor(t, 10*time.Second, "the joining space to be held", func() bool {
		infos, err := b.Spaces(ctx)
		return err == nil && len(infos) == 1
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return b, <-joined
}

// homeFiles lists the files under home/spaces.
func homeFiles(t *testing.T, home string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(home, "spaces"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// holdsNothing fails t unless n holds no space and no file of one.
func holdsNothing(t *testing.T, n *Node) {
	t.Helper()
	ctx := context.Background()
	if infos, err := n.Spaces(ctx); err != nil || len(infos) != 0 {
		t.Errorf("spaces held after the failed join: %+v %v", infos, err)
	}
	if fs := homeFiles(t, n.home); len(fs) != 0 {
		t.Errorf("files left in %s/spaces: %v", n.home, fs)
	}
	if held := n.syncSpaces(); len(held) != 0 {
		t.Errorf("spaces still synced: %v", held)
	}
}

// TestFailedJoinLeavesNothing is issue 10 F: a join that fails leaves no
// space registered, no key file and no name taken, whether it timed out
// (the inviter went away) or the invite was void; a join of a space held
// before keeps it.
func TestFailedJoinLeavesNothing(t *testing.T) {
	ctx := ctxT(t)
	boot := bootstrapNode(t)
	a := openNode(t, t.TempDir())
	b := openFinder(t, t.TempDir(), boot)
	sp := privateSpace(t, a, "club")
	put(t, a, sp.ID(), "k", "v")

	t.Run("timed out", func(t *testing.T) {
		tk := inviteFor(t, a, "club", commit.RoleWrite, time.Hour)
		tk.Addrs = []string{"/ip4/127.0.0.1/tcp/1/p2p/" + a.PeerID()} // nobody there
		for range 2 {
			jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := b.Join(jctx, tk)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("join: %v, want a timeout", err)
			}
			holdsNothing(t, b)
		}
	})
	t.Run("void invite", func(t *testing.T) {
		tk := inviteFor(t, a, "club", commit.RoleWrite, time.Hour)
		if _, err := a.Revoke(ctx, "club", tk.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Join(ctx, tk); !errors.Is(err, ErrInviteVoid) {
			t.Fatalf("join with a revoked invite: %v", err)
		}
		holdsNothing(t, b)
	})
	t.Run("name is free again", func(t *testing.T) {
		if _, err := b.CreateSpace(ctx, "club"); err != nil {
			t.Fatalf("the name of the failed join is still taken: %v", err)
		}
	})
	t.Run("held before", func(t *testing.T) {
		tk := inviteFor(t, a, "club", commit.RoleRead, time.Hour)
		// c holds the space without a role: a ticket without an invite.
		c := openFinder(t, t.TempDir(), boot)
		tk.Invite = keys.DeviceKey{}
		joinWith(t, c, tk)
		tk2 := inviteFor(t, a, "club", commit.RoleWrite, time.Hour)
		if _, err := a.Revoke(ctx, "club", tk2.String()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "c to hold the revocation", func() bool {
			acc, err := c.st.Access(ctx, sp.ID())
			_, cut := acc.Cuts[tk2.Invite.Author()]
			return err == nil && cut
		})
		if _, err := c.Join(ctx, tk2); !errors.Is(err, ErrInviteVoid) {
			t.Fatalf("join with a revoked invite: %v", err)
		}
		if infos, err := c.Spaces(ctx); err != nil || len(infos) != 1 || infos[0].ID != sp.ID() {
			t.Errorf("a failed join dropped a space held before: %+v %v", infos, err)
		}
		if _, ok := c.rk.Current(sp.ID()); !ok {
			t.Error("a failed join dropped the read keys of a space held before")
		}
	})
}

// TestJoinResumesAfterRestart is issue 10 E: a join cut short by the node
// stopping (as by kill -9, the record of the join stays) resumes when the
// node starts again, and the device can then write.
func TestJoinResumesAfterRestart(t *testing.T) {
	ctx := ctxT(t)
	boot := bootstrapNode(t)
	aHome, bHome := t.TempDir(), t.TempDir()
	aListen := []string{"/ip4/127.0.0.1/tcp/" + testkit.FreePort(t)}
	openA := func() *Node {
		return openWith(t, Options{Home: aHome, Listen: aListen, NoSync: true})
	}
	a := openA()
	id, tk := invited(t, a, "garden")
	put(t, a, id, "tools/drill", "cordless")
	if err := a.Close(); err != nil { // the inviter is away
		t.Fatal(err)
	}

	b, err := stopMidJoin(t, bHome, boot, tk)
	if err == nil {
		t.Fatal("the join succeeded without the inviter")
	}
	if _, err := os.Stat(b.joinFile(id)); err != nil {
		t.Fatalf("the join is not recorded after the node stopped mid-join: %v", err)
	}

	a = openA()
	b = openFinder(t, bHome, boot)
	waitFor(t, 30*time.Second, "the resumed join", func() bool {
		r, err := b.st.Role(ctx, id, b.Author())
		return err == nil && r == commit.RoleWrite
	})
	waitFor(t, 10*time.Second, "the join record to go", func() bool {
		_, err := os.Stat(b.joinFile(id))
		return errors.Is(err, os.ErrNotExist)
	})
	put(t, b, id, "tools/saw", "hand saw")
	waitFor(t, 10*time.Second, "b's write on a", func() bool {
		_, err := a.st.Get(ctx, id, []byte("tools/saw"))
		return err == nil
	})
	if !slices.Contains(b.BookPeers(id), a.Author()) {
		t.Errorf("the peer book does not hold the inviter: %v", b.BookPeers(id))
	}
}

// TestReconnectAfterRestart is issue 10 E: two nodes with neither DHT nor
// mDNS, that know each other only from a ticket, find each other again
// after either restarts, and sync.
func TestReconnectAfterRestart(t *testing.T) {
	ctx := ctxT(t)
	aHome, bHome := t.TempDir(), t.TempDir()
	a := openNode(t, aHome)
	b := openNode(t, bHome)
	id, tk := invited(t, a, "garden")
	joinWith(t, b, tk)
	for _, c := range []struct{ n, peer *Node }{{a, b}, {b, a}} {
		waitFor(t, 30*time.Second, "the peer in the book", func() bool {
			return slices.Contains(c.n.BookPeers(id), c.peer.Author())
		})
	}
	synced := func(what string, nodes ...*Node) {
		t.Helper()
		waitFor(t, 30*time.Second, what, func() bool { return converged(nodes, id) })
	}

	// B restarts (on another port): it dials A, whose address it kept.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	put(t, a, id, "while-b-was-away", "1")
	b = openNode(t, bHome)
	synced("b to reconnect after its restart", a, b)

	// A restarts: it dials B at the address it kept.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	put(t, b, id, "while-a-was-away", "2")
	a = openNode(t, aHome)
	synced("a to reconnect after its restart", a, b)
	for _, k := range []string{"while-b-was-away", "while-a-was-away"} {
		for _, n := range []*Node{a, b} {
			if _, err := n.st.Get(ctx, id, []byte(k)); err != nil {
				t.Errorf("%s on %s: %v", k, n.Author().Short(), err)
			}
		}
	}
}

// TestJoinTakesOverResumedJoin: a join its user starts again while the
// node resumes it (the inviter still away) does not wait behind the
// resumed one: it takes its place, and when it gives up, nothing is left.
func TestJoinTakesOverResumedJoin(t *testing.T) {
	ctx := ctxT(t)
	boot := bootstrapNode(t)
	a := openNode(t, t.TempDir())
	id, tk := invited(t, a, "garden")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	bHome := t.TempDir()
	stopMidJoin(t, bHome, boot, tk)

	b := openFinder(t, bHome, boot) // resumes the join, which waits
	waitFor(t, 10*time.Second, "the resumed join", func() bool {
		b.rc.mu.Lock()
		defer b.rc.mu.Unlock()
		return b.rc.joining[id] != nil
	})
	jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := b.Join(jctx, tk); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join again: %v, want its timeout", err)
	}
	holdsNothing(t, b)
}

// TestReconnectAfterBothRestart: two nodes that know each other only from
// a ticket (no DHT, no mDNS) and listen on ports the system chose find
// each other again after both restarted: each listens on its ports of the
// last run, where its peer's book expects it. Before, both came back on
// new ports, and neither's peer book could reach the other.
func TestReconnectAfterBothRestart(t *testing.T) {
	open := func(home string) *Node {
		t.Helper()
		// No Listen: ports the system chooses (the daemon's default). The
		// nodes reach each other on loopback, which the addresses include.
		return openWith(t, Options{Home: home, NoSync: true})
	}
	aHome, bHome := t.TempDir(), t.TempDir()
	a, b := open(aHome), open(bHome)
	id, tk := invited(t, a, "garden")
	var lo []string // only loopback addresses: the test's traffic stays on this machine
	for _, ad := range tk.Addrs {
		if strings.HasPrefix(ad, "/ip4/127.0.0.1/") {
			lo = append(lo, ad)
		}
	}
	tk.Addrs = lo
	joinWith(t, b, tk)
	for _, c := range []struct{ n, peer *Node }{{a, b}, {b, a}} {
		waitFor(t, 30*time.Second, "the peer in the book", func() bool {
			return slices.Contains(c.n.BookPeers(id), c.peer.Author())
		})
	}
	aAddrs := a.Addrs()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a = open(aHome)
	put(t, a, id, "after-the-power-cut", "1")
	b = open(bHome)
	if got := a.Addrs(); !slices.Equal(got, aAddrs) {
		t.Logf("a's addresses changed (a port was taken meanwhile?): %v, then %v", aAddrs, got)
	}
	waitFor(t, 30*time.Second, "the nodes to find each other again", func() bool { return converged([]*Node{a, b}, id) })
}
