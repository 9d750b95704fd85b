package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store"
)

// Backoff for misbehaving peers: the first block lasts minBlock, each
// further one twice the last, up to maxBlock.
const (
	minBlock = time.Minute
	maxBlock = 24 * time.Hour
)

func (n *Node) startNetwork(ctx context.Context, o Options) error {
	n.sync = newNodeSync(o.Now)
	listen := o.Listen
	if len(listen) == 0 { // the ports of the last run, where free (listen.go)
		listen = p2p.ReuseListen(readListen(n.home))
	}
	h, err := p2p.New(ctx, p2p.Config{
		Key:       n.dev,
		Listen:    listen,
		MDNS:      o.MDNS,
		DHT:       o.DHT,
		Bootstrap: o.Bootstrap,

		RelayService: o.RelayService,
		RelayLimit:   o.RelayLimit,
		Logger:       n.log,
		OnPeerFound: func(pi p2p.PeerInfo) {
			n.wg.Go(func() { // connect to LAN peers found by mDNS
				ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
				defer cancel()
				n.host.ConnectPeer(ctx, pi)
			})
		},
	})
	if err != nil {
		return err
	}
	n.host = h
	if len(o.Listen) == 0 {
		keepListen(n.home, h.ListenAddrs())
	}
	h.Handle(reconcile.ProtocolID, func(s p2p.Stream) { n.runSession(s) })
	h.Handle(blob.BlobProtocolID, n.serveBlobs)
	h.Handle(reconcile.SnapshotProtocolID, n.serveSnapshot)
	h.Notify(func(peer keys.AuthorID, connected bool) {
		if connected && n.dialsTo(peer) {
			n.wg.Go(func() {
				n.dialSession(peer)
			})
		}
		if !connected && h.RelaySync(peer) {
			// A relay ends relayed connections at its limits: reconnect
			// at once, and sync resumes.
			n.goReach(p2p.PeerInfo{ID: peer}, true)
		}
	})
	// Whichever side dialled, both try to upgrade a relayed connection
	// and, failing that, sync through the relay.
	h.NotifyRelayed(func(peer keys.AuthorID) { n.goReach(p2p.PeerInfo{ID: peer}, false) })
	if o.DHT != p2p.DHTOff {
		n.startDiscovery()
		h.NotifyAddrs(n.addrsChanged)
	}
	n.startReconnect() // peer book, unfinished joins (reconnect.go)
	return nil
}

// dialSession opens the sync stream to a newly connected peer. An Open
// that fails while the peer stays connected and no session runs with it
// is tried again, sessionOpenTries times in all, from redialPause apart
// and twice as long each time: nothing else would open one before the
// connection drops (a peer still starting serves sync only once its host
// is up; an Open may time out under load). A peer that does not speak
// sync (a bootstrap node) is then left alone.
func (n *Node) dialSession(peer keys.AuthorID) {
	pause := redialPause
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		s, err := n.host.Open(ctx, peer, reconcile.ProtocolID)
		cancel()
		if err == nil {
			n.runSession(s)
			return
		}
		n.log.Debug("sync stream not opened", "peer", p2p.PeerIDString(peer), "try", try, "err", err.Error())
		if try == sessionOpenTries || !n.sleep(pause) || !n.connected(peer) || n.sessionFor(peer) != nil {
			return
		}
		pause *= 2
	}
}

// sessionOpenTries bounds dialSession's tries: about 6 s of them in all.
const sessionOpenTries = 6

// runSession runs the sync protocol on a stream until it ends. It runs on
// the stream handler's goroutine or on dialSession's.
func (n *Node) runSession(st p2p.Stream) {
	peer := st.Peer()
	s := reconcile.NewSession(n.sessionConfig(peer), n.reconcileLocal(peer), reconcile.NewStreamConnTimeouts(st, st, n.sync.limits.frames))
	n.mu.Lock()
	if n.ending {
		n.mu.Unlock()
		st.Close() // the node is closing: no new session
		return
	}
	old := n.sessions[peer]
	n.sessions[peer] = s // one sync stream per peer: the newest wins
	n.counters.Sessions++
	n.mu.Unlock()
	if old != nil {
		old.Close() // a stale stream, e.g. from before a reconnect
	}

	err := s.Run(n.ctx)

	n.mu.Lock()
	if n.sessions[peer] == s {
		delete(n.sessions, peer)
	}
	n.counters.Ended.add(&s.Stats)
	stillNone := n.sessions[peer] == nil
	n.mu.Unlock()
	if errors.Is(err, reconcile.ErrMisbehaving) {
		n.punish(peer, misbehaviourKind(err), err)
		return
	}
	n.logSessionEnd(peer, err)
	// Streams can cross while connections churn (a join dialling several
	// addresses): a session may end while the peer stays connected. The
	// dialling side opens a new one, so two connected peers always sync.
	if stillNone && n.dialsTo(peer) && n.ctx.Err() == nil {
		n.wg.Go(func() {
			if n.sleep(redialPause) && n.connected(peer) && n.sessionFor(peer) == nil {
				n.dialSession(peer)
			}
		})
	}
}

// closeDrain bounds how long Close waits for the sync sessions to end
// gracefully, whatever the peers do.
const closeDrain = 3 * time.Second

// endSessions ends every sync session gracefully, at once and within
// closeDrain in all (reconcile.Session.End): each sends what it has
// pending and a Bye, half-closes its stream and reads on until the peer's
// end of it, which the peer sends once it read (and stored) every frame
// sent before. So what WaitSynced counted as sent is at the peer when
// Close returns, for every peer that keeps reading. No session starts
// after it began.
func (n *Node) endSessions() {
	if n.host == nil {
		return
	}
	n.mu.Lock()
	n.ending = true
	ss := slices.Collect(maps.Values(n.sessions))
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeDrain)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			s.End(ctx)
		})
	}
	wg.Wait()
}

// punish counts a peer's misbehaviour of kind, disconnects it and blocks
// it: for minBlock the first time, twice as long each further time.
// why, if not nil, says what the peer did (it is logged).
func (n *Node) punish(peer keys.AuthorID, kind string, why error) {
	n.mu.Lock()
	n.counters.Misbehaving[kind]++
	d := min(max(2*n.blocked[peer], minBlock), maxBlock)
	n.blocked[peer] = d
	n.mu.Unlock()
	n.logRefusedPeer(peer, kind, d, why)
	n.host.Block(peer, d)
}

// redialPause spaces out reopening a sync stream to a connected peer, so a
// peer whose sessions keep ending cannot make a tight loop.
const redialPause = 200 * time.Millisecond

// dialsTo reports whether this node opens the sync stream to peer: the
// smaller ID does.
func (n *Node) dialsTo(peer keys.AuthorID) bool {
	return bytes.Compare(n.dev.Author().Bytes(), peer.Bytes()) < 0
}

func (n *Node) connected(peer keys.AuthorID) bool {
	for _, p := range n.host.Peers() {
		if p.ID == peer {
			return p.Connected
		}
	}
	return false
}

func (n *Node) sessionFor(peer keys.AuthorID) *reconcile.Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sessions[peer]
}

func misbehaviourKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{reconcile.ErrBadProof, "bad_proof"},
		{reconcile.ErrUnauthorized, "unauthorized_commit"},
		{reconcile.ErrEquivocation, "equivocation"},
		{reconcile.ErrOverCut, "over_cut"},
		{reconcile.ErrBrokenRule, "broken_app_rule"},
		{reconcile.ErrUngranted, "ungranted_commits"},
		{reconcile.ErrStalled, "stalled_pending"},
		{reconcile.ErrBadCommit, "invalid_commit"},
		{reconcile.ErrBadFrame, "bad_frame"},
		{reconcile.ErrBadMessage, "malformed_message"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

// Connect dials a peer by multiaddr (with /p2p/).
func (n *Node) Connect(ctx context.Context, addr string) (keys.AuthorID, error) {
	if n.host == nil {
		return keys.AuthorID{}, ErrOffline
	}
	peer, err := n.host.Connect(ctx, addr)
	if err == nil {
		n.upgradeIfRelayed(peer)
	}
	return peer, err
}

// Addrs returns the node's p2p multiaddrs (nil when offline).
func (n *Node) Addrs() []string {
	if n.host == nil {
		return nil
	}
	return n.host.Addrs()
}

// PeerID returns the node's peer ID in libp2p's text form.
func (n *Node) PeerID() string { return p2p.PeerIDString(n.dev.Author()) }

// Peer is a connected (or recently seen) peer.
type Peer struct {
	p2p.PeerInfo
	PeerID string         // libp2p text form
	Spaces []keys.SpaceID // spaces synced with it
}

// Peers lists the peers the host knows, with the spaces synced with each.
func (n *Node) Peers() []Peer {
	if n.host == nil {
		return nil
	}
	infos := n.host.Peers()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Peer, 0, len(infos))
	for _, pi := range infos {
		p := Peer{PeerInfo: pi, PeerID: p2p.PeerIDString(pi.ID)}
		if s := n.sessions[pi.ID]; s != nil {
			p.Spaces = s.Shared()
		}
		out = append(out, p)
	}
	return out
}

// SyncStats sums the counters of the running sessions.
type SyncStats struct {
	Sessions              int
	FramesIn, FramesOut   uint64
	CommitsIn, CommitsOut uint64
	BytesIn, BytesOut     uint64
	Wakeups               uint64
}

// SyncStats returns the running sessions' counters, summed.
func (n *Node) SyncStats() SyncStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var t SyncStats
	for _, s := range n.sessions {
		t.add(&s.Stats)
	}
	return t
}

// SyncTotals returns the counters of every sync session this node ran,
// running or ended, summed: they only grow (for /metrics). Sessions
// counts the sessions running.
func (n *Node) SyncTotals() SyncStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.counters.Ended
	t.Sessions = 0
	for _, s := range n.sessions {
		t.add(&s.Stats)
	}
	return t
}

// add adds a session's counters to t and counts it in Sessions.
func (t *SyncStats) add(st *reconcile.Stats) {
	t.Sessions++
	t.FramesIn += st.FramesIn.Load()
	t.FramesOut += st.FramesOut.Load()
	t.CommitsIn += st.CommitsIn.Load()
	t.CommitsOut += st.CommitsOut.Load()
	t.BytesIn += st.BytesIn.Load()
	t.BytesOut += st.BytesOut.Load()
	t.Wakeups += st.Wakeups.Load()
}

// SpaceSync says how many connected peers share a space and how many of
// them are in sync with this node on it.
func (n *Node) SpaceSync(ctx context.Context, id keys.SpaceID) (peers, inSync int, err error) {
	heads, err := n.st.SyncHeads(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.sessions {
		shared := false
		for _, sp := range s.Shared() {
			shared = shared || sp == id
		}
		if !shared {
			continue
		}
		peers++
		if s.InSync(id, heads) {
			inSync++
		}
	}
	return peers, inSync, nil
}

// PeerGap is how one peer's copy of a space differs from this node's.
type PeerGap struct {
	Peer keys.AuthorID
	// Missing counts the commits the peer holds and this node lacks;
	// Extra those this node holds and the peer lacks.
	Missing, Extra uint64
	// Known is false while the peer has not announced its heads.
	Known bool
}

// SpaceGaps compares this node's copy of a space with each peer syncing
// it, sorted by peer.
func (n *Node) SpaceGaps(ctx context.Context, id keys.SpaceID) ([]PeerGap, error) {
	heads, err := n.st.Heads(ctx, id)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []PeerGap
	for peer, s := range n.sessions {
		if !slices.Contains(s.Shared(), id) {
			continue
		}
		g := PeerGap{Peer: peer}
		g.Missing, g.Extra, g.Known = s.Gap(id, heads)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b PeerGap) int { return bytes.Compare(a.Peer[:], b.Peer[:]) })
	return out, nil
}

// Counters returns a copy of the node's refusal counters.
func (n *Node) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.counters
	c.Misbehaving = maps.Clone(n.counters.Misbehaving)
	return c
}

// The node is the sessions' reconcile.Local.

// Spaces returns the spaces to sync (reconcile.Local).
func (n *Node) syncSpaces() []keys.SpaceID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]keys.SpaceID(nil), n.held...)
}

// local adapts the node to reconcile.Local, for the session with peer.
type local struct {
	n    *Node
	peer keys.AuthorID
}

func (n *Node) reconcileLocal(peer keys.AuthorID) reconcile.Local { return local{n, peer} }

func (l local) Spaces() []keys.SpaceID { return l.n.syncSpaces() }
func (l local) Heads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error) {
	return l.n.st.SyncHeads(ctx, sp) // voided tails are not announced: they are never sent
}
func (l local) Commits(ctx context.Context, sp keys.SpaceID, a keys.AuthorID, from uint64) iter.Seq2[store.StoredCommit, error] {
	return l.n.st.Commits(ctx, sp, a, from)
}
func (l local) CommitByID(ctx context.Context, sp keys.SpaceID, id keys.CommitID) ([]byte, error) {
	return l.n.st.CommitByID(ctx, sp, id)
}

var _ reconcile.Floored = local{}

// Floor is reconcile.Floored: a space installed from a checkpoint is not
// sent to a peer below its floor.
func (l local) Floor(ctx context.Context, sp keys.SpaceID) (*store.Floor, error) {
	return l.n.st.Floor(ctx, sp)
}

var _ reconcile.Deepening = local{}

// HistoryHeads is reconcile.Deepening: a space being deepened announces
// the chains it holds from seq 1 to the peer it fetches them from
// (deepen.go).
func (l local) HistoryHeads(ctx context.Context, sp keys.SpaceID) ([]store.Head, bool, error) {
	if !l.n.deepenSource(sp, l.peer) {
		return nil, false, nil
	}
	return l.n.st.HistoryHeads(ctx, sp)
}
func (l local) LostCommits(ctx context.Context, sp keys.SpaceID, max int) ([]keys.CommitID, error) {
	return l.n.st.LostCommits(ctx, sp, max)
}
func (l local) Forks(ctx context.Context, sp keys.SpaceID) ([]commit.Fork, error) {
	return l.n.st.Forks(ctx, sp)
}
func (l local) Writable(need uint64) error { return l.n.st.Writable(need) }
func (l local) Granted(ctx context.Context, sp keys.SpaceID, a keys.AuthorID) (bool, error) {
	return l.n.st.Granted(ctx, sp, a)
}
func (l local) Apply(ctx context.Context, sp keys.SpaceID, cs []*commit.Commit) (store.Result, error) {
	res, err := l.n.st.Apply(ctx, sp, cs)
	l.n.logRefused(l.peer, sp, cs, res)
	l.n.noteFilled(sp, res)
	return res, err
}

// String describes the node for logs.
func (n *Node) String() string {
	return fmt.Sprintf("node %s at %s (%s)", n.dev.Author().Short(), n.home, strings.Join(n.Addrs(), ", "))
}
