package reconcile

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/testkit"
)

var quiesceSeed = flag.Uint64("quiesce.seed", 0, "seed for TestPropertySyncQuiesces (0: random)")

// history is a random space history with forks, revocations and authors
// who write on after being cut.
type history struct {
	sk      keys.SpaceKey
	genesis *commit.Commit
	all     []*commit.Commit // in generation order (a causal order)
}

func genHistory(r *rand.Rand, n int) *history {
	sk := keys.SpaceKeyFromSeed([32]byte{42})
	id := sk.Space()
	admin := keys.DeviceKeyFromSeed([32]byte{200})
	var writers []keys.DeviceKey
	ops := []commit.Op{commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin})}
	for i := range 4 {
		w := keys.DeviceKeyFromSeed([32]byte{byte(201 + i)})
		writers = append(writers, w)
		ops = append(ops, commit.GrantOp(commit.Grant{Subject: w.Author(), Role: commit.RoleWrite}))
	}
	base := uint64(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	tick := base
	now := func() commit.HLC { tick += 1000; return commit.HLC{Wall: tick} }
	g, err := commit.Build(commit.Header{Space: id, Author: sk.Author(), Seq: 1, Time: now()}, ops, sk)
	if err != nil {
		panic(err)
	}
	h := &history{sk: sk, genesis: g}
	// tips: each author's branches (the last commit of each); branch 0 is
	// the one it goes on with.
	tips := map[keys.AuthorID][]*commit.Commit{sk.Author(): {g}}
	signer := map[keys.AuthorID]commit.Signer{admin.Author(): admin}
	authors := []keys.AuthorID{admin.Author()}
	for _, w := range writers {
		signer[w.Author()] = w
		authors = append(authors, w.Author())
	}
	deps := func(self keys.AuthorID) []keys.CommitID {
		var out []keys.CommitID
		for _, a := range append([]keys.AuthorID{sk.Author()}, authors...) {
			bs := tips[a]
			if len(bs) == 0 {
				continue
			}
			if a != self && r.IntN(2) == 0 || a == sk.Author() && len(tips[self]) == 0 {
				out = append(out, bs[r.IntN(len(bs))].ID)
			}
		}
		slices.SortFunc(out, func(x, y keys.CommitID) int { return bytesCompare(x[:], y[:]) })
		return out
	}
	build := func(au keys.AuthorID, prev *commit.Commit, op commit.Op) *commit.Commit {
		hd := commit.Header{Space: id, Author: au, Seq: 1, Time: now(), Deps: deps(au)}
		if prev != nil {
			hd.Seq, hd.Prev = prev.Seq+1, prev.ID
		}
		if len(hd.Deps) == 0 {
			hd.Deps = []keys.CommitID{g.ID}
		}
		c, err := commit.Build(hd, []commit.Op{op}, signer[au])
		if err != nil {
			panic(err)
		}
		h.all = append(h.all, c)
		return c
	}
	for i := range n {
		au := authors[r.IntN(len(authors))]
		bs := tips[au]
		var prev *commit.Commit
		if len(bs) > 0 {
			prev = bs[0]
		}
		switch k := r.IntN(10); {
		case k == 0 && au == admin.Author(): // revoke a writer at its current seq
			w := writers[r.IntN(len(writers))].Author()
			var cut uint64
			if wb := tips[w]; len(wb) > 0 {
				cut = wb[0].Seq
			}
			tips[au] = []*commit.Commit{build(au, prev, commit.RevokeOp(commit.Revoke{Author: w, LastSeq: cut}))}
		case k == 1 && prev != nil && au != admin.Author(): // fork: a sibling of the next commit
			a := build(au, prev, commit.Put(fmt.Appendf(nil, "k/%d", r.IntN(8)), fmt.Appendf(nil, "left %d", i)))
			b := build(au, prev, commit.Put(fmt.Appendf(nil, "k/%d", r.IntN(8)), fmt.Appendf(nil, "right %d", i)))
			tips[au] = []*commit.Commit{a, b}
		case k == 2 && len(bs) > 1: // the other branch goes on (off-chain where the first is main)
			tips[au][1] = build(au, bs[1], commit.Put(fmt.Appendf(nil, "k/%d", r.IntN(8)), fmt.Appendf(nil, "branch %d", i)))
		default:
			c := build(au, prev, commit.Put(fmt.Appendf(nil, "k/%d", r.IntN(8)), fmt.Appendf(nil, "v %d", i)))
			if len(bs) > 0 {
				tips[au][0] = c
			} else {
				tips[au] = []*commit.Commit{c}
			}
		}
	}
	return h
}

func bytesCompare(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return len(a) - len(b)
}

// countingConn counts frames and cuts the link past a limit.
type countingConn struct {
	Conn
	n, limit int
	mu       *sync.Mutex
	over     *bool
}

func (c *countingConn) WriteFrame(b []byte) error {
	c.mu.Lock()
	c.n++
	over := c.n > c.limit
	if over {
		*c.over = true
	}
	c.mu.Unlock()
	if over {
		c.Conn.Close()
		return errors.New("frame limit")
	}
	return c.Conn.WriteFrame(b)
}

// TestPropertySyncQuiesces: two stores holding random parts of a history
// with forks (each branch on either side, branches going on off-chain),
// revocations, and authors writing on past their cut and others depending
// on that, sync and then go quiet: the frames are bounded, every
// goroutine ends up blocked (synctest), and both hold the same view and
// announce the same heads. Sync terminates on any set of stored commits.
func TestPropertySyncQuiesces(t *testing.T) {
	seed := testkit.Seed(t, *quiesceSeed, "quiesce.seed")
	runs := 40
	if testing.Short() {
		runs = 8
	}
	for run := range runs {
		s := seed + uint64(run)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { quiesce(t, s) })
		})
	}
}

func quiesce(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 3))
	h := genHistory(r, 20+r.IntN(60))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var nodes [2]*tnode
	for i := range nodes {
		nd := newTNode(t, keys.DeviceKeyFromSeed([32]byte{byte(100 + i)}), h.sk.Space())
		defer nd.Close()
		if err := nd.CreateSpace(ctx, "s", h.genesis); err != nil {
			t.Fatal(err)
		}
		nodes[i] = nd
	}
	// Each commit goes to one side or both, in causal order; what misses
	// its causal past on a side is not stored there.
	var parts [2][]*commit.Commit
	for _, c := range h.all {
		switch r.IntN(5) {
		case 0:
			parts[0] = append(parts[0], c)
		case 1:
			parts[1] = append(parts[1], c)
		default:
			parts[0] = append(parts[0], c)
			parts[1] = append(parts[1], c)
		}
	}
	for i, nd := range nodes {
		for _, c := range parts[i] {
			if _, err := nd.Store.Apply(ctx, nd.id, []*commit.Commit{c}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ch chaos
	if seed%2 == 1 {
		ch = chaos{dup: 0.1, reorder: 0.2} // a stream delays and repeats, it does not lose
	}
	ca, cb := memPipe(ch, seed)
	var mu sync.Mutex
	over := false
	limit := 20 * (len(h.all) + 10)
	conns := [2]*countingConn{{Conn: ca, limit: limit, mu: &mu, over: &over}, {Conn: cb, limit: limit, mu: &mu, over: &over}}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, nd := range nodes {
		s := NewSession(Config{Self: nd.dev.Author(), Peer: nodes[1-i].dev.Author()}, nd, conns[i])
		nd.addSession(s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Run(ctx)
		}()
	}
	// Quiet: every goroutine blocked, and still so once the frames the
	// link held back (reorder) were delivered.
	for n := -1; ; {
		synctest.Wait()
		mu.Lock()
		m := conns[0].n + conns[1].n
		mu.Unlock()
		if m == n {
			break
		}
		n = m
		time.Sleep(10 * time.Millisecond) // fake time: fires the link's timers
	}
	if over {
		t.Fatalf("sync did not go quiet: more than %d frames for %d commits", limit, len(h.all))
	}
	frames := conns[0].n + conns[1].n
	// Nothing held waits for ever on an honest peer: past every stall
	// timeout, both sessions still run.
	time.Sleep(2 * DefaultStallTimeout)
	synctest.Wait()
	// Both say they are in sync (what status shows).
	for i, nd := range nodes {
		hs, _ := nd.Store.SyncHeads(ctx, nd.id)
		for s := range nd.sessions {
			if !s.InSync(nd.id, hs) {
				t.Errorf("%s does not say it is in sync after quiet", nd.dev.Author().Short())
				for _, ps := range s.byDisc {
					t.Logf("held %d; ours:", ps.nPending.Load())
					for _, h := range hs {
						t.Logf("  %s:%d has %d", h.Author.Short(), h.Seq, ps.peerHas(h.Author).Seq)
					}
					for _, h := range ps.lastHave {
						t.Logf("  peer announced %s:%d", h.Author.Short(), h.Seq)
					}
					for _, c := range ps.wait.cs {
						t.Logf("  held %s prev %s deps %v asked %v", c, c.Prev.Short(), c.Deps, ps.wait.asked)
						for _, d := range append([]keys.CommitID{c.Prev}, c.Deps...) {
							_, err := nd.Store.CommitByID(ctx, nd.id, d)
							_, err2 := nodes[1-i].Store.CommitByID(ctx, nd.id, d)
							t.Logf("    %s here: %v there: %v", d.Short(), err, err2)
						}
					}
				}
			}
		}
	}
	cancel()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("session: %v", err)
		}
	}
	var views [2]string
	var forked, heads [2]map[keys.AuthorID]uint64
	for i, nd := range nodes {
		v, _ := nd.Store.View(context.Background(), nd.id)
		hs, _ := nd.Store.SyncHeads(context.Background(), nd.id)
		views[i] = v.Hash.String()[:8]
		for _, h := range hs {
			views[i] += fmt.Sprintf(" %s:%d:%s", h.Author.Short()[4:8], h.Seq, h.ID.Short()[4:8])
		}
		forked[i] = map[keys.AuthorID]uint64{}
		fs, _ := nd.Store.Forks(context.Background(), nd.id)
		for _, f := range fs {
			if cur, ok := forked[i][f.A.Author]; !ok || f.A.Seq < cur {
				forked[i][f.A.Author] = f.A.Seq
			}
		}
		heads[i] = map[keys.AuthorID]uint64{}
		for _, h := range hs {
			heads[i][h.Author] = h.Seq
		}
	}
	// A side that announces commits of an author from where the other
	// knows it forked knows of a fork too. (A side that holds them void
	// for a revocation below the fork need not.)
	for i := range 2 {
		for a, f := range forked[i] {
			if _, ok := forked[1-i][a]; !ok && heads[1-i][a] >= f {
				views[1-i] += fmt.Sprintf(" (does not know %s forked at %d)", a.Short(), f)
			}
		}
	}
	if views[0] != views[1] {
		t.Fatalf("after %d frames the two sides differ:\n%s\n%s", frames, views[0], views[1])
	}
}
