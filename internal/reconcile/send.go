package reconcile

import (
	"bytes"
	"container/heap"
	"context"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Read-ahead of one author's commits while sending: no store iterator is
// ever open while a frame is written (a peer that stops reading must not
// pin one), so each author's next commits are read in small batches.
const (
	readAheadBytes   = 64 << 10
	readAheadCommits = 256
)

// source is one author's commits the peer lacks, read in batches.
type source struct {
	author keys.AuthorID
	next   uint64               // the next seq to read
	last   uint64               // our announced head when the send began: stop there
	buf    []store.StoredCommit // read ahead, in seq order; buf[0] is the next to send
	time   commit.HLC           // of buf[0]
}

// sources is a min-heap of sources by the time of their next commit.
type sources []*source

func (h sources) Len() int { return len(h) }
func (h sources) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time.Less(h[j].time)
	}
	return string(h[i].author[:]) < string(h[j].author[:])
}
func (h sources) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sources) Push(x any)   { *h = append(*h, x.(*source)) }
func (h *sources) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// fill reads the source's next commits (if its buffer is empty), up to its
// last seq, and closes the store iterator before returning. A withheld
// commit (it does not count, and no later one of its author does) ends
// the source: such commits are never sent unasked. It reports whether a
// commit is ready.
func (s *Session) fill(ctx context.Context, ps *peerSpace, src *source) (bool, error) {
	if len(src.buf) == 0 && src.next <= src.last {
		size := 0
		for sc, err := range s.local.Commits(ctx, ps.id, src.author, src.next) {
			if err != nil {
				return false, err
			}
			if sc.Seq > src.last || sc.Withheld {
				src.last = 0
				break
			}
			src.buf = append(src.buf, sc)
			src.next = sc.Seq + 1
			size += len(sc.Bytes)
			if size >= readAheadBytes || len(src.buf) >= readAheadCommits {
				break
			}
		}
		if len(src.buf) == 0 {
			src.last = 0 // nothing more from here
		}
	}
	if len(src.buf) == 0 {
		return false, nil
	}
	t, err := commit.HeaderTime(src.buf[0].Bytes)
	if err != nil {
		return false, err
	}
	src.time = t
	return true, nil
}

// sendMissing streams the commits of ps the peer lacks: per author in seq
// order, all authors merged by time, in frames of about BatchBytes. It
// raises what we know the peer has as it goes.
//
// What it sends of an author starts after the higher of the peer's
// announced head and what this session already sent it since the peer's
// Have last changed. So a commit goes to a peer once per change of the
// peer's store: what the peer does not take up (held pending, kept void,
// dropped) is not sent again and again while nothing changes, whatever
// the two stores hold. Fork evidence goes once per author and session.
func (s *Session) sendMissing(ctx context.Context, ps *peerSpace) error {
	if below, err := s.belowOurFloor(ctx, ps); err != nil || below {
		return err
	}
	heads, err := s.local.Heads(ctx, ps.id)
	if err != nil {
		return err
	}
	var srcs sources
	for _, h := range heads {
		s.mu.Lock()
		p := ps.peerHas(h.Author)
		from := max(p.Seq, ps.sent[h.Author]) + 1
		evidence := p.Seq == h.Seq && p.ID != h.ID && !ps.evidence[h.Author]
		if evidence {
			ps.evidence[h.Author] = true
		}
		s.mu.Unlock()
		switch {
		case evidence:
			// The peer holds another commit at our head's seq: a fork.
			// Send ours so that it finds it.
			if b, err := s.local.CommitByID(ctx, ps.id, h.ID); err == nil {
				if err := s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: [][]byte{b}}).Encode()); err != nil {
					return err
				}
			}
			continue
		case from > h.Seq:
			continue
		}
		src := &source{author: h.Author, next: from, last: h.Seq}
		ok, err := s.fill(ctx, ps, src)
		if err != nil {
			return err
		}
		if ok {
			srcs = append(srcs, src)
		}
	}
	if err := s.sendEvidence(ctx, ps, heads); err != nil {
		return err
	}
	heap.Init(&srcs)

	var batch [][]byte
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: batch}).Encode())
		s.Stats.CommitsOut.Add(uint64(len(batch)))
		batch, size = nil, 0
		if err != nil {
			return err
		}
		return s.answerWants(ctx) // the peer may be waiting for a dep
	}
	for srcs.Len() > 0 {
		src := srcs[0]
		sc := src.buf[0]
		if size+len(sc.Bytes) > BatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, sc.Bytes)
		size += len(sc.Bytes)
		s.mu.Lock()
		ps.sent[sc.Author] = max(ps.sent[sc.Author], sc.Seq)
		s.mu.Unlock()
		s.raise(ps, Head{Author: sc.Author, Seq: sc.Seq, ID: sc.ID})
		src.buf[0] = store.StoredCommit{}
		src.buf = src.buf[1:]
		ok, err := s.fill(ctx, ps, src)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&srcs, 0)
		} else {
			heap.Pop(&srcs)
		}
	}
	return flush()
}

// sendEvidence sends the fork evidence held against an author to a peer
// that may hold part of the branch we withhold for the fork: it announces
// more of the author than we do (ours are our announced heads), or was
// sent commits of it by ID. Once per author and session.
func (s *Session) sendEvidence(ctx context.Context, ps *peerSpace, ours []store.Head) error {
	s.mu.Lock()
	loaded, forks := ps.forksLoaded, ps.forks
	byID := ps.byID
	ps.byID = map[keys.AuthorID]bool{}
	s.mu.Unlock()
	if !loaded {
		var err error
		if forks, err = s.local.Forks(ctx, ps.id); err != nil {
			return err
		}
		s.mu.Lock()
		ps.forks, ps.forksLoaded = forks, true
		s.mu.Unlock()
	}
	for _, f := range forks {
		a := f.A.Author
		var mine uint64
		if i, ok := slices.BinarySearchFunc(ours, a, func(h store.Head, a keys.AuthorID) int { return bytes.Compare(h.Author[:], a[:]) }); ok {
			mine = ours[i].Seq
		}
		s.mu.Lock()
		send := !ps.evidence[a] && (byID[a] || ps.peerHas(a).Seq > mine)
		if send {
			ps.evidence[a] = true
		}
		s.mu.Unlock()
		if send {
			if err := s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: [][]byte{f.A.Bytes(), f.B.Bytes()}}).Encode()); err != nil {
				return err
			}
		}
	}
	return nil
}

// raise records that the peer has h (or later) of its author.
func (s *Session) raise(ps *peerSpace, h Head) {
	s.mu.Lock()
	if cur := ps.peerHas(h.Author); h.Seq > cur.Seq || (h.Seq == cur.Seq && cur.ID != h.ID) {
		ps.raised[h.Author] = h
	}
	s.mu.Unlock()
}

// Bounds on the chain sent before a wanted commit.
const (
	maxChainCommits = 256
	maxChainBytes   = 4 << 20
)

// sendByID answers a Want with the commits we hold among ids (writer
// goroutine). A wanted commit goes with the commits of its author's chain
// before it that the peer lacks as far as we know, oldest first (up to a
// bound): the peer wants a commit when it misses its causal past, and a
// commit we withhold or hold off the main chain is only ever sent by ID.
func (s *Session) sendByID(ctx context.Context, ps *peerSpace, ids []keys.CommitID) error {
	var batch [][]byte
	size := 0
	send := func(b []byte) error {
		if size+len(b) > BatchBytes && len(batch) > 0 {
			if err := s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: batch}).Encode()); err != nil {
				return err
			}
			batch, size = nil, 0
		}
		batch = append(batch, b)
		size += len(b)
		return nil
	}
	done := map[keys.CommitID]bool{}
	for _, id := range ids {
		if done[id] {
			continue
		}
		b, err := s.local.CommitByID(ctx, ps.id, id)
		if err != nil {
			continue // we do not have it either
		}
		chain := [][]byte{b}
		done[id] = true
		total := len(b)
		for len(chain) < maxChainCommits && total < maxChainBytes {
			h, _, err := commit.DecodeHeader(chain[len(chain)-1])
			if err != nil || h.Seq <= 1 || done[h.Prev] {
				break
			}
			s.mu.Lock()
			theirs := ps.peerHas(h.Author).Seq
			s.mu.Unlock()
			if h.Seq-1 <= theirs {
				break
			}
			pb, err := s.local.CommitByID(ctx, ps.id, h.Prev)
			if err != nil {
				break
			}
			done[h.Prev] = true
			chain = append(chain, pb)
			total += len(pb)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if err := send(chain[i]); err != nil {
				return err
			}
			// If it is a commit we withhold for a fork, the peer must
			// learn of the fork: sendMissing looks.
			if h, _, err := commit.DecodeHeader(chain[i]); err == nil {
				s.mu.Lock()
				ps.byID[h.Author] = true
				s.mu.Unlock()
			}
		}
	}
	if len(batch) == 0 {
		return nil
	}
	s.mu.Lock()
	s.dirty[ps.id] = ps
	s.mu.Unlock()
	s.poke()
	return s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: batch}).Encode())
}

// Floored is what a Local whose store may hold a space from a
// checkpoint's snapshot implements (store.Store.Floor): the space's floor,
// or nil when it holds the full history. A Local without it holds full
// histories.
type Floored interface {
	Floor(ctx context.Context, sp keys.SpaceID) (*store.Floor, error)
}

// belowOurFloor reports whether this store is floored in ps's space and
// the peer's Have is below the floor for some author
// (docs/plans/checkpoints.md §6, "Serving others"). Such a peer is sent
// no commits of the space: this store does not hold what it skipped, and
// what it holds above the floor needs that past at the peer. The peer
// syncs from a full replica, or takes a snapshot; once its Have reaches
// the floor, it is served as by any replica.
func (s *Session) belowOurFloor(ctx context.Context, ps *peerSpace) (bool, error) {
	fl, ok := s.local.(Floored)
	if !ok {
		return false, nil
	}
	f, err := fl.Floor(ctx, ps.id)
	if err != nil || f == nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range f.Frontier {
		if ps.peerHas(h.Author).Seq < h.Seq {
			return true, nil
		}
	}
	return false, nil
}

// Deepening is what a Local implements whose floored spaces may fetch
// the history below their floor (docs/design.md, "Deepening a floored
// store"). While HistoryHeads reports true for a space, the session
// announces those heads instead of Heads: each author's last commit held
// without a gap from seq 1 (store.Store.HistoryHeads), so a full replica
// sends each chain from the first commit not held. Only the Have changes:
// what this session sends is still decided by Heads. A floored peer sends
// nothing to such a Have (belowOurFloor).
type Deepening interface {
	HistoryHeads(ctx context.Context, sp keys.SpaceID) ([]store.Head, bool, error)
}

// haveHeads returns the heads of sp to announce in a Have.
func (s *Session) haveHeads(ctx context.Context, sp keys.SpaceID) ([]store.Head, error) {
	if d, ok := s.local.(Deepening); ok {
		heads, deepening, err := d.HistoryHeads(ctx, sp)
		if err != nil || deepening {
			return heads, err
		}
	}
	return s.local.Heads(ctx, sp)
}
