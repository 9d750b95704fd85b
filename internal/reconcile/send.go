package reconcile

import (
	"container/heap"
	"context"
	"iter"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// source is one author's commits the peer lacks, read lazily.
type source struct {
	next func() (store.StoredCommit, error, bool)
	stop func()
	head store.StoredCommit
	time commit.HLC
	last uint64 // our head seq when the send began: stop there
}

// sources is a min-heap of sources by the time of their next commit.
type sources []*source

func (h sources) Len() int { return len(h) }
func (h sources) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time.Less(h[j].time)
	}
	return string(h[i].head.Author[:]) < string(h[j].head.Author[:])
}
func (h sources) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sources) Push(x any)   { *h = append(*h, x.(*source)) }
func (h *sources) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// advance loads the source's next commit; false when it is exhausted. A
// withheld commit (one that does not count, and neither does any later one
// of its author) ends the source: such commits are never sent unasked.
func (src *source) advance() (bool, error) {
	sc, err, ok := src.next()
	if !ok || (err == nil && (sc.Seq > src.last || sc.Withheld)) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h, _, err := commit.DecodeHeader(sc.Bytes)
	if err != nil {
		return false, err
	}
	src.head, src.time = sc, h.Time
	return true, nil
}

// sendMissing streams the commits of ps the peer lacks: per author in seq
// order, all authors merged by time, in frames of about BatchBytes. It
// raises what we know the peer has as it goes.
func (s *Session) sendMissing(ctx context.Context, ps *peerSpace) error {
	heads, err := s.local.Heads(ctx, ps.id)
	if err != nil {
		return err
	}
	var srcs sources
	defer func() {
		for _, src := range srcs {
			src.stop()
		}
	}()
	for _, h := range heads {
		s.mu.Lock()
		p := ps.has[h.Author]
		s.mu.Unlock()
		from := p.Seq + 1
		switch {
		case p.Seq == h.Seq && p.ID != h.ID:
			from = h.Seq // the peer holds another commit at our head's seq: a fork; send ours as evidence
		case p.Seq >= h.Seq:
			continue
		}
		next, stop := iter.Pull2(s.local.Commits(ctx, ps.id, h.Author, from))
		src := &source{next: next, stop: stop, last: h.Seq}
		ok, err := src.advance()
		if err != nil {
			stop()
			return err
		}
		if !ok {
			stop()
			continue
		}
		srcs = append(srcs, src)
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
		return err
	}
	for srcs.Len() > 0 {
		src := srcs[0]
		sc := src.head
		if size+len(sc.Bytes) > BatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, sc.Bytes)
		size += len(sc.Bytes)
		s.raise(ps, Head{Author: sc.Author, Seq: sc.Seq, ID: sc.ID})
		ok, err := src.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&srcs, 0)
		} else {
			src.stop()
			heap.Pop(&srcs)
		}
	}
	return flush()
}

// raise records that the peer has h (or later) of its author.
func (s *Session) raise(ps *peerSpace, h Head) {
	s.mu.Lock()
	if cur := ps.has[h.Author]; h.Seq > cur.Seq || (h.Seq == cur.Seq && cur.ID != h.ID) {
		ps.has[h.Author] = h
	}
	s.mu.Unlock()
}

// sendByID answers a Want with the commits we hold among ids (writer
// goroutine).
func (s *Session) sendByID(ctx context.Context, ps *peerSpace, ids []keys.CommitID) error {
	var batch [][]byte
	size := 0
	for _, id := range ids {
		b, err := s.local.CommitByID(ctx, ps.id, id)
		if err != nil {
			continue // we do not have it either
		}
		if size+len(b) > BatchBytes && len(batch) > 0 {
			if err := s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: batch}).Encode()); err != nil {
				return err
			}
			batch, size = nil, 0
		}
		batch = append(batch, b)
		size += len(b)
	}
	if len(batch) == 0 {
		return nil
	}
	return s.write((&Msg{Type: msgCommits, Disc: ps.disc, Commits: batch}).Encode())
}
