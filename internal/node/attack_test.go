package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
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
	if p > max {
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
	ctx := ctxT(t)
	h, err := p2p.New(context.Background(), p2p.Config{Key: key, Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if _, err := h.Connect(ctx, n.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	s, err := h.Open(ctx, n.Author(), reconcile.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{t: t, h: h, key: key, st: s, conn: reconcile.NewStreamConn(s, s)}
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
func headIDs(t *testing.T, n *Node, id keys.SpaceID, skip keys.AuthorID) []keys.CommitID {
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
				for _, n := range []*Node{admin, member} {
					for _, k := range []string{"after/member", "after/admin"} {
						if _, err := n.st.Get(ctx, id, []byte(k)); err != nil {
							return false
						}
					}
				}
				return true
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
