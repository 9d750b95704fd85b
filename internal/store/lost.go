package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Lost payloads (#14; docs/plans/voided-erase.md). A data write held
// without its payload and without an erase that counts is lost
// (view.Entry.Lost): its commit arrived erased ahead of its erase, or the
// erase that dropped it here was voided by a concurrent revocation. A lost
// write is indexed (tag 0x22, author ‖ seq ‖ op → commit ID ‖ key) so that
// sync can ask peers for its commit (LostCommits, then a Want), and a full
// copy of the commit, which arrives as a duplicate, puts the payload back
// (restoreLost). The index is a hint: a row whose write has since been
// erased or superseded is skipped by LostCommits and dropped when its
// commit next arrives.

func lostKey(sp keys.SpaceID, a keys.AuthorID, seq uint64, op uint32) []byte {
	return spaceKey(tagLost, sp, opSuffix(a, seq, op))
}

// markLost indexes the lost write e of key, op e.Op of commit id.
func (a *applier) markLost(bc *batch, sp keys.SpaceID, id keys.CommitID, key []byte, e *view.Entry) error {
	v := append(append(make([]byte, 0, keys.Size+len(key)), id[:]...), key...)
	return bc.b.Set(lostKey(sp, e.Author, e.Seq, e.Op), v, nil)
}

// unmarkLost drops the index row of the write e, once erased or restored.
func (a *applier) unmarkLost(bc *batch, sp keys.SpaceID, e *view.Entry) error {
	return bc.b.Delete(lostKey(sp, e.Author, e.Seq, e.Op), nil)
}

// LostCommits returns the IDs of at most max commits of sp that hold
// writes lost here and still live in their keys' cells: the commits to
// ask peers for, so that their payloads come back.
func (s *Store) LostCommits(ctx context.Context, sp keys.SpaceID, max int) ([]keys.CommitID, error) {
	var out []keys.CommitID
	var e err0
	p := spaceKey(tagLost, sp)
	for k, v := range s.scan(ctx, p, false, &e) {
		if len(out) == max {
			break
		}
		rest := k[len(p):]
		if len(rest) != keys.Size+12 || len(v) < keys.Size {
			return nil, fmt.Errorf("%w: lost-write row %x", ErrCorrupt, k)
		}
		var ver view.Version
		copy(ver.Author[:], rest)
		ver.Seq = binary.BigEndian.Uint64(rest[keys.Size:])
		ver.Op = binary.BigEndian.Uint32(rest[keys.Size+8:])
		id := keys.CommitID(v[:keys.Size])
		if n := len(out); n > 0 && out[n-1] == id {
			continue
		}
		c, err := s.cell(sp, v[keys.Size:])
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, en := range c.Live {
			if en.Author == ver.Author && en.Seq == ver.Seq && en.Op == ver.Op && en.Lost {
				out = append(out, id)
				break
			}
		}
	}
	return out, e.err
}

// restoreLost puts back the payloads of c's lost writes: c has the ID of
// the commit held at its (author, seq) on the main chain, so its payloads
// are the ones that commit was signed with (the ops root covers them). Only
// lost writes are restored: a payload erased by an erase that counts, or
// dropped by retention, stays erased.
func (a *applier) restoreLost(bc *batch, st *spaceState, c *commit.Commit) error {
	if !holdsData(c) {
		return nil // nothing that could be lost here
	}
	held, err := a.heldBytes(bc, st.id, c)
	if err != nil || bytes.Equal(held, c.Bytes()) {
		return err
	}
	stored, err := commit.Decode(held)
	if err != nil {
		return fmt.Errorf("%w: commit %s: %v", ErrCorrupt, c, err)
	}
	merged, restored := c, false
	for i := range stored.Ops {
		o := &stored.Ops[i]
		if !o.Erased {
			continue
		}
		back := false
		if o.Kind.IsData() {
			if back, err = a.restoreEntry(bc, st, c, i); err != nil {
				return err
			}
		}
		if !back {
			if merged, err = merged.Erase(i); err != nil {
				return fmt.Errorf("%w: commit %s: %v", ErrCorrupt, c, err)
			}
			continue
		}
		restored = true
	}
	if !restored {
		return nil
	}
	return a.rewrite(bc, st.id, merged, true)
}

// heldBytes returns the encoding of the commit stored at c's place.
func (a *applier) heldBytes(bc *batch, sp keys.SpaceID, c *commit.Commit) ([]byte, error) {
	if h, ok := bc.erasedC[c.ID]; ok {
		return h.Bytes(), nil
	}
	if h, ok := bc.byLoc[authorSeq{sp, c.Author, c.Seq}]; ok {
		return h.Bytes(), nil
	}
	k := commitKey(sp, c.Author, c.Seq)
	v, err := a.s.get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return c.Bytes(), nil // not readable here: nothing to restore
	}
	if err != nil {
		return nil, err
	}
	_, b, err := a.s.commitRow(k, v)
	return b, err
}

// restoreEntry puts op i of c's payload back in its key's cell if the
// write is lost there, and reports whether it did.
func (a *applier) restoreEntry(bc *batch, st *spaceState, c *commit.Commit, i int) (bool, error) {
	o := &c.Ops[i]
	cs, err := a.cell(bc, st, o.Key)
	if err != nil {
		return false, err
	}
	v := view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)}
	j := 0
	for j < len(cs.cell.Live) && cs.cell.Live[j].Version != v {
		j++
	}
	if j == len(cs.cell.Live) || !cs.cell.Live[j].Lost {
		return false, nil // superseded, or erased by an erase that counts
	}
	e := &cs.cell.Live[j]
	e.Value, e.Erased, e.Lost, e.PayloadDigest, e.PayloadLen = o.Payload, false, false, keys.Digest{}, 0
	cs.dirty = true
	if j == 0 {
		bc.changes = append(bc.changes, Change{Key: o.Key, Entry: *e}) // the same digest: the view hash stays
	}
	return true, a.unmarkLost(bc, st.id, e)
}

// holdsData reports whether c has a data op with its payload.
func holdsData(c *commit.Commit) bool {
	for i := range c.Ops {
		if c.Ops[i].Kind.IsData() && !c.Ops[i].Erased {
			return true
		}
	}
	return false
}
