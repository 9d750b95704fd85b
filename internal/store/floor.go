package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// A floored store holds a space from a checkpoint's snapshot on
// (InstallSnapshot, install.go): below each author's seq in the
// checkpoint's frontier F it holds only the kept commits and the commits
// filled in since (applyBelowFloor), not the whole chain
// (docs/plans/checkpoints.md §6).

// ErrBelowFloor is wrapped by the error of a read of a commit this store
// skipped: it joined the space from a checkpoint and does not hold the
// history below it. Ask a peer that holds the full history.
var ErrBelowFloor = errors.New("below the checkpoint this replica joined from: history not held here")

// Floor is a floored space's checkpoint: the commit C whose snapshot was
// installed (zero when installed without one) and its frontier F.
// NeedsHistory is set once something after F could change what S(F)
// decided (a rebuild of the space): the view is served as it was, and
// only the full history below F can decide it again (step 4 of the plan).
type Floor struct {
	Checkpoint   keys.CommitID
	Frontier     []commit.FrontierHead
	NeedsHistory bool
}

func floorKey(sp keys.SpaceID) []byte { return spaceKey(tagFloor, sp) }

// frontierHeadSize is one encoded frontier head: author ‖ seq ‖ ID ‖ wall ‖ logical.
const frontierHeadSize = keys.Size + 8 + keys.Size + 8 + 4

// encode: flags (1, bit 0 needsHistory) ‖ C (32) ‖ uint32 n ‖ n frontier heads.
func (f *Floor) encode() []byte {
	b := make([]byte, 0, 1+keys.Size+4+len(f.Frontier)*frontierHeadSize)
	var flags byte
	if f.NeedsHistory {
		flags |= 1
	}
	b = append(b, flags)
	b = append(b, f.Checkpoint[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Frontier)))
	for _, h := range f.Frontier {
		b = append(b, h.Author[:]...)
		b = binary.BigEndian.AppendUint64(b, h.Seq)
		b = append(b, h.ID[:]...)
		b = binary.BigEndian.AppendUint64(b, h.Time.Wall)
		b = binary.BigEndian.AppendUint32(b, h.Time.Logical)
	}
	return b
}

func decodeFloor(b []byte) (*Floor, error) {
	if len(b) < 1+keys.Size+4 || b[0]&^1 != 0 {
		return nil, fmt.Errorf("%w: floor row", ErrCorrupt)
	}
	f := &Floor{NeedsHistory: b[0]&1 != 0}
	copy(f.Checkpoint[:], b[1:])
	n := binary.BigEndian.Uint32(b[1+keys.Size:])
	b = b[1+keys.Size+4:]
	if uint64(len(b)) != uint64(n)*frontierHeadSize {
		return nil, fmt.Errorf("%w: floor row of %d heads", ErrCorrupt, n)
	}
	f.Frontier = make([]commit.FrontierHead, n)
	for i := range f.Frontier {
		h := &f.Frontier[i]
		copy(h.Author[:], b)
		h.Seq = binary.BigEndian.Uint64(b[keys.Size:])
		copy(h.ID[:], b[keys.Size+8:])
		h.Time.Wall = binary.BigEndian.Uint64(b[2*keys.Size+8:])
		h.Time.Logical = binary.BigEndian.Uint32(b[2*keys.Size+16:])
		b = b[frontierHeadSize:]
	}
	return f, nil
}

// Floor returns a space's floor, or nil if the store holds its full
// history.
func (s *Store) Floor(ctx context.Context, sp keys.SpaceID) (*Floor, error) {
	v, err := s.get(floorKey(sp))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: floor: %w", err)
	}
	return decodeFloor(v)
}

// floorSeqs returns each author's seq in a floor's frontier.
func (f *Floor) floorSeqs() map[keys.AuthorID]uint64 {
	m := make(map[keys.AuthorID]uint64, len(f.Frontier))
	for _, h := range f.Frontier {
		m[h.Author] = h.Seq
	}
	return m
}

// belowFloor reports whether (au, seq) is at or below sp's floor, from
// the applier's cache.
func (a *applier) belowFloor(sp keys.SpaceID, au keys.AuthorID, seq uint64) bool {
	st, ok := a.spaces[sp]
	if !ok {
		return a.s.missingBelowFloor(sp, au, seq)
	}
	return st.floor != nil && seq <= st.floor[au]
}

// belowFloorErr is the error of a read of commit (au, seq) below the floor.
func belowFloorErr(au keys.AuthorID, seq uint64) error {
	return fmt.Errorf("%w: commit %s/%d", ErrBelowFloor, au.Short(), seq)
}

// applyBelowFloor stores c, a commit at or below its author's seq in the
// floor's frontier whose row this store does not hold (a skipped commit
// that a later commit names as a dep, or deepening): its row and its ID
// index, nothing else. It is dead at F or it would be kept, and its
// gains are among the installed rows, so no head, cell, gain or decision
// changes. Its chain below is not held, so it cannot be checked against
// it: at the frontier's own seq its ID must be the frontier's; a second
// commit at a seq where one is indexed is not stored (fork evidence below
// the floor needs the history: step 4 of the plan).
func (a *applier) applyBelowFloor(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	l, ok, err := a.locate(bc, st.id, c.ID)
	if err != nil {
		return Outcome{}, err
	}
	if ok {
		if l == (loc{c.Author, c.Seq}) {
			if _, held := bc.byLoc[authorSeq{st.id, c.Author, c.Seq}]; !held {
				if _, err := a.s.get(commitKey(st.id, c.Author, c.Seq)); errors.Is(err, pebble.ErrNotFound) {
					return a.fillBelowFloor(bc, st, c) // an F head indexed but not held
				} else if err != nil {
					return Outcome{}, err
				}
			}
		}
		return Outcome{Status: Duplicate}, nil
	}
	if h := st.heads[c.Author]; c.Seq == st.floor[c.Author] && h.Seq >= c.Seq {
		// Its place is the frontier's head, indexed under another ID.
		return Outcome{Status: Duplicate, Err: fmt.Errorf("%w: %s is not the commit the checkpoint names at seq %d; its author may have forked", ErrBelowFloor, c, c.Seq)}, nil
	}
	return a.fillBelowFloor(bc, st, c)
}

func (a *applier) fillBelowFloor(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	if err := a.putCommitRow(bc, st.id, c); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: Filled}, nil
}

// putCommitRow stores c on its author's main chain (row and ID index)
// and notes it in the batch.
func (a *applier) putCommitRow(bc *batch, sp keys.SpaceID, c *commit.Commit) error {
	if err := a.setCommitRow(bc, sp, c); err != nil {
		return err
	}
	if err := bc.b.Set(spaceKey(tagCommitID, sp, c.ID[:]), append(c.Author[:len(c.Author):len(c.Author)], be64(c.Seq)...), nil); err != nil {
		return err
	}
	bc.ids[c.ID] = loc{c.Author, c.Seq}
	bc.atSeq[authorSeq{sp, c.Author, c.Seq}] = c.ID
	bc.byLoc[authorSeq{sp, c.Author, c.Seq}] = c
	return nil
}

// floorRebuild stands in for rebuild on a floored space: the whole
// history is not held, so the space cannot be decided again from it.
// It sets NeedsHistory in the floor row and keeps the current decision
// and view (served as they are until the history below F is fetched:
// step 4 of docs/plans/checkpoints.md). The decision returned is the
// current one.
func (a *applier) floorRebuild(st *spaceState) (*acl.Decision, error) {
	fl, err := a.s.Floor(context.Background(), st.id)
	if err != nil {
		return nil, err
	}
	if fl == nil {
		return nil, fmt.Errorf("%w: space %s has a floor in memory, none stored", ErrCorrupt, st.id)
	}
	d := &acl.Decision{Invalid: make(map[acl.Loc]error, len(st.invalid)), Cuts: st.cuts}
	for l := range st.invalid {
		d.Invalid[l] = fmt.Errorf("%w: %s seq %d does not count", acl.ErrRevoked, l.Author.Short(), l.Seq)
	}
	bc := a.newBatch()
	fl.NeedsHistory = true
	if err := bc.b.Set(floorKey(st.id), fl.encode(), nil); err != nil {
		bc.b.Close()
		return nil, err
	}
	st.view.rebuild, st.view.redecide, st.view.pieced = false, false, false
	bc.dirty[st.id] = st
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, fmt.Errorf("store: rebuild: %w", err)
	}
	return d, nil
}

// missingBelowFloor reports whether the commit row (au, seq) that a read
// did not find is below sp's floor: skipped, not lost.
func (s *Store) missingBelowFloor(sp keys.SpaceID, au keys.AuthorID, seq uint64) bool {
	fl, err := s.Floor(context.Background(), sp)
	if err != nil || fl == nil {
		return false
	}
	return seq <= fl.floorSeqs()[au]
}

// eraseBelowFloor applies an erase target that names a commit below the
// floor this store does not hold: the write is dead at F (or it would
// be kept), so only its key's cell can hold it, as a tombstone or an
// erased write, which the erase marks erased as a full replica would. The
// cell keeps no commit ID, so the target is matched by author, seq and
// op (a forked author's other commit at that seq is refused at the
// floor, applyBelowFloor). It reports whether the cell held the write.
func (a *applier) eraseBelowFloor(bc *batch, st *spaceState, t commit.EraseTarget) (bool, error) {
	if len(t.Key) == 0 {
		return false, nil
	}
	cs, err := a.cell(bc, st, t.Key)
	if err != nil {
		return false, err
	}
	j := 0
	for j < len(cs.cell.Live) && !(cs.cell.Live[j].Author == t.Author && cs.cell.Live[j].Seq == t.Seq && cs.cell.Live[j].Op == t.Op) {
		j++
	}
	if j == len(cs.cell.Live) {
		return false, nil
	}
	e := &cs.cell.Live[j]
	if e.Erased && !e.Lost {
		return true, nil // erased already: the erasure row decides who
	}
	if j == 0 && e.Visible() {
		st.view.Hash.Toggle(view.EntryDigest(t.Key, e))
		st.view.Visible--
	}
	if e.Lost {
		if err := a.unmarkLost(bc, st.id, e); err != nil {
			return false, err
		}
	}
	e.Erase()
	cs.dirty = true
	if j == 0 {
		bc.changes = append(bc.changes, Change{Key: t.Key, Entry: *e})
	}
	return true, nil
}
