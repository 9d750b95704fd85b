package reconcile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Local is what a Session needs of its node. Its methods are called from
// the session's two goroutines, concurrently.
type Local interface {
	// Spaces returns the spaces this node syncs.
	Spaces() []keys.SpaceID
	// Heads returns the heads to announce (store.Store.SyncHeads).
	Heads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error)
	// Commits yields the stored commits of author from seq from on.
	Commits(ctx context.Context, sp keys.SpaceID, author keys.AuthorID, from uint64) iter.Seq2[store.StoredCommit, error]
	// CommitByID returns a stored commit's bytes, or an error wrapping
	// store.ErrNotFound.
	CommitByID(ctx context.Context, sp keys.SpaceID, id keys.CommitID) ([]byte, error)
	// LostCommits returns the IDs of at most max commits holding writes
	// whose payloads are lost here (store.Store.LostCommits): asked of the
	// peer once a session, so that a full copy puts them back.
	LostCommits(ctx context.Context, sp keys.SpaceID, max int) ([]keys.CommitID, error)
	// Forks returns the fork evidence held for sp.
	Forks(ctx context.Context, sp keys.SpaceID) ([]commit.Fork, error)
	// Granted reports whether a stored commit grants author anything in
	// sp (store.Store.Granted).
	Granted(ctx context.Context, sp keys.SpaceID, author keys.AuthorID) (bool, error)
	// Apply stores verified commits (see store.Store.Apply).
	Apply(ctx context.Context, sp keys.SpaceID, cs []*commit.Commit) (store.Result, error)
	// Writable returns nil once a write of about need bytes would be
	// stored, after Apply failed with store.ErrDiskFull
	// (store.Store.Writable).
	Writable(need uint64) error
}

// Config configures a Session. Zero fields take the defaults.
type Config struct {
	Self, Peer keys.AuthorID
	// MaxPendingBytes bounds the commits this session holds waiting for
	// their causal past (default 32 MiB; see heldSize). Beyond it the
	// newest are not held: the peer sends them again after the next Have
	// that shows progress.
	MaxPendingBytes int64
	// Budget, if set, bounds the commits held waiting for their causal
	// past per space, summed over the sessions that share it.
	Budget *Budget
	// MaxUngrantedBytes bounds the commits whose causal past is missing
	// that the peer may send from authors no commit held here could ever
	// grant anything (default 8 MiB); such commits are never held, and
	// past the bound the peer is misbehaving (ErrUngranted).
	MaxUngrantedBytes int64
	// StallTimeout is how long commits held from the peer may wait for
	// their causal past with no progress at all (we ask for it at once,
	// and an honest peer holds all it sends the past of) before the peer
	// is misbehaving (ErrStalled; default 5 minutes). Commits held for
	// being dated in the future wait for the clock, not the peer: while
	// any is held, nothing stalls.
	StallTimeout time.Duration
	// Now is the wall clock, as the store's (default time.Now).
	Now func() time.Time
	// Recheck bounds how long commits held for being dated in the future
	// wait before they are offered again (default 1 minute), so that a
	// wall clock set forward frees them soon.
	Recheck time.Duration
	// DiskRecheck is how often a session paused by a full disk asks
	// whether there is room again (default 10 s).
	DiskRecheck time.Duration
	// Progress, if not nil, is called on the writer goroutine after it
	// has handled what was pending (a Have received, commits stored or
	// sent): InSync may have changed. It must not block.
	Progress func()
}

// Defaults of Config.
const (
	DefaultMaxPendingBytes   = 32 << 20
	DefaultMaxUngrantedBytes = 8 << 20
	DefaultStallTimeout      = 5 * time.Minute
	DefaultRecheck           = time.Minute
	DefaultDiskRecheck       = 10 * time.Second
)

// Stats are a session's counters.
type Stats struct {
	CommitsIn, CommitsOut atomic.Uint64
	FramesIn, FramesOut   atomic.Uint64
	BytesIn, BytesOut     atomic.Uint64
	Wakeups               atomic.Uint64 // times the writer woke to look for work
	CommitsLetGo          atomic.Uint64 // received but not stored because the disk was full
}

// Session runs the sync protocol with one peer. Create it with NewSession
// and call Run; Notify may be called from any goroutine.
type Session struct {
	cfg   Config
	local Local
	conn  Conn
	Stats Stats

	out  chan []byte   // goodbyes queued by the reader for the writer (never blocks the reader)
	wake chan struct{} // buffered 1: some space is dirty

	ending  chan struct{} // closed by End: the writer says goodbye and half-closes
	endOnce sync.Once
	done    chan struct{} // closed when Run returns

	applyFailed atomic.Bool // the apply goroutine ended the session

	// Apply goroutine only:
	pendingBytes int64 // held commits, summed over spaces (Config.MaxPendingBytes)
	ungranted    int64 // bytes of commits not held for want of a grant (Config.MaxUngrantedBytes)
	full         bool  // Apply failed for lack of disk: received commits are let go (see pauseFull)

	mu      sync.Mutex
	byDisc  map[keys.Digest]*peerSpace  // spaces we hold, by discovery ID; guarded by mu
	offered map[keys.SpaceID]bool       // spaces we sent a proof for; guarded by mu
	dirty   map[keys.SpaceID]*peerSpace // shared spaces with something to send; guarded by mu
	forward []forwarded                 // commits to send as they are (fork evidence); guarded by mu
	nWanted int                         // spaces whose wanted is not empty (at most); guarded by mu
}

type forwarded struct {
	sp      keys.SpaceID
	commits [][]byte
}

// peerSpace is one space as seen in this session.
type peerSpace struct {
	id     keys.SpaceID
	disc   keys.Digest
	proved bool // the peer proved it knows the space

	// Guarded by Session.mu:
	// What the peer has, as far as we know (peerHas): its last Have, as
	// received (in author order), raised by what it sent and what it was
	// sent since.
	lastHave  []Head
	raised    map[keys.AuthorID]Head
	haveKnown bool            // we have the peer's Have
	needHave  bool            // send our Have (after our Hello) at the next flush
	want      []keys.CommitID // deps to ask the peer for, at the next flush
	wanted    []keys.CommitID // commits the peer asked for, to send at the next flush
	// sent is, per author, the highest seq sent to the peer since its Have
	// last changed. What the peer did not take up of it (held pending,
	// kept void, dropped) is not sent again until its Have changes: only
	// a change of its store can make it take it up (see sendMissing).
	sent map[keys.AuthorID]uint64
	// evidence marks authors whose fork evidence was sent (once each).
	evidence map[keys.AuthorID]bool
	// byID holds authors of commits sent by ID since the last send: the
	// peer may hold part of a branch we withhold for a fork.
	byID map[keys.AuthorID]bool
	// forks caches the fork evidence held (writer), until Forward says
	// there is more.
	forks       []commit.Fork
	forksLoaded bool
	// lostAsked: the commits of our lost payloads were asked for (writer).
	lostAsked bool

	// Apply goroutine only:
	wait     pendingSet // commits waiting for their causal past
	nPending atomic.Int64
}

func newPeerSpace(id keys.SpaceID, disc keys.Digest) *peerSpace {
	return &peerSpace{id: id, disc: disc, raised: map[keys.AuthorID]Head{}, sent: map[keys.AuthorID]uint64{}, evidence: map[keys.AuthorID]bool{}, byID: map[keys.AuthorID]bool{}}
}

// peerHas returns what we know the peer has of author a (Session.mu held).
func (ps *peerSpace) peerHas(a keys.AuthorID) Head {
	if h, ok := ps.raised[a]; ok {
		return h
	}
	if i, ok := slices.BinarySearchFunc(ps.lastHave, a, func(h Head, a keys.AuthorID) int { return bytes.Compare(h.Author[:], a[:]) }); ok {
		return ps.lastHave[i]
	}
	return Head{}
}

// NewSession returns a session over conn.
func NewSession(cfg Config, local Local, conn Conn) *Session {
	if cfg.MaxPendingBytes == 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if cfg.MaxUngrantedBytes == 0 {
		cfg.MaxUngrantedBytes = DefaultMaxUngrantedBytes
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Recheck == 0 {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.DiskRecheck == 0 {
		cfg.DiskRecheck = DefaultDiskRecheck
	}
	return &Session{
		cfg: cfg, local: local, conn: conn,
		out:     make(chan []byte, 64),
		wake:    make(chan struct{}, 1),
		ending:  make(chan struct{}),
		done:    make(chan struct{}),
		byDisc:  map[keys.Digest]*peerSpace{},
		offered: map[keys.SpaceID]bool{},
		dirty:   map[keys.SpaceID]*peerSpace{},
	}
}

// Peer returns the peer's ID.
func (s *Session) Peer() keys.AuthorID { return s.cfg.Peer }

// Shared returns the spaces both sides proved.
func (s *Session) Shared() []keys.SpaceID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keys.SpaceID
	for _, ps := range s.byDisc {
		if ps.proved && s.offered[ps.id] {
			out = append(out, ps.id)
		}
	}
	return out
}

// InSync reports whether sp is shared and, as far as this session knows,
// both sides hold the same commits of it: the peer's announced heads are
// all held here, it has (or was sent, since its store last changed) every
// head held here, and nothing waits for its causal past. ours are the
// heads this node announces of sp (store.Store.SyncHeads). (What the peer
// sent beyond what it announces, such as fork evidence or void commits,
// is not something we lack.)
func (s *Session) InSync(sp keys.SpaceID, ours []store.Head) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.byDisc[keys.DiscoveryID(sp)]
	if ps == nil || !ps.proved || !ps.haveKnown || ps.nPending.Load() != 0 {
		return false
	}
	mine := make(map[keys.AuthorID]uint64, len(ours))
	for _, h := range ours {
		mine[h.Author] = h.Seq
		if max(ps.peerHas(h.Author).Seq, ps.sent[h.Author]) < h.Seq {
			return false
		}
	}
	for _, h := range ps.lastHave {
		if mine[h.Author] < h.Seq {
			return false
		}
	}
	return true
}

// Held returns how many commits of sp this session holds waiting for
// their causal past (or for their time, if dated in the future).
func (s *Session) Held(sp keys.SpaceID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.byDisc[keys.DiscoveryID(sp)]; ps != nil {
		return int(ps.nPending.Load())
	}
	return 0
}

// Gap compares this node's heads of sp (ours) with the heads the peer
// announced: missing counts the commits the peer holds that are not held
// here, extra those held here that the peer lacks. known is false while sp
// is not shared or the peer has not announced its heads yet.
func (s *Session) Gap(sp keys.SpaceID, ours []store.Head) (missing, extra uint64, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.byDisc[keys.DiscoveryID(sp)]
	if ps == nil || !ps.proved || !ps.haveKnown {
		return 0, 0, false
	}
	mine := make(map[keys.AuthorID]uint64, len(ours))
	for _, h := range ours {
		mine[h.Author] = h.Seq
		if theirs := ps.peerHas(h.Author).Seq; theirs < h.Seq {
			extra += h.Seq - theirs
		}
	}
	for _, h := range ps.lastHave {
		if mine[h.Author] < h.Seq {
			missing += h.Seq - mine[h.Author]
		}
	}
	return missing, extra, true
}

// Run runs the session until the peer leaves, ctx ends, End ends it, or
// an error. An error wrapping ErrMisbehaving means the peer broke the
// protocol. Run closes the Conn before returning.
func (s *Session) Run(ctx context.Context) error {
	defer close(s.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- s.readLoop(ctx) }()
	go func() { errc <- s.writeLoop(ctx) }()
	err := <-errc
	if errors.Is(err, errEnded) {
		// The writer said goodbye and half-closed: the reader reads on
		// until the peer's end of the stream (its Bye or io.EOF), which
		// comes after it read every frame we sent. End bounds the wait.
		select {
		case err = <-errc:
		case <-ctx.Done():
			s.conn.Close()
			err = <-errc
		}
		cancel()
		s.conn.Close()
		if errors.Is(err, ErrMisbehaving) {
			return err
		}
		return nil
	}
	cancel()
	s.conn.Close()
	// A misbehaviour found by one side closes the Conn, which can make the
	// other side fail first on the closed stream: report the misbehaviour.
	if err2 := <-errc; err == nil || errors.Is(err2, ErrMisbehaving) && !errors.Is(err, ErrMisbehaving) {
		err = err2
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || errors.Is(err, errRoomAgain) || errors.Is(err, errPeerClosing) || errors.Is(err, errEnded) {
		err = nil
	}
	return err
}

// Close ends the session at once: Run returns soon after. What was
// written but not yet read by the peer may be lost (see End). It may be
// called from any goroutine, more than once.
func (s *Session) Close() error { return s.conn.Close() }

// End ends the session gracefully, for a node that closes: the writer
// finishes what it is writing and what is pending (a last flush), sends a
// Bye ("closing") and half-closes the stream, and the reader reads (and
// stores) on until the peer's end of the stream, which the peer sends
// once it read every frame sent before. End returns when Run returned,
// or when ctx ends: then it closes the Conn (the peer may lack part of
// what was sent) and returns ctx's error. It may be called from any
// goroutine, more than once, and before Run.
func (s *Session) End(ctx context.Context) error {
	s.endOnce.Do(func() { close(s.ending) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.conn.Close()
		return ctx.Err()
	}
}

// errEnded: the writer ended the session gracefully (End).
// errPeerClosing: the peer did (its Bye says ByeClosing).
var (
	errEnded       = errors.New("reconcile: session ended")
	errPeerClosing = errors.New("reconcile: peer closing")
)

// ByeClosing is the reason of the Bye a session sends when End ends it.
const ByeClosing = "closing"

// halfCloser is a Conn that can end its write side alone (StreamConn).
type halfCloser interface{ CloseWrite() error }

// goodbye ends the writer's side (writer goroutine): what the reader
// queued and what is dirty goes out, then a Bye, then the write side
// closes. It returns errEnded, or the error of a write.
func (s *Session) goodbye(ctx context.Context) error {
	for {
		select {
		case b := <-s.out:
			if err := s.write(b); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	select {
	case <-s.wake:
		if err := s.flush(ctx); err != nil {
			return err
		}
	default:
	}
	if err := s.write((&Msg{Type: msgBye, Reason: ByeClosing}).Encode()); err != nil {
		return err
	}
	if hc, ok := s.conn.(halfCloser); ok {
		if err := hc.CloseWrite(); err != nil {
			return err
		}
	}
	return errEnded
}

// Notify tells the session that sp has new commits. It never blocks.
func (s *Session) Notify(sp keys.SpaceID) {
	s.mu.Lock()
	ps, ok := s.byDisc[keys.DiscoveryID(sp)]
	if !ok { // a space the node started holding after the session began
		ps = newPeerSpace(sp, keys.DiscoveryID(sp))
		s.byDisc[ps.disc] = ps
	}
	s.dirty[sp] = ps
	s.mu.Unlock()
	s.poke()
}

// Announce sends our heads of sp to the peer again (a Have), if sp is
// shared: after the node decided the space's authorization again, its
// announced heads may have shrunk, and the peer's record of what we have
// must follow. It never blocks.
func (s *Session) Announce(sp keys.SpaceID) {
	s.mu.Lock()
	ps, ok := s.byDisc[keys.DiscoveryID(sp)]
	s.mu.Unlock()
	if ok {
		s.requestHave(ps)
	}
}

// Want asks the peer for commits of sp by ID, if sp is shared: it sends
// each with its chain down to what we announced (answerWants), withheld
// or not. A deepening node asks so for what a full replica never sends
// unasked: an author's voided tail below the floor. ids beyond MaxWant
// are sent in several Wants. It never blocks.
func (s *Session) Want(sp keys.SpaceID, ids []keys.CommitID) {
	s.mu.Lock()
	ps, ok := s.byDisc[keys.DiscoveryID(sp)]
	ok = ok && ps.proved && s.offered[ps.id] // a Want of a space not shared is malformed there
	if ok {
		ps.want = append(ps.want, ids...)
		s.dirty[sp] = ps
	}
	s.mu.Unlock()
	if ok {
		s.poke()
	}
}

// Forward sends encoded commits of sp to the peer as they are, if sp is
// shared: for fork evidence, which is not on the main chain and so is
// never part of what a Have says the peer lacks. It never blocks.
func (s *Session) Forward(sp keys.SpaceID, commits [][]byte) {
	s.mu.Lock()
	if ps := s.byDisc[keys.DiscoveryID(sp)]; ps != nil {
		ps.forksLoaded = false // new evidence is held
	}
	s.forward = append(s.forward, forwarded{sp, commits})
	s.mu.Unlock()
	s.poke()
}

func (s *Session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sendBye queues a goodbye for the writer without waiting: the reader
// must never wait for the writer, or two peers whose writers are both
// blocked on full connections would wait for each other forever.
func (s *Session) sendBye(reason string) {
	select {
	case s.out <- (&Msg{Type: msgBye, Reason: reason}).Encode():
	default:
	}
}

func (s *Session) write(b []byte) error {
	s.Stats.FramesOut.Add(1)
	s.Stats.BytesOut.Add(uint64(len(b)))
	return s.conn.WriteFrame(b)
}

// writeLoop owns the Conn's write side.
func (s *Session) writeLoop(ctx context.Context) error {
	for _, sp := range s.local.Spaces() {
		s.Notify(sp)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ending:
			return s.goodbye(ctx)
		case b := <-s.out:
			if err := s.write(b); err != nil {
				return err
			}
		case <-s.wake:
			s.Stats.Wakeups.Add(1)
			if err := s.flush(ctx); err != nil {
				return err
			}
			if s.cfg.Progress != nil {
				s.cfg.Progress()
			}
		}
	}
}

// flush handles every dirty space: offers it if the peer has not been sent
// a proof yet, and streams what the peer lacks once its Have is known.
func (s *Session) flush(ctx context.Context) error {
	s.mu.Lock()
	work := s.dirty
	s.dirty = map[keys.SpaceID]*peerSpace{}
	fwd := s.forward
	s.forward = nil
	var fwdFrames [][]byte
	for _, f := range fwd {
		if ps := s.byDisc[keys.DiscoveryID(f.sp)]; ps != nil && ps.proved && s.offered[ps.id] {
			fwdFrames = append(fwdFrames, (&Msg{Type: msgCommits, Disc: ps.disc, Commits: f.commits}).Encode())
		}
	}
	var toOffer []*peerSpace
	for _, ps := range work {
		if !s.offered[ps.id] {
			toOffer = append(toOffer, ps)
		}
	}
	s.mu.Unlock()
	// Only a space the node holds is offered: a store event can name one
	// it does not hold yet (a join stores the space, then holds it), and
	// the peer's answer to that offer would reach a side that does not
	// share the space, which refuses it as malformed. The node notifies
	// the session again once it holds the space.
	var offer []SpaceProof
	if len(toOffer) > 0 {
		held := map[keys.SpaceID]bool{}
		for _, sp := range s.local.Spaces() {
			held[sp] = true
		}
		s.mu.Lock()
		for _, ps := range toOffer {
			if held[ps.id] && !s.offered[ps.id] {
				s.offered[ps.id] = true
				offer = append(offer, SpaceProof{Disc: ps.disc, Proof: keys.SyncProof(ps.id, s.cfg.Self, s.cfg.Peer)})
			}
		}
		s.mu.Unlock()
	}
	if len(offer) > 0 {
		if err := s.write((&Msg{Type: msgHello, Version: Version, Spaces: offer}).Encode()); err != nil {
			return err
		}
	}
	for _, f := range fwdFrames {
		if err := s.write(f); err != nil {
			return err
		}
	}
	for _, ps := range work {
		s.mu.Lock()
		needHave := ps.needHave && ps.proved
		ps.needHave = ps.needHave && !needHave
		want := ps.want
		ps.want = nil
		askLost := ps.proved && ps.haveKnown && !ps.lostAsked
		s.mu.Unlock()
		if needHave {
			if err := s.writeHave(ctx, ps); err != nil {
				return err
			}
		}
		if askLost {
			// Once a session, once the peer's Have says it holds the space:
			// a peer that kept a payload we lost sends the full commit.
			ps.lostAsked = true
			if lost, err := s.local.LostCommits(ctx, ps.id, MaxWant); err == nil {
				want = append(want, lost...)
			}
		}
		for len(want) > 0 {
			n := min(len(want), MaxWant)
			if err := s.write((&Msg{Type: msgWant, Disc: ps.disc, IDs: want[:n]}).Encode()); err != nil {
				return err
			}
			want = want[n:]
		}
	}
	if err := s.answerWants(ctx); err != nil {
		return err
	}
	for _, ps := range work {
		s.mu.Lock()
		ready := ps.proved && ps.haveKnown
		s.mu.Unlock()
		if ready {
			if err := s.sendMissing(ctx, ps); err != nil {
				return err
			}
		}
	}
	return nil
}

// answerWants sends the commits the peer asked for, in every space
// (writer goroutine). It also runs between the frames of a long send, so
// the peer gets the causal past it is missing within a frame.
func (s *Session) answerWants(ctx context.Context) error {
	s.mu.Lock()
	if s.nWanted == 0 {
		s.mu.Unlock()
		return nil
	}
	type ask struct {
		ps  *peerSpace
		ids []keys.CommitID
	}
	var asks []ask
	for _, ps := range s.byDisc {
		if len(ps.wanted) > 0 {
			asks = append(asks, ask{ps, ps.wanted})
			ps.wanted = nil
		}
	}
	s.nWanted = 0
	s.mu.Unlock()
	for _, a := range asks {
		if err := s.sendByID(ctx, a.ps, a.ids); err != nil {
			return err
		}
	}
	return nil
}

// requestHave asks the writer to send our heads of ps, after our Hello.
func (s *Session) requestHave(ps *peerSpace) {
	s.mu.Lock()
	ps.needHave = true
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
}

// writeHave sends our heads of ps (writer goroutine).
func (s *Session) writeHave(ctx context.Context, ps *peerSpace) error {
	heads, err := s.haveHeads(ctx, ps.id)
	if err != nil {
		return err
	}
	m := &Msg{Type: msgHave, Disc: ps.disc, Heads: make([]Head, len(heads))}
	for i, h := range heads {
		m.Heads[i] = Head{Author: h.Author, Seq: h.Seq, ID: h.ID}
	}
	return s.write(m.Encode())
}
