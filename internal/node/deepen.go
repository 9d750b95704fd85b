package node

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store"
)

// Deepening: a space installed from a checkpoint's snapshot (a floored
// store) fetches the history below its floor and becomes a full replica
// (docs/design.md, "Deepening a floored store"). It starts by itself once
// the store marks the space NeedsHistory (something after the floor asks
// to decide the space again), and on demand (Deepen). The commits come by
// ordinary sync: while a space deepens, its Have to one peer, its source,
// announces each author's chain held from seq 1 (store.Store.HistoryHeads),
// so a full replica sends what is missing below the floor, and the store
// keeps it (Filled). A floored peer sends nothing to such a Have: when
// the source stalls, the node asks it for the gaps by ID, then moves to
// the next peer that shares the space. Once every chain is complete,
// store.Store.Unfloor ends the floor and decides the space again.

// deepenQuiet is how long a deepening space may go without a commit
// filled before the node logs that it waits for a full replica.
const deepenQuiet = 30 * time.Second

// deepenStall is how long a deepening space may go without a commit
// filled before the node asks its source by ID for the commits the
// chains it holds name but it does not hold (askGaps), and then, as long
// again, before it moves to the next peer (chooseSource).
const deepenStall = 2 * time.Second

// deepenMaxStall bounds that wait as it doubles with each source that
// sent nothing.
const deepenMaxStall = 5 * time.Minute

// deepening is the node's spaces being deepened, and what wakes its
// goroutine.
type deepening struct {
	kick chan struct{} // buffered 1: a floor may have changed, or commits were filled

	mu     sync.Mutex
	spaces map[keys.SpaceID]*deepWork // guarded by mu
}

// deepWork is one space being deepened.
type deepWork struct {
	done     chan struct{}            // closed once the space is a full replica
	held     map[keys.AuthorID]uint64 // per frontier author, its chain held from seq 1 up to here
	missing  atomic.Uint64            // below the floor, at the last check
	filled   atomic.Bool              // commits were filled since the last check
	last     time.Time                // of the last progress, or of the last action on a stall
	progress time.Time                // of the last progress
	asked    bool                     // the gaps were asked for since the last progress
	wait     time.Duration            // how long a stall lasts before the next action (deepenStall, doubling)
	tried    map[keys.AuthorID]bool   // the sources that sent nothing since the last progress
	source   keys.AuthorID            // the peer it fetches from; guarded by deepening.mu
	said     bool                     // the wait for a full replica was logged
}

// deepeningSpace reports whether sp is being deepened.
func (n *Node) deepeningSpace(sp keys.SpaceID) bool {
	n.deep.mu.Lock()
	defer n.deep.mu.Unlock()
	_, ok := n.deep.spaces[sp]
	return ok
}

// kickDeepen wakes the deepening goroutine; it never blocks.
func (n *Node) kickDeepen() {
	select {
	case n.deep.kick <- struct{}{}:
	default:
	}
}

// noteDeepen is called with every event of the store (onEvent): a space
// decided again may have been marked NeedsHistory.
func (n *Node) noteDeepen(ev store.Event) {
	if ev.Redecided {
		n.kickDeepen()
	}
}

// noteFilled is called with the result of every commit frame a session
// applied: commits filled below a floor are a deepening's progress.
func (n *Node) noteFilled(sp keys.SpaceID, res store.Result) {
	for _, o := range res.Outcomes {
		if o.Status == store.Filled {
			n.deep.mu.Lock()
			w := n.deep.spaces[sp]
			n.deep.mu.Unlock()
			if w != nil {
				w.filled.Store(true)
				n.kickDeepen()
			}
			return
		}
	}
}

// startDeepen starts the goroutine that deepens floored spaces: at once
// for those already marked NeedsHistory (a deepening interrupted by a
// close resumes here), and whenever kicked. While a space deepens, a
// timer wakes it every deepenStall to ask for what a stalled stream
// left out (askGaps).
func (n *Node) startDeepen() {
	n.kickDeepen()
	n.wg.Go(func() {
		var stall <-chan time.Time
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-n.deep.kick:
			case <-stall:
			}
			if err := n.deepenPass(n.ctx); err != nil && n.ctx.Err() == nil {
				n.log.Warn("deepen", "err", err)
			}
			stall = nil
			if n.deepeningAny() {
				stall = time.After(deepenStall)
			}
		}
	})
}

// deepeningAny reports whether some space is being deepened.
func (n *Node) deepeningAny() bool {
	n.deep.mu.Lock()
	defer n.deep.mu.Unlock()
	return len(n.deep.spaces) > 0
}

// deepenPass starts deepening the held spaces marked NeedsHistory and
// moves every deepening on: it follows each chain held from seq 1 as far
// as it now goes, and ends the floor of a space whose chains are complete.
func (n *Node) deepenPass(ctx context.Context) error {
	for _, sp := range n.syncSpaces() {
		fl, err := n.st.Floor(ctx, sp)
		if err != nil {
			return err
		}
		if fl != nil && fl.NeedsHistory {
			n.beginDeepen(sp)
		}
	}
	n.deep.mu.Lock()
	work := make(map[keys.SpaceID]*deepWork, len(n.deep.spaces))
	for sp, w := range n.deep.spaces {
		work[sp] = w
	}
	n.deep.mu.Unlock()
	for sp, w := range work {
		if err := n.deepenSpace(ctx, sp, w); err != nil {
			return fmt.Errorf("space %s: %w", sp, err)
		}
	}
	return nil
}

// beginDeepen starts deepening sp, unless it is already, and returns
// its work. The sessions sharing sp announce its history heads at once.
func (n *Node) beginDeepen(sp keys.SpaceID) *deepWork {
	n.deep.mu.Lock()
	w, ok := n.deep.spaces[sp]
	if !ok {
		w = &deepWork{done: make(chan struct{}), held: map[keys.AuthorID]uint64{}, last: time.Now(), progress: time.Now(), wait: deepenStall, tried: map[keys.AuthorID]bool{}}
		n.deep.spaces[sp] = w
	}
	n.deep.mu.Unlock()
	if !ok {
		n.log.Info("deepen: fetching the history below the checkpoint", "space", sp.String())
		n.kickDeepen()
	}
	return w
}

// deepenSource reports whether peer is the one sp's deepening fetches
// from: its session announces sp's history heads (local.HistoryHeads).
// While there is none, the first session to announce sp takes it.
func (n *Node) deepenSource(sp keys.SpaceID, peer keys.AuthorID) bool {
	n.deep.mu.Lock()
	defer n.deep.mu.Unlock()
	w, ok := n.deep.spaces[sp]
	if ok && w.source.IsZero() {
		w.source = peer
	}
	return ok && w.source == peer
}

// deepSource returns w's source.
func (n *Node) deepSource(w *deepWork) keys.AuthorID {
	n.deep.mu.Lock()
	defer n.deep.mu.Unlock()
	return w.source
}

// sharing returns the sessions that share sp, by peer.
func (n *Node) sharing(sp keys.SpaceID) map[keys.AuthorID]*reconcile.Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[keys.AuthorID]*reconcile.Session{}
	for peer, s := range n.sessions {
		if slices.Contains(s.Shared(), sp) {
			out[peer] = s
		}
	}
	return out
}

// chooseSource makes sp's deepening fetch from a peer whose session
// shares sp: the current one while its session lasts, unless next is
// set; else the next one in peer order. The sessions of the old and the
// new source announce again (the new one its history heads). It returns
// the source's session, or nil when no session shares sp.
func (n *Node) chooseSource(sp keys.SpaceID, w *deepWork, next bool) *reconcile.Session {
	ss := n.sharing(sp)
	peers := slices.SortedFunc(maps.Keys(ss), func(a, b keys.AuthorID) int { return bytes.Compare(a[:], b[:]) })
	n.deep.mu.Lock()
	old := w.source
	n.deep.mu.Unlock()
	if s := ss[old]; s != nil && !next {
		return s
	}
	if len(peers) == 0 {
		return nil
	}
	i, _ := slices.BinarySearchFunc(peers, old, func(a, b keys.AuthorID) int { return bytes.Compare(a[:], b[:]) })
	if i < len(peers) && peers[i] == old {
		i++
	}
	src := peers[i%len(peers)]
	if src == old {
		return ss[src]
	}
	n.deep.mu.Lock()
	w.source = src
	n.deep.mu.Unlock()
	if s := ss[old]; s != nil {
		s.Announce(sp)
	}
	ss[src].Announce(sp)
	n.log.Info("deepen: fetching the history below the checkpoint from a peer", "space", sp.String(), "peer", src.String())
	return ss[src]
}

// deepenSpace moves one deepening on (the deepening goroutine only).
func (n *Node) deepenSpace(ctx context.Context, sp keys.SpaceID, w *deepWork) error {
	fl, err := n.st.Floor(ctx, sp)
	if err != nil {
		return err
	}
	if fl != nil {
		var missing uint64
		for _, h := range fl.Frontier {
			from := w.held[h.Author]
			if from >= h.Seq {
				continue
			}
			held, err := n.st.HeldFrom1(ctx, sp, h.Author, from+1, h.Seq)
			if err != nil {
				return err
			}
			w.held[h.Author] = held.Seq
			missing += h.Seq - min(held.Seq, h.Seq)
		}
		if prev := w.missing.Swap(missing); w.filled.Swap(false) || missing < prev || prev == 0 {
			w.last, w.progress, w.said, w.asked = time.Now(), time.Now(), false, false
			w.wait = deepenStall
			clear(w.tried)
		}
		if missing > 0 {
			src := n.chooseSource(sp, w, false)
			if src != nil && time.Since(w.last) >= w.wait {
				// Stalled: ask the source for what its stream leaves out
				// (a withheld tail); stalled again, try the next peer.
				if !w.asked {
					if err := n.askGaps(ctx, sp, fl, w, src); err != nil {
						return err
					}
				} else {
					// Once every peer sent nothing, the wait doubles: a
					// new source sends its chains again from the start.
					w.tried[n.deepSource(w)] = true
					n.chooseSource(sp, w, true)
					if w.tried[n.deepSource(w)] { // no peer left untried
						w.wait = min(2*w.wait, deepenMaxStall)
						clear(w.tried)
					}
				}
				w.asked, w.last = !w.asked, time.Now()
			}
		}
		if missing > 0 {
			if !w.said && time.Since(w.progress) >= deepenQuiet {
				w.said = true
				n.log.Warn("deepen: waiting for a peer that holds the history below the checkpoint (a replica that joined from a checkpoint does not)", "space", sp.String(), "missing", missing)
			}
			return nil
		}
		left, err := n.st.Unfloor(ctx, sp)
		if err != nil {
			return err
		}
		if left > 0 {
			// Commits that do not link to the checkpoint's heads were
			// removed: fetch the right ones.
			n.log.Warn("deepen: commits below the checkpoint do not link to it; fetching them again", "space", sp.String(), "missing", left)
			clear(w.held)
			w.missing.Store(left)
			w.asked = false
			if src := n.chooseSource(sp, w, false); src != nil {
				src.Announce(sp)
			}
			return nil
		}
		n.log.Info("deepen: the space is a full replica now", "space", sp.String())
	}
	n.deep.mu.Lock()
	delete(n.deep.spaces, sp)
	n.deep.mu.Unlock()
	close(w.done)
	return nil
}

// History is what a node holds of a space's history (Node.History).
type History struct {
	// Checkpoint is the checkpoint the space was installed from, whose
	// history below it is not all held; zero: the whole history is held.
	Checkpoint keys.CommitID
	// Missing is how many commits below it are not held.
	Missing uint64
	// NeedsHistory: something after the checkpoint (a revocation) can be
	// decided only from the whole history, which the node is fetching.
	NeedsHistory bool
	// Fetching: the node is fetching the history below the checkpoint.
	Fetching bool
}

// History says what the node holds of a space's history: all of it, or
// the space was installed from a checkpoint and the history below it is
// missing (Deepen fetches it).
func (n *Node) History(ctx context.Context, ref string) (History, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return History{}, err
	}
	fl, err := n.st.Floor(ctx, id)
	if err != nil || fl == nil {
		return History{}, err
	}
	missing, err := n.st.FloorGap(ctx, id)
	if err != nil {
		return History{}, err
	}
	return History{Checkpoint: fl.Checkpoint, Missing: missing, NeedsHistory: fl.NeedsHistory, Fetching: n.deepeningSpace(id)}, nil
}

// Deepen fetches the history below the checkpoint a space was installed
// from, from the connected peers that hold it, and returns once the node
// holds the space's full history and has decided it again from it, as a
// full replica. A space held in full returns at once. A peer that joined
// from a checkpoint itself cannot serve it: the node then waits for a
// full replica until ctx ends, and the error says so.
func (n *Node) Deepen(ctx context.Context, ref string) error {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	return n.deepen(ctx, id, ref)
}

// deepenToJoin deepens sp if its store needs its history to decide it
// (NeedsHistory): a join must not take an invite the whole history voids
// (one revoked after the checkpoint) for one that counts. It reports
// whether it deepened.
func (n *Node) deepenToJoin(ctx context.Context, sp keys.SpaceID) (bool, error) {
	fl, err := n.st.Floor(ctx, sp)
	if err != nil || fl == nil || !fl.NeedsHistory {
		return false, err
	}
	return true, n.deepen(ctx, sp, sp.String())
}

func (n *Node) deepen(ctx context.Context, id keys.SpaceID, ref string) error {
	fl, err := n.st.Floor(ctx, id)
	if err != nil || fl == nil {
		return err
	}
	if n.host == nil {
		return fmt.Errorf("node: deepen %s: offline: the history below the checkpoint comes from peers", ref)
	}
	w := n.beginDeepen(id)
	select {
	case <-w.done:
		_, err := n.st.Space(ctx, id) // ErrUnknownSpace: left meanwhile
		return err
	case <-n.ctx.Done():
		return fmt.Errorf("node: deepen %s: %w", ref, store.ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("node: deepen %s: %w: %d commits below the checkpoint still missing; no connected peer sent them (a peer that joined from a checkpoint cannot: connect to one that holds the whole history)", ref, ctx.Err(), w.missing.Load())
	}
}

// askGaps asks src, the session of sp's source, by ID, for the top
// commit of each author's first gap below the floor: the prev of the
// first commit held above the chain held from seq 1, or the frontier's
// head. A full replica sends a chain from seq 1 only up to its sync
// head, never an author's voided tail (it is withheld); asked by ID, it
// sends the commit and its chain down to what this node announced.
func (n *Node) askGaps(ctx context.Context, sp keys.SpaceID, fl *store.Floor, w *deepWork, src *reconcile.Session) error {
	var ids []keys.CommitID
	for _, h := range fl.Frontier {
		p := w.held[h.Author]
		if p >= h.Seq {
			continue
		}
		id := h.ID
		for sc, err := range n.st.Commits(ctx, sp, h.Author, p+1) {
			if err != nil {
				return err
			}
			if sc.Seq <= h.Seq {
				c, _, err := commit.DecodeHeader(sc.Bytes)
				if err != nil {
					return err
				}
				id = c.Prev
			}
			break
		}
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		src.Want(sp, ids)
	}
	return nil
}
