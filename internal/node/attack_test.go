package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store"
)

// The fault suite's resource-exhaustion attacks (issue 10, A and B): a
// malicious peer built from the project's own packages attacks a real node
// over loopback; afterwards honest writes flow, joins work, the attacker
// is counted and disconnected, and the process's RSS stays under a bound.

// maxAttackRSS is the bound on the test process's resident memory during
// an attack.
const maxAttackRSS = 300 << 20

// rssMeter measures the peak resident memory of the test process from the
// moment it is started (Linux: VmHWM after resetting it).
type rssMeter struct{ t *testing.T }

func startRSS(t *testing.T) rssMeter {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	// Reset the peak (Linux ≥ 4.0); without it the peak covers the whole
	// process, which only makes the check stricter.
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return rssMeter{t}
}

// peak returns VmHWM in bytes (0 where /proc is missing).
func (m rssMeter) peak() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// check fails the test if the peak went over max, and logs it.
func (m rssMeter) check(max uint64) uint64 {
	m.t.Helper()
	p := m.peak()
	m.t.Logf("figure: peak RSS %d MB (bound %d MB)", p>>20, max>>20)
	if p > max && !raceDetector {
		m.t.Fatalf("peak RSS %d MB, over the %d MB bound", p>>20, max>>20)
	}
	return p
}

// attacker is a rogue peer's sync stream to a node.
type attacker struct {
	t    *testing.T
	h    *p2p.Host
	key  keys.DeviceKey
	st   p2p.Stream
	conn *reconcile.StreamConn
}

// attack connects a bare host with key to n and opens a sync stream on
// which it proves space id.
func attack(t *testing.T, n *Node, key keys.DeviceKey, id keys.SpaceID) *attacker {
	t.Helper()
	h := bareHost(t, key)
	s, conn := syncStream(t, h, n)
	a := &attacker{t: t, h: h, key: key, st: s, conn: conn}
	a.send(&reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: keys.DiscoveryID(id), Proof: keys.SyncProof(id, key.Author(), n.Author())}}})
	return a
}

// send writes one message; errors are ignored (the node may hang up).
func (a *attacker) send(m *reconcile.Msg) error { return a.conn.WriteFrame(m.Encode()) }

// sendCommits sends commits of space id in frames of about 1 MiB.
func (a *attacker) sendCommits(id keys.SpaceID, cs []*commit.Commit) error {
	var batch [][]byte
	size := 0
	for _, c := range cs {
		if size+len(c.Bytes()) > reconcile.BatchBytes && len(batch) > 0 {
			if err := a.send(&reconcile.Msg{Type: 3, Disc: keys.DiscoveryID(id), Commits: batch}); err != nil {
				return err
			}
			batch, size = nil, 0
		}
		batch = append(batch, c.Bytes())
		size += len(c.Bytes())
	}
	if len(batch) == 0 {
		return nil
	}
	return a.send(&reconcile.Msg{Type: 3, Disc: keys.DiscoveryID(id), Commits: batch})
}

// drain reads and discards what the node sends, until the stream ends.
func (a *attacker) drain() {
	go func() {
		for {
			if _, err := a.conn.ReadFrame(); err != nil {
				return
			}
		}
	}()
}

// chain builds count commits of key in space id following (prevSeq,
// prev), each carrying a payload of size bytes, dated from t on.
func chain(t *testing.T, key keys.DeviceKey, id keys.SpaceID, prevSeq uint64, prev keys.CommitID, deps []keys.CommitID, count, size int, tag string, at time.Time) []*commit.Commit {
	t.Helper()
	var out []*commit.Commit
	for i := range count {
		h := commit.Header{Space: id, Author: key.Author(), Seq: prevSeq + 1, Prev: prev,
			Time: commit.HLC{Wall: uint64(at.UnixMicro()) + uint64(i)}}
		if i == 0 {
			h.Deps = sortIDs(append([]keys.CommitID(nil), deps...))
		}
		val := bytes.Repeat([]byte{byte(i)}, size)
		c, err := commit.Build(h, []commit.Op{commit.Put(fmt.Appendf(nil, "x/%s/%d", tag, i), val)}, key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
		prevSeq, prev = c.Seq, c.ID
	}
	return out
}

// quiet waits until n's sync counters stop moving: two snapshots a moment
// apart agree.
func quiet(t *testing.T, n *Node, d time.Duration, what string) {
	t.Helper()
	var before SyncStats
	waitFor(t, d, what, func() bool {
		s := n.SyncTotals()
		same := s == before
		before = s
		time.Sleep(300 * time.Millisecond) // sampling interval
		return same
	})
}

// disconnected reports whether n has no connection to peer.
func disconnected(n *Node, peer keys.AuthorID) bool {
	for _, p := range n.Peers() {
		if p.ID == peer && p.Connected {
			return false
		}
	}
	return true
}

// revokedMember sets up an admin, an honest member and a member x that
// wrote and was then revoked; x's node is closed and its key returned with
// the cut.
func revokedMember(t *testing.T) (admin, member *Node, id keys.SpaceID, x keys.DeviceKey, cut uint64, xHead keys.CommitID) {
	t.Helper()
	ctx := ctxT(t)
	nodes, id, _ := line(t, 3) // admin, member, x
	admin, member, xn := nodes[0], nodes[1], nodes[2]
	put(t, xn, id, "x/before", "kept")
	waitFor(t, 15*time.Second, "the line to converge", func() bool { return converged(nodes, id) })
	x = xn.dev
	xn.Close()
	r, err := admin.Revoke(ctx, "line", x.Author().String())
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := admin.st.Heads(ctx, id)
	for _, h := range hs {
		if h.Author == x.Author() {
			xHead = h.ID
		}
	}
	waitFor(t, 15*time.Second, "the revocation on the member", func() bool {
		acc, err := member.st.Access(ctx, id)
		_, cutThere := acc.Cuts[x.Author()]
		return err == nil && cutThere
	})
	return admin, member, id, x, r.LastSeq, xHead
}

// headIDs returns the IDs of n's heads of id, but for author skip.
func headIDs(t testing.TB, n *Node, id keys.SpaceID, skip keys.AuthorID) []keys.CommitID {
	hs, err := n.st.Heads(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []keys.CommitID
	for _, h := range hs {
		if h.Author != skip {
			out = append(out, h.ID)
		}
	}
	return out
}

// TestFaultRevokedMemberForkFlood is attack A: a revoked member sends the
// admin two commits past its cut, then a fork of them with more on top.
// Sync must go on terminating: honest writes reach every honest peer
// within seconds, a join through a fresh one-use ticket succeeds, the
// attacker is counted and disconnected, and the RSS stays bounded.
func TestFaultRevokedMemberForkFlood(t *testing.T) {
	for _, tc := range []struct {
		name  string
		above int // commits on top of the fork
	}{
		{"fork of 3", 2},
		{"fork of 50", 49},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			rss := startRSS(t)
			admin, member, id, x, cut, xHead := revokedMember(t)
			deps := headIDs(t, admin, id, x.Author())
			now := time.Now()
			past := chain(t, x, id, cut, xHead, deps, 2, 60<<10, "past", now)
			fork := chain(t, x, id, cut, xHead, deps, 1+tc.above, 60<<10, "fork", now.Add(time.Millisecond))

			a := attack(t, admin, x, id)
			a.drain()
			a.sendCommits(id, past)
			waitFor(t, 10*time.Second, "the commits past the cut to be stored", func() bool { return has(admin, id, past[1].ID) })
			a.sendCommits(id, fork)

			// Honest writes flow both ways at once.
			start := time.Now()
			put(t, member, id, "after/member", "1")
			put(t, admin, id, "after/admin", "1")
			waitFor(t, 10*time.Second, "honest writes on both honest nodes", func() bool {
				return holdKeys([]*Node{admin, member}, id, "after/member", "after/admin")
			})
			t.Logf("figure: honest writes on every honest peer %s after the attack", time.Since(start).Round(time.Millisecond))

			// A join through a fresh one-use ticket works.
			tk, err := admin.NewInvite(ctx, "line", InviteOptions{Role: commit.RoleWrite, Uses: 1})
			if err != nil {
				t.Fatal(err)
			}
			joiner := openNode(t, t.TempDir())
			jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			start = time.Now()
			if _, err := joiner.Join(jctx, tk); err != nil {
				t.Fatalf("join after the attack: %v", err)
			}
			put(t, joiner, id, "after/joiner", "1")
			all := []*Node{admin, member, joiner}
			waitFor(t, 15*time.Second, "the joiner's write everywhere", func() bool {
				for _, n := range all {
					if _, err := n.st.Get(ctx, id, []byte("after/joiner")); err != nil {
						return false
					}
				}
				return sameView(all, id)
			})
			t.Logf("figure: join and first write everywhere in %s", time.Since(start).Round(time.Millisecond))

			// And then sync goes quiet: nothing loops.
			for _, n := range all {
				quiet(t, n, 15*time.Second, "the sessions to go quiet")
			}
			for _, n := range all {
				if _, err := n.st.Get(ctx, id, []byte("x/fork/0")); err == nil {
					t.Fatal("the forked write counts")
				}
			}
			waitFor(t, 10*time.Second, "the attacker to be counted", func() bool { return admin.Counters().Misbehaving["equivocation"] == 1 })
			waitFor(t, 10*time.Second, "the attacker to be disconnected", func() bool { return disconnected(admin, x.Author()) })
			rss.check(maxAttackRSS)
		})
	}
}

// hugeCommit builds a commit of about 3.5 MB by key at seq, whose prev
// nobody holds.
func hugeCommit(t *testing.T, key keys.DeviceKey, id keys.SpaceID, seq uint64) *commit.Commit {
	t.Helper()
	var ops []commit.Op
	for i := range 55 {
		ops = append(ops, commit.Put(fmt.Appendf(nil, "flood/%d/%d", seq, i), bytes.Repeat([]byte{byte(seq)}, 64<<10-64)))
	}
	c, err := commit.Build(commit.Header{Space: id, Author: key.Author(), Seq: seq, Prev: keys.CommitID{0xde, 0xad, byte(seq)},
		Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}}, ops, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFaultStrangerPendingFlood is attack B: a stranger who knows the space
// ID sends 250 commits of about 3.5 MB whose prev is missing, from a key
// no commit grants anything. The node holds none of them, counts the
// stranger and disconnects it, its RSS stays bounded, the session's memory
// is freed once it ended, and honest peers still sync.
func TestFaultStrangerPendingFlood(t *testing.T) {
	rss := startRSS(t)
	nodes, id, _ := line(t, 2)
	admin, member := nodes[0], nodes[1]
	stranger := keys.DeviceKeyFromSeed([32]byte{201})
	a := attack(t, admin, stranger, id)
	a.drain()
	sent := 0
	start := time.Now()
	for i := range 250 {
		if err := a.sendCommits(id, []*commit.Commit{hugeCommit(t, stranger, id, uint64(2+i))}); err != nil {
			break
		}
		sent++
	}
	waitFor(t, 20*time.Second, "the stranger to be counted", func() bool { return admin.Counters().Misbehaving["ungranted_commits"] == 1 })
	waitFor(t, 10*time.Second, "the stranger to be disconnected", func() bool { return disconnected(admin, stranger.Author()) })
	t.Logf("figure: the stranger got %d commits of 3.5 MB out before it was cut off, %s after it started; refused: %v", sent, time.Since(start).Round(time.Millisecond), admin.Counters().Misbehaving)
	if used := admin.sync.budget.Used(id); used != 0 {
		t.Fatalf("%d bytes still held after the stranger left", used)
	}
	waitFor(t, 10*time.Second, "the stranger's session to end", func() bool { return admin.SyncStats().Sessions == 1 })
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("figure: heap after GC once the stranger left %d MB", ms.HeapAlloc>>20)
	if ms.HeapAlloc > 150<<20 {
		t.Fatalf("heap %d MB after the attack", ms.HeapAlloc>>20)
	}

	start = time.Now()
	put(t, member, id, "after/member", "1")
	put(t, admin, id, "after/admin", "1")
	waitFor(t, 10*time.Second, "honest writes on both nodes", func() bool { return converged(nodes, id) })
	t.Logf("figure: honest writes on every honest peer %s after the attack", time.Since(start).Round(time.Millisecond))
	rss.check(maxAttackRSS)
}

// withLimits runs the test with other sync limits for the nodes it opens.
func withLimits(t *testing.T, l syncLimits) {
	old := limits
	limits = l
	t.Cleanup(func() { limits = old })
}

// fillSpace writes about mb MB to id on n, in commits of 60 KB.
func fillSpace(t *testing.T, n *Node, id keys.SpaceID, mb int) {
	t.Helper()
	sp, err := n.openSpace(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i := range mb * 1000 / 60 {
		if _, err := sp.Commit(context.Background(), []commit.Op{commit.Put(fmt.Appendf(nil, "fill/%05d", i), bytes.Repeat([]byte{1}, 60<<10))}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFaultPeerStopsReading (issue 10, item 5): a peer opens the sync
// stream, proves the space, says it has nothing, and never reads, while
// the node has a lot to send. The node drops the session within the frame
// deadline and its goroutines end; honest sync goes on.
func TestFaultPeerStopsReading(t *testing.T) {
	withLimits(t, syncLimits{frames: frame.Timeouts{Grace: time.Second, MinRate: 1 << 20}, pendingPerPeer: 32 << 20, pendingPerSpace: 64 << 20, ungranted: 8 << 20, stall: time.Minute, recheck: time.Minute})
	nodes, id, _ := line(t, 2)
	admin := nodes[0]
	fillSpace(t, admin, id, 30)
	waitFor(t, 30*time.Second, "the member to catch up", func() bool { return converged(nodes, id) })
	rogueKey := keys.DeviceKeyFromSeed([32]byte{202})
	base := sessionGoroutines()
	a := attack(t, admin, rogueKey, id)
	a.send(&reconcile.Msg{Type: 2, Disc: keys.DiscoveryID(id)}) // it has nothing, and reads nothing
	start := time.Now()
	waitFor(t, 30*time.Second, "the node to send to the rogue", func() bool { return admin.SyncStats().Sessions == 2 })
	waitFor(t, 30*time.Second, "the session with the rogue to end", func() bool { return admin.SyncStats().Sessions == 1 })
	t.Logf("figure: a peer that stopped reading was dropped %s after it asked for %d MB", time.Since(start).Round(time.Millisecond), 30)
	waitFor(t, 10*time.Second, "the session's goroutines to end", func() bool { return sessionGoroutines() <= base })
	if m := misbehaving([]*Node{admin}); m != 0 {
		t.Fatalf("a slow reader was counted as misbehaving (%d)", m)
	}
	put(t, nodes[1], id, "after", "1")
	waitFor(t, 10*time.Second, "honest sync after", func() bool { return converged(nodes, id) })
}

// TestFaultTricklingFrame (issue 10, H): a peer that sends the start of a
// largest frame and then a byte at a time is cut off within the frame's
// deadline, without blame; an idle honest session is not.
func TestFaultTricklingFrame(t *testing.T) {
	withLimits(t, syncLimits{frames: frame.Timeouts{Grace: time.Second, MinRate: 1 << 20}, pendingPerPeer: 32 << 20, pendingPerSpace: 64 << 20, ungranted: 8 << 20, stall: time.Minute, recheck: time.Minute})
	nodes, id, _ := line(t, 2)
	admin := nodes[0]
	a := attack(t, admin, keys.DeviceKeyFromSeed([32]byte{203}), id)
	a.drain()
	waitFor(t, 10*time.Second, "the rogue's session", func() bool { return admin.SyncStats().Sessions == 2 })
	hdr := binary.AppendUvarint(nil, reconcile.MaxFrame)
	start := time.Now()
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(100 * time.Millisecond) // a byte at a time
		defer tick.Stop()
		a.st.Write(hdr)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := a.st.Write([]byte{1}); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-trickled }()
	deadline := time.Second + reconcile.MaxFrame*time.Second/(1<<20)
	waitFor(t, deadline+10*time.Second, "the trickling session to end", func() bool { return admin.SyncStats().Sessions == 1 })
	t.Logf("figure: a peer trickling a frame was cut off after %s (deadline %s)", time.Since(start).Round(time.Millisecond), deadline)
	// The honest session, idle all along, is still there and works.
	put(t, nodes[1], id, "after", "1")
	waitFor(t, 10*time.Second, "honest sync after", func() bool { return converged(nodes, id) })
	if c := admin.Counters(); c.Sessions != 2 {
		t.Fatalf("%d sessions ran: the idle honest one was dropped", c.Sessions)
	}
}

// sessionGoroutines counts the goroutines running sync session code.
func sessionGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("reconcile.(*Session)")) {
			count++
		}
	}
	return count
}

// TestFaultRevokedMemberOverCutFlood: a revoked member sends the admin 400
// commits of 60 KB past its cut (the 5,000 x 60 KB grew a store by
// 154 MB). The admin keeps at most store.MaxOverCutBytes of them, counts
// the member (over_cut) and disconnects it; a peer forwarding the same
// commits afterwards is honest: they are dropped, it is not counted.
func TestFaultRevokedMemberOverCutFlood(t *testing.T) {
	ctx := ctxT(t)
	rss := startRSS(t)
	admin, member, id, x, cut, xHead := revokedMember(t)
	flood := chain(t, x, id, cut, xHead, headIDs(t, admin, id, x.Author()), 400, 60<<10, "flood", time.Now())
	a := attack(t, admin, x, id)
	a.drain()
	a.sendCommits(id, flood)
	waitFor(t, 20*time.Second, "the member to be counted", func() bool { return admin.Counters().Misbehaving["over_cut"] == 1 })
	waitFor(t, 10*time.Second, "the member to be disconnected", func() bool { return disconnected(admin, x.Author()) })
	kept := func() (n int, size int) {
		for sc, err := range admin.st.Commits(ctx, id, x.Author(), cut+1) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			size += len(sc.Bytes)
		}
		return n, size
	}
	n, size := kept()
	t.Logf("figure: of 400 commits of 60 KB past the cut the admin keeps %d (%d MB)", n, size>>20)
	if n >= len(flood) || size > store.MaxOverCutBytes {
		t.Fatalf("kept %d commits, %d bytes past the cut", n, size)
	}

	before := admin.SyncTotals().CommitsIn
	fwd := attack(t, admin, keys.DeviceKeyFromSeed([32]byte{204}), id)
	fwd.drain()
	fwd.sendCommits(id, flood[n:])
	put(t, member, id, "after/member", "1")
	waitFor(t, 10*time.Second, "the honest write after the flood", func() bool {
		_, err := admin.st.Get(ctx, id, []byte("after/member"))
		return err == nil
	})
	waitFor(t, 10*time.Second, "the forwarded commits to be processed", func() bool {
		return admin.SyncTotals().CommitsIn >= before+uint64(len(flood)-n)
	})
	if m := misbehaving([]*Node{admin}); m != 1 {
		t.Fatalf("%d misbehaviours counted: %v (a forwarder is honest)", m, admin.Counters().Misbehaving)
	}
	if n2, _ := kept(); n2 != n {
		t.Fatalf("forwarded commits past the bound were kept: %d, then %d", n, n2)
	}
	rss.check(maxAttackRSS)
}
