package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Head is the latest commit of one author in a space.
type Head struct {
	Author keys.AuthorID
	Seq    uint64
	ID     keys.CommitID
	Time   commit.HLC
}

// Heads returns every author's head in a space, in author order.
func (s *Store) Heads(ctx context.Context, sp keys.SpaceID) ([]Head, error) {
	var e err0
	var out []Head
	for k, v := range s.scan(ctx, spaceKey(tagHead, sp), false, &e) {
		h, err := decodeHeadRow(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, e.err
}

// SyncHeads returns the heads sync announces to peers: per author, its
// latest commit that is not withheld (see StoredCommit.Withheld); an
// author all of whose commits are withheld is left out. Peers that have
// applied the same revocations and hold the same fork evidence then
// announce the same heads whether or not they received the commits that
// do not count.
func (s *Store) SyncHeads(ctx context.Context, sp keys.SpaceID) ([]Head, error) {
	r, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release(r)
	r.cmu.Lock()
	hs, ok := r.syncHeads[sp]
	r.cmu.Unlock()
	if ok {
		return slices.Clone(hs), nil
	}
	hs, err = s.syncHeads(ctx, sp)
	if err != nil {
		return nil, err
	}
	r.cmu.Lock()
	if r.syncHeads == nil {
		r.syncHeads = map[keys.SpaceID][]Head{}
	}
	r.syncHeads[sp] = hs
	r.cmu.Unlock()
	return slices.Clone(hs), nil
}

func (s *Store) syncHeads(ctx context.Context, sp keys.SpaceID) ([]Head, error) {
	heads, err := s.Heads(ctx, sp)
	if err != nil {
		return nil, err
	}
	withheld, err := s.withheld(ctx, sp, nil)
	if err != nil || len(withheld) == 0 {
		return heads, err
	}
	out := heads[:0]
	for _, h := range heads {
		first, ok := withheld[h.Author]
		if !ok {
			out = append(out, h)
			continue
		}
		if first <= 1 {
			continue
		}
		id, b, err := s.getCommit(commitKey(sp, h.Author, first-1))
		if errors.Is(err, pebble.ErrNotFound) && s.missingBelowFloor(sp, h.Author, first-1) {
			return nil, fmt.Errorf("store: sync heads: %w", belowFloorErr(h.Author, first-1))
		}
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("%w: commit %s/%d below a head: %v", ErrCorrupt, h.Author.Short(), first-1, err)
		}
		if err != nil {
			return nil, err
		}
		hd, _, err := commit.DecodeHeader(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out = append(out, Head{Author: h.Author, Seq: first - 1, ID: id, Time: hd.Time})
	}
	return out, nil
}

// StoredCommit is a commit as kept on disk: the ID recorded when it was
// stored and its exact bytes. (Commits and AllCommits yield a commit whose
// row or record does not read with an error wrapping ErrCorrupt, naming
// its author and seq.) Withheld marks a commit that sync does not
// send unasked: it does not count (Status Revoked, or its author forked at
// or below its seq), and no later commit of its author held here counts
// either. (A commit that does not count but precedes one that does is
// sent: it is a link of that chain.)
type StoredCommit struct {
	Author   keys.AuthorID
	Seq      uint64
	ID       keys.CommitID
	Bytes    []byte
	Withheld bool
}

// Commits yields the stored commits of author in a space from seq from on,
// in seq order, as raw bytes; callers decode and verify them.
func (s *Store) Commits(ctx context.Context, sp keys.SpaceID, author keys.AuthorID, from uint64) iter.Seq2[StoredCommit, error] {
	lower := commitKey(sp, author, from)
	upper := prefixEnd(spaceKey(tagCommit, sp, author[:]))
	return s.commitRows(ctx, sp, author[:], lower, upper)
}

// AllCommits yields every stored main-chain commit of a space, by author
// then seq.
func (s *Store) AllCommits(ctx context.Context, sp keys.SpaceID) iter.Seq2[StoredCommit, error] {
	p := spaceKey(tagCommit, sp)
	return s.commitRows(ctx, sp, nil, p, prefixEnd(p))
}

// commitRows yields commit rows in [lower, upper), marking the withheld
// ones among the invalid rows under author (nil: all authors).
func (s *Store) commitRows(ctx context.Context, sp keys.SpaceID, author []byte, lower, upper []byte) iter.Seq2[StoredCommit, error] {
	return func(yield func(StoredCommit, error) bool) {
		withheld, err := s.withheld(ctx, sp, author)
		if err != nil {
			yield(StoredCommit{}, fmt.Errorf("store: commits: %w", err))
			return
		}
		var e err0
		for k, v := range s.scanRange(ctx, lower, upper, false, &e) {
			sc, err := s.readCommitRow(k, v)
			if err == nil {
				sc.Withheld = sc.Seq > 0 && withheld[sc.Author] != 0 && sc.Seq >= withheld[sc.Author]
			}
			if !yield(sc, err) || err != nil {
				return
			}
		}
		if e.err != nil {
			yield(StoredCommit{}, fmt.Errorf("store: commits: %w", e.err))
		}
	}
}

// withheld returns, per author (under the author prefix, nil: all), the
// first seq of the tail of its stored commits that do not count: voided
// (invalid rows) or at and after its fork.
func (s *Store) withheld(ctx context.Context, sp keys.SpaceID, author []byte) (map[keys.AuthorID]uint64, error) {
	r, err := s.acquire()
	if err != nil {
		return nil, err
	}
	clean, err := r.isClean(sp)
	s.release(r)
	if clean || err != nil {
		return nil, err
	}
	var e err0
	invalid := map[acl.Loc]bool{}
	for k := range s.scan(ctx, spaceKey(tagInvalid, sp, author), false, &e) {
		l, err := decodeInvalidRow(k)
		if err != nil {
			return nil, err
		}
		invalid[l] = true
	}
	forked, err := s.forkSeqs(ctx, sp, author)
	if e.err != nil || err != nil || len(invalid) == 0 && len(forked) == 0 {
		return nil, errors.Join(e.err, err)
	}
	out := map[keys.AuthorID]uint64{}
	for k, v := range s.scan(ctx, spaceKey(tagHead, sp, author), false, &e) {
		h, err := decodeHeadRow(k, v)
		if err != nil {
			return nil, err
		}
		au := h.Author
		first := h.Seq + 1
		if fs, ok := forked[au]; ok && fs < first {
			first = fs // a forked author's commits from the fork on do not count
		}
		for first > 1 && invalid[acl.Loc{Author: au, Seq: first - 1}] {
			first--
		}
		if first <= h.Seq {
			out[au] = first
		}
	}
	return out, e.err
}

// decodeCommitRow decodes a commit row: author, seq and ID in sc, and
// the value (the commit's bytes, or the place of its record), which
// readCommitRow reads. A row whose value does not decode still has its
// author and seq in sc, with the error.
func decodeCommitRow(k, v []byte) (StoredCommit, commitValue, error) {
	if len(k) != recordKeySize {
		return StoredCommit{}, commitValue{}, fmt.Errorf("%w: commit row", ErrCorrupt)
	}
	var sc StoredCommit
	copy(sc.Author[:], k[1+keys.Size:])
	sc.Seq = binary.BigEndian.Uint64(k[1+2*keys.Size:])
	cv, err := decodeCommitValue(v)
	if err != nil {
		return sc, commitValue{}, err
	}
	sc.ID = cv.ID
	return sc, cv, nil
}

// readCommitRow decodes a commit row and reads the commit's bytes, from
// the body log if the row names a record there. sc.Bytes is the caller's.
// A row that does not read (ErrCorrupt) has its author, seq and, if it
// decoded, its ID in sc, with the error.
func (s *Store) readCommitRow(k, v []byte) (StoredCommit, error) {
	sc, cv, err := decodeCommitRow(k, v)
	if err != nil {
		return sc, err
	}
	if sc.Bytes, err = s.commitBody(k, cv); err != nil {
		return sc, err
	}
	if !cv.Logged {
		sc.Bytes = bytes.Clone(sc.Bytes)
	}
	return sc, nil
}

// CommitByID returns a stored commit by ID (main chain or off-chain).
func (s *Store) CommitByID(ctx context.Context, sp keys.SpaceID, id keys.CommitID) ([]byte, error) {
	v, err := s.get(spaceKey(tagCommitID, sp, id[:]))
	if errors.Is(err, pebble.ErrNotFound) {
		b, err := s.get(spaceKey(tagOffchain, sp, id[:]))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("%w: commit %s", ErrNotFound, id)
		}
		if err != nil {
			return nil, fmt.Errorf("store: off-chain commit %s: %w", id, err)
		}
		_, c, err := decodeLocRow(b)
		return c, err
	}
	if err != nil {
		return nil, err
	}
	l, rest, err := decodeLocRow(v)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: commit index row", ErrCorrupt)
	}
	_, b, err := s.getCommit(commitKey(sp, l.author, l.seq))
	if errors.Is(err, pebble.ErrNotFound) && s.missingBelowFloor(sp, l.author, l.seq) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, belowFloorErr(l.author, l.seq)) // an F head indexed, not held
	}
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: commit %s indexed but missing: %v", ErrCorrupt, id, err)
	}
	return b, err
}

// OffChain returns the authors of the commits of a space held off their
// author's main chain, by ID: fork evidence and a forked author's other
// branch. A dep on one counts as its author's commit before its fork seq
// (acl.EvaluateForked).
func (s *Store) OffChain(ctx context.Context, sp keys.SpaceID) (map[keys.CommitID]keys.AuthorID, error) {
	var e err0
	out := map[keys.CommitID]keys.AuthorID{}
	p := spaceKey(tagOffchain, sp)
	for k, v := range s.scan(ctx, p, false, &e) {
		l, _, err := decodeLocRow(v)
		if err != nil || len(k) != len(p)+keys.Size {
			return nil, fmt.Errorf("%w: off-chain row", ErrCorrupt)
		}
		out[keys.CommitID(k[len(p):])] = l.author
	}
	return out, e.err
}

// Forks returns the fork evidence held for a space.
func (s *Store) Forks(ctx context.Context, sp keys.SpaceID) ([]commit.Fork, error) {
	var e err0
	var out []commit.Fork
	for k, v := range s.scan(ctx, spaceKey(tagFork, sp), false, &e) {
		if len(k) != 1+2*keys.Size+8+keys.Size {
			return nil, fmt.Errorf("%w: fork row", ErrCorrupt)
		}
		b, err := commit.Decode(bytes.Clone(v))
		if err != nil {
			return nil, fmt.Errorf("%w: fork row: %v", ErrCorrupt, err)
		}
		fk := commitKey(sp, b.Author, b.Seq)
		first, err := s.get(fk)
		if err != nil {
			return nil, fmt.Errorf("%w: fork without its main commit: %v", ErrCorrupt, err)
		}
		_, fb, err := s.commitRow(fk, first)
		if err != nil {
			return nil, err
		}
		a, err := commit.Decode(fb)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		f, err := commit.NewFork(a, b)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out = append(out, f)
	}
	return out, e.err
}
