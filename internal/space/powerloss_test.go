package space_test

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/testkit"
)

var (
	powerSeed = flag.Uint64("powerloss.seed", 0, "TestPowerLoss: run only the crash with this seed (0: random seeds)")
	powerRuns = flag.Int("powerloss.runs", 100, "TestPowerLoss: crashes to run")
)

// TestPowerLoss is the fault suite's power-loss test (docs/reliability.md):
// two nodes hold a space, each on Pebble's crashable in-memory file
// system, and sync through reconcile sessions over an in-memory pipe
// while two writers on each write. At a random moment the power fails:
// each node's files become what was synced, plus a random part of what
// was not (vfs.MemFS.CrashClone). Both reopen, sync again and write
// again. Then every write acknowledged before the crash is on both
// replicas with the right winner (ackcheck), the log verifies
// (space.VerifyLog) on both, and no device has forked itself. Each crash
// has its own seed, printed on failure; replay one with
// -powerloss.seed=N.
func TestPowerLoss(t *testing.T) {
	runs := *powerRuns
	if testing.Short() {
		runs = min(runs, 20)
	}
	seeds := []uint64{*powerSeed}
	if *powerSeed == 0 {
		seeds = seeds[:0]
		for range runs {
			seeds = append(seeds, rand.Uint64())
		}
	}
	start := time.Now()
	acked, none := 0, 0
	for i, seed := range seeds {
		n, ok := powerLoss(t, seed)
		if !ok {
			t.Fatalf("crash %d failed: replay with -powerloss.seed=%d", i, seed)
		}
		acked += n
		if n == 0 {
			none++
		}
	}
	t.Logf("%d crashes in %s: %d writes acknowledged before them (%d crashes before the first)", len(seeds), time.Since(start).Round(time.Millisecond), acked, none)
}

// powerLoss runs one crash; it returns how many writes were acknowledged
// before it and whether every check passed.
func powerLoss(t *testing.T, seed uint64) (int, bool) {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("seed %d: "+format, append([]any{seed}, args...)...)
		ok = false
	}
	rnd := rand.New(rand.NewPCG(seed, 1))
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{3})
	devs := []keys.DeviceKey{keys.DeviceKeyFromSeed([32]byte{4}), keys.DeviceKeyFromSeed([32]byte{5})}
	genesis, err := commit.Build(commit.Header{Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().Add(-time.Minute).UnixMicro())}},
		[]commit.Op{
			commit.GrantOp(commit.Grant{Subject: devs[0].Author(), Role: commit.RoleAdmin}),
			commit.GrantOp(commit.Grant{Subject: devs[1].Author(), Role: commit.RoleWrite}),
		}, sk)
	if err != nil {
		t.Fatal(err)
	}
	fss := []*vfs.MemFS{vfs.NewCrashableMem(), vfs.NewCrashableMem()}
	var nodes []*plNode
	for i := range 2 {
		n := openPLNode(t, fss[i], sk.Space(), devs[i])
		if err := n.Store.CreateSpace(ctx, "s", genesis); err != nil {
			t.Fatal(err)
		}
		n.openSpace(t)
		nodes = append(nodes, n)
	}

	// Write and sync until the power fails.
	check := ackcheck.New()
	var crashed atomic.Bool
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for i, n := range nodes {
		for w := range 2 {
			wseed := rnd.Uint64()
			writers.Add(1)
			go func() {
				defer writers.Done()
				r := rand.New(rand.NewPCG(wseed, 2))
				for {
					select {
					case <-stop:
						return
					default:
					}
					plWrite(ctx, check, n, fmt.Sprintf("node%d.%d", i, w), fmt.Sprintf("k%02d", r.IntN(24)), r.IntN(8) == 0, &crashed)
				}
			}()
		}
	}
	link := startPLLink(nodes[0], nodes[1])
	time.Sleep(time.Duration(1000+rnd.IntN(20_000)) * time.Microsecond) // the moment the power fails
	crashed.Store(true)
	// The power fails on both nodes at one moment, but their files are
	// cloned one after the other: the link carries nothing from here on,
	// or a commit a node writes after its clone (one its clone lost) could
	// reach the other's clone, and the node would write that seq again.
	link.cut.Store(true)
	var clones []*vfs.MemFS
	for _, fs := range fss {
		clones = append(clones, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rnd.IntN(101), RNG: rand.New(rand.NewPCG(rnd.Uint64(), 3))}))
	}
	close(stop)
	writers.Wait()
	link.stop()
	for _, n := range nodes {
		n.Store.Close()
	}
	acked := check.Acknowledged()

	// Power back: reopen, sync, write again, sync.
	nodes = nodes[:0]
	for i := range 2 {
		n := openPLNode(t, clones[i], sk.Space(), devs[i])
		n.openSpace(t)
		nodes = append(nodes, n)
	}
	defer func() {
		for _, n := range nodes {
			n.Store.Close()
		}
	}()
	for i, n := range nodes {
		if _, err := space.VerifyLog(ctx, n.Store, sk.Space()); err != nil {
			fail("node %d after the crash: VerifyLog: %v", i, err)
		}
	}
	link = startPLLink(nodes[0], nodes[1])
	crashed.Store(false)
	for i, n := range nodes {
		for w := range 3 {
			if !plWrite(ctx, check, n, fmt.Sprintf("node%d.after", i), fmt.Sprintf("k%02d", (w*7+i)%24), false, &crashed) {
				fail("node %d: a write after the crash failed", i)
			}
		}
	}
	converged := testkit.Poll(10*time.Second, 2*time.Millisecond, func() bool { return plConverged(ctx, nodes) })
	link.stop()
	if !converged {
		fail("the nodes did not converge after the crash")
	}
	for i, n := range nodes {
		if forks, err := n.Store.Forks(ctx, sk.Space()); err != nil || len(forks) > 0 {
			fail("node %d: fork evidence %v (%v): a device forked itself", i, forks, err)
		}
		if _, err := space.VerifyLog(ctx, n.Store, sk.Space()); err != nil {
			fail("node %d at the end: VerifyLog: %v", i, err)
		}
	}
	if err := check.Check(ctx, plReplica{nodes[0]}, plReplica{nodes[1]}); err != nil {
		fail("%v", err)
	}
	return acked, ok
}

// plWrite makes one write (a put, or a delete if del) and records it: as
// acknowledged if Commit returned nil before the power failed, else as in
// doubt. It reports whether Commit returned nil.
func plWrite(ctx context.Context, check *ackcheck.Checker, n *plNode, writer, key string, del bool, crashed *atomic.Bool) bool {
	w := ackcheck.Write{Space: n.id.String(), Key: key, Writer: writer, Deleted: del}
	op := commit.Del([]byte(key))
	if !del {
		w.Value = check.Unique(writer)
		op = commit.Put([]byte(key), []byte(w.Value))
	}
	c, err := n.sp.Commit(ctx, []commit.Op{op})
	if err != nil || crashed.Load() {
		check.InDoubt(w)
		return err == nil
	}
	for i, o := range c.Ops {
		if o.Kind == op.Kind && string(o.Key) == key && string(o.Payload) == string(op.Payload) {
			w.Version = plVersion(c, i)
		}
	}
	check.Acked(w)
	return true
}

// plVersion is the LWW version of op i of c, authors compared as bytes.
func plVersion(c *commit.Commit, i int) ackcheck.Version {
	return ackcheck.Version{Wall: c.Time.Wall, Logical: uint64(c.Time.Logical), Author: hex.EncodeToString(c.Author[:]), Seq: c.Seq, Op: uint32(i)}
}

// plNode is one node of the power-loss test: a store, the device's write
// path, and the sync sessions to notify. The store's methods are the
// reconcile.Local ones but Spaces and Heads.
type plNode struct {
	*store.Store
	id  keys.SpaceID
	dev keys.DeviceKey
	sp  *space.Space

	mu       sync.Mutex
	sessions map[*reconcile.Session]bool // guarded by mu
}

func openPLNode(t *testing.T, fs vfs.FS, id keys.SpaceID, dev keys.DeviceKey) *plNode {
	t.Helper()
	n := &plNode{id: id, dev: dev, sessions: map[*reconcile.Session]bool{}}
	st, err := store.Open("db", store.Options{FS: fs, Notify: n.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	n.Store = st
	return n
}

func (n *plNode) openSpace(t *testing.T) {
	t.Helper()
	sp, err := space.Open(context.Background(), n.Store, n.id, n.dev, commit.NewClock())
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.sp = sp
	n.mu.Unlock()
}

// onEvent is the store's Notify: it tells the write path and wakes the
// sessions, as node.Node does.
func (n *plNode) onEvent(ev store.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sp != nil {
		n.sp.Observe(ev)
	}
	for s := range n.sessions {
		s.Observe(ev)
	}
}

func (n *plNode) Spaces() []keys.SpaceID { return []keys.SpaceID{n.id} }
func (n *plNode) Heads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error) {
	return n.SyncHeads(ctx, sp) // as node.Node: withheld tails are not announced
}

// plLink is a session pair between two nodes over an in-memory pipe.
type plLink struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cut    atomic.Bool // once set, no frame is sent (the power failed)
}

// plConn is one end of a plLink: it sends nothing once the link is cut.
// A frame sent was read before the cut, so before the sender's clone:
// what it carries was durable there (the store reads durable state only).
type plConn struct {
	*testkit.FrameConn
	cut *atomic.Bool
}

func (c plConn) WriteFrame(f []byte) error {
	if c.cut.Load() {
		return io.ErrClosedPipe
	}
	return c.FrameConn.WriteFrame(f)
}

func startPLLink(a, b *plNode) *plLink {
	ctx, cancel := context.WithCancel(context.Background())
	l := &plLink{cancel: cancel}
	ca, cb := testkit.FramePipe(256)
	for _, end := range []struct {
		n, peer *plNode
		c       *testkit.FrameConn
	}{{a, b, ca}, {b, a, cb}} {
		s := reconcile.NewSession(reconcile.Config{Self: end.n.dev.Author(), Peer: end.peer.dev.Author()}, end.n, plConn{end.c, &l.cut})
		end.n.mu.Lock()
		end.n.sessions[s] = true
		end.n.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			s.Run(ctx) // ends with the store's ErrClosed, or when stopped
			end.n.mu.Lock()
			delete(end.n.sessions, s)
			end.n.mu.Unlock()
		}()
	}
	return l
}

func (l *plLink) stop() {
	l.cancel()
	l.wg.Wait()
}

// plConverged reports whether the nodes hold the same heads and view.
func plConverged(ctx context.Context, nodes []*plNode) bool {
	var ref string
	for i, n := range nodes {
		s, ok := storetest.State(ctx, n.Store, n.id)
		if !ok {
			return false
		}
		if i == 0 {
			ref = s
		} else if s != ref {
			return false
		}
	}
	return true
}

// plReplica reads a node's store for the checker.
type plReplica struct{ n *plNode }

func (r plReplica) Name() string { return r.n.dev.Author().Short() }

func (r plReplica) Get(ctx context.Context, sp, key string) (ackcheck.Entry, error) {
	e, err := r.n.Store.Get(ctx, r.n.id, []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return ackcheck.Entry{}, nil
	}
	if err != nil {
		return ackcheck.Entry{}, err
	}
	return ackcheck.Entry{Found: true, Value: string(e.Value), Version: ackcheck.Version{
		Wall: e.Time.Wall, Logical: uint64(e.Time.Logical), Author: hex.EncodeToString(e.Author[:]), Seq: e.Seq, Op: e.Op,
	}}, nil
}
