package store

import (
	"bytes"
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

// Erasure (#14). An erase op (commit.KindErase) names earlier ops; when
// its commit is applied to the view, the store drops each named payload
// from the stored commit (format §6: the commit still verifies) and from
// the key's cell, and records who erased it (tag 0x1c). An erased entry
// stays in its cell, so that a read says who erased the key, but leaves
// the view hash and count as a tombstone does (view.Entry.Visible). A
// blob op is not erased (seeders keep blobs by them); the erase names it
// so that the blob it names is let go.
//
// To find every write to a key, superseded writes are indexed (tag 0x1b)
// when a later write supersedes them: a key written once costs nothing.

// Erasure says who erased an op's payload, by which commit, and when.
type Erasure struct {
	By   keys.AuthorID
	Seq  uint64
	Time commit.HLC
}

// ErasedOp is an op whose payload an applied erase dropped (Result and
// Event). Blob is the encoded blob reference the op held or named (a
// putblob's value, a blob op's payload), or nil: the node lets that blob
// go unless something else references it.
type ErasedOp struct {
	Author keys.AuthorID
	Seq    uint64
	Op     uint32
	Blob   []byte
}

// applyErase applies the erase op i of c, which counts; seen reports
// whether an (author, seq) is in c's causal past. A target outside it, or
// one that does not name the op held, is left alone.
func (a *applier) applyErase(bc *batch, st *spaceState, c *commit.Commit, i int, seen func(keys.AuthorID, uint64) bool) error {
	e, err := commit.DecodeErase(c.Ops[i])
	if err != nil {
		return nil // ignored, as acl ignores it
	}
	rec := make([]byte, 0, keys.Size+20)
	rec = append(rec, c.Author[:]...)
	rec = binary.BigEndian.AppendUint64(rec, c.Seq)
	rec = binary.BigEndian.AppendUint64(rec, c.Time.Wall)
	rec = binary.BigEndian.AppendUint32(rec, c.Time.Logical)
	// Each target commit is decoded once per erase op, however many of
	// its ops the targets name (a 4 MiB commit has up to 1,024).
	type held struct {
		c    *commit.Commit
		main bool
	}
	decoded := map[keys.CommitID]held{}
	for _, t := range e.Targets {
		if !seen(t.Author, t.Seq) {
			continue
		}
		if st.invalid[acl.Loc{Author: t.Author, Seq: t.Seq}] {
			// A commit that does not count keeps its payloads: whether it
			// breaks an app rule is decided from its values (#15), so
			// every replica must hold them to decide the same (a fresh
			// joiner that got it erased would count it). It is in no view.
			continue
		}
		h, ok := decoded[t.ID]
		if c, done := bc.erasedC[t.ID]; ok && done {
			h.c = c // rewritten by an earlier target
		} else if !ok {
			c, main, err := a.target(bc, st.id, t)
			if err != nil {
				return err
			}
			h = held{c, main}
			decoded[t.ID] = h
		}
		tc, main := h.c, h.main
		if tc == nil && a.belowFloor(st.id, t.Author, t.Seq) {
			held, err := a.eraseBelowFloor(bc, st, t)
			if err != nil {
				return err
			}
			if held {
				if err := a.recordErasure(bc, st, erasedKey(st.id, t.Author, t.Seq, t.Op), rec); err != nil {
					return err
				}
			}
			continue
		}
		if tc == nil || t.Names(tc, int(t.Op)) != nil {
			continue
		}
		done := ErasedOp{Author: t.Author, Seq: t.Seq, Op: t.Op}
		o := &tc.Ops[t.Op]
		switch {
		case o.Kind == commit.KindBlob:
			done.Blob = bytes.Clone(o.Payload)
		case o.Erased: // arrived erased, or erased by an erase since voided: lost in its cell
			if err := a.eraseFromView(bc, st, tc, int(t.Op)); err != nil {
				return err
			}
		default:
			if o.Kind == commit.KindPutBlob {
				done.Blob = bytes.Clone(o.Payload)
			}
			if err := a.eraseFromView(bc, st, tc, int(t.Op)); err != nil {
				return err
			}
			erased, err := tc.Erase(int(t.Op))
			if err != nil {
				return fmt.Errorf("%w: erase %s op %d: %v", ErrCorrupt, tc, t.Op, err)
			}
			if err := a.rewrite(bc, st.id, erased, main); err != nil {
				return err
			}
		}
		if err := a.recordErasure(bc, st, erasedKey(st.id, t.Author, t.Seq, t.Op), rec); err != nil {
			return err
		}
		bc.erased = append(bc.erased, done)
	}
	return nil
}

// recordErasure records rec (erase author ‖ seq ‖ wall ‖ logical) as the
// erasure of the op row k names, unless an earlier erase is recorded: of
// concurrent erases of one write, every replica records the first by
// signed time (then author, then seq), whatever order they came in.
func (a *applier) recordErasure(bc *batch, st *spaceState, k, rec []byte) error {
	old, ok := bc.erasure[string(k)]
	if !ok && !bc.fresh[st.id] { // a rebuild writes its rows anew
		v, err := a.s.get(k)
		switch {
		case err == nil:
			old, ok = v, true
		case !errors.Is(err, pebble.ErrNotFound):
			return err
		}
	}
	if ok && !erasureBefore(rec, old) {
		return nil
	}
	bc.erasure[string(k)] = rec
	return bc.b.Set(k, rec, nil)
}

// erasureBefore orders erasure records by time (wall, logical), author,
// seq; a malformed old record loses.
func erasureBefore(rec, old []byte) bool {
	const n = keys.Size + 20
	if len(old) != n {
		return true
	}
	at := func(r []byte) []byte { return r[keys.Size+8:] } // wall ‖ logical, big endian
	if c := bytes.Compare(at(rec), at(old)); c != 0 {
		return c < 0
	}
	return bytes.Compare(rec[:keys.Size+8], old[:keys.Size+8]) < 0
}

// target returns the commit t names, and whether it is on its author's
// main chain; nil if this store does not hold it there.
func (a *applier) target(bc *batch, sp keys.SpaceID, t commit.EraseTarget) (*commit.Commit, bool, error) {
	l, ok, err := a.locate(bc, sp, t.ID)
	if err != nil || !ok || l != (loc{t.Author, t.Seq}) {
		return nil, false, err
	}
	main := false
	if id, err := a.idAt(bc, sp, t.Author, t.Seq); err == nil && id == t.ID {
		main = true
	}
	if c, ok := bc.erasedC[t.ID]; ok { // rows this batch wrote are not readable yet
		return c, main, nil
	}
	if main {
		c, err := a.mainCommit(bc, sp, t.Author, t.Seq)
		return c, true, err
	}
	v, err := a.s.get(spaceKey(tagOffchain, sp, t.ID[:]))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	_, b, err := decodeLocRow(v)
	if err != nil {
		return nil, false, err
	}
	c, err := commit.Decode(b)
	if err != nil {
		return nil, false, fmt.Errorf("%w: off-chain commit %s: %v", ErrCorrupt, t.ID.Short(), err)
	}
	return c, false, nil
}

// rewrite stores c, an erased copy of a stored commit, in its place.
func (a *applier) rewrite(bc *batch, sp keys.SpaceID, c *commit.Commit, main bool) error {
	raw := c.Bytes()
	bc.erasedC[c.ID] = c
	if !main {
		v := append(append(c.Author[:len(c.Author):len(c.Author)], be64(c.Seq)...), raw...)
		return bc.b.Set(spaceKey(tagOffchain, sp, c.ID[:]), v, nil)
	}
	if _, ok := bc.byLoc[authorSeq{sp, c.Author, c.Seq}]; ok {
		bc.byLoc[authorSeq{sp, c.Author, c.Seq}] = c
	}
	// The record the row named holds the payload erased: counted dead,
	// it is reclaimed (reclaim.go).
	if err := a.dropRecord(bc, commitKey(sp, c.Author, c.Seq), true); err != nil {
		return err
	}
	return a.setCommitRow(bc, sp, c)
}

// eraseFromView marks op i of c erased in its key's cell (a sealed op's
// key is what it seals), lost or not. An erased winner leaves the view
// hash and count (view.Entry.Visible).
func (a *applier) eraseFromView(bc *batch, st *spaceState, c *commit.Commit, i int) error {
	o := &c.Ops[i]
	key := o.Key
	switch {
	case o.Kind == commit.KindSealed && a.s.unseal != nil:
		po, ok := a.s.unseal(st.id, c.Epoch, o.Payload)
		if !ok {
			return nil // never in the view here
		}
		key = po.Key
	case !o.Kind.IsData():
		return nil
	}
	cs, err := a.cell(bc, st, key)
	if err != nil {
		return err
	}
	v := view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)}
	j := 0
	for j < len(cs.cell.Live) && cs.cell.Live[j].Version != v {
		j++
	}
	if j == len(cs.cell.Live) || cs.cell.Live[j].Erased && !cs.cell.Live[j].Lost {
		return nil // superseded (not in the cell), or erased already
	}
	e := &cs.cell.Live[j]
	if j == 0 && e.Visible() {
		st.view.Hash.Toggle(view.EntryDigest(key, e))
		st.view.Visible--
	}
	if e.Lost {
		if err := a.unmarkLost(bc, st.id, e); err != nil {
			return err
		}
	}
	e.Erase()
	cs.dirty = true
	if j == 0 {
		bc.changes = append(bc.changes, Change{Key: key, Entry: *e})
	}
	return nil
}

// indexSuperseded indexes the live writes of cs that w's commit has seen
// (they leave the cell when w is applied): what an erase of the key names
// besides the cell's live writes. Tombstones and erased writes have no
// payload to erase and are not indexed.
func (a *applier) indexSuperseded(bc *batch, st *spaceState, key []byte, cs *cellState, seen view.SeenFunc) error {
	for i := range cs.cell.Live {
		e := &cs.cell.Live[i]
		if e.Lost && seen(e) {
			if err := a.unmarkLost(bc, st.id, e); err != nil { // superseded: no longer wanted
				return err
			}
		}
		if (e.Tombstone() || e.Erased) && seen(e) {
			if err := indexDead(bc, st.id, key, e); err != nil { // for re-deciding from the cut (redecide.go)
				return err
			}
		}
		if e.Tombstone() || e.Erased || !seen(e) {
			continue
		}
		if err := bc.b.Set(historyKey(st.id, key, e.Version), be64(e.Time.Wall), nil); err != nil {
			return err
		}
	}
	return nil
}

// Write is one write held to a key of a space: in the key's cell (Live),
// or superseded by a later write.
type Write struct {
	Key    []byte
	Author keys.AuthorID
	Seq    uint64
	Op     uint32
	Live   bool
	Erased bool // (Live only) its payload is not held here
	Lost   bool // (Erased only) and no erase that counts names it
}

// Writes returns the writes held to key, or with prefix under key:
// the live ones of each cell that are not tombstones, and the superseded
// ones indexed. Order: by key, live first.
func (s *Store) Writes(ctx context.Context, sp keys.SpaceID, key []byte, prefix bool) ([]Write, error) {
	var out []Write
	add := func(k []byte, c view.Cell) {
		for _, e := range c.Live {
			if !e.Tombstone() {
				out = append(out, Write{Key: k, Author: e.Author, Seq: e.Seq, Op: e.Op, Live: true, Erased: e.Erased, Lost: e.Lost})
			}
		}
	}
	if prefix {
		cp := cellKey(sp, key)
		var e err0
		for k, v := range s.scan(ctx, cp, false, &e) {
			c, err := view.DecodeCell(v)
			if err != nil {
				return nil, fmt.Errorf("%w: cell %q: %v", ErrCorrupt, k[len(cp)-len(key):], err)
			}
			add(bytes.Clone(k[1+keys.Size:]), c)
		}
		if e.err != nil {
			return nil, e.err
		}
	} else if c, err := s.cell(sp, key); err == nil {
		add(bytes.Clone(key), c)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var e err0
	for k, v := range s.scan(ctx, spaceKey(tagHistory, sp, key), false, &e) {
		h, ok := decodeHistoryRow(k, v)
		if !ok {
			return nil, fmt.Errorf("%w: superseded-write row %x", ErrCorrupt, k)
		}
		if prefix || len(h.key) == len(key) {
			out = append(out, Write{Key: bytes.Clone(h.key), Author: h.au, Seq: h.seq, Op: h.op})
		}
	}
	return out, e.err
}

// historyRow is a row of the superseded-writes index (historyKey): the
// key, the write (author, seq, op) and its time (wall µs).
type historyRow struct {
	key  []byte // aliases the row key
	au   keys.AuthorID
	seq  uint64
	op   uint32
	wall uint64
}

func decodeHistoryRow(k, v []byte) (historyRow, bool) {
	const suffix = keys.Size + 8 + 4
	rest := k[1+keys.Size:]
	if len(rest) < suffix || len(v) != 8 {
		return historyRow{}, false
	}
	tail := rest[len(rest)-suffix:]
	h := historyRow{key: rest[:len(rest)-suffix], wall: binary.BigEndian.Uint64(v)}
	copy(h.au[:], tail)
	h.seq = binary.BigEndian.Uint64(tail[keys.Size:])
	h.op = binary.BigEndian.Uint32(tail[keys.Size+8:])
	return h, true
}

// Erasure returns who erased op (author, seq, op)'s payload, if anyone.
func (s *Store) Erasure(ctx context.Context, sp keys.SpaceID, author keys.AuthorID, seq uint64, op uint32) (Erasure, bool, error) {
	v, err := s.get(erasedKey(sp, author, seq, op))
	if errors.Is(err, pebble.ErrNotFound) {
		return Erasure{}, false, nil
	}
	if err != nil {
		return Erasure{}, false, err
	}
	if len(v) != keys.Size+20 {
		return Erasure{}, false, fmt.Errorf("%w: erasure row", ErrCorrupt)
	}
	var r Erasure
	copy(r.By[:], v)
	r.Seq = binary.BigEndian.Uint64(v[keys.Size:])
	r.Time.Wall = binary.BigEndian.Uint64(v[keys.Size+8:])
	r.Time.Logical = binary.BigEndian.Uint32(v[keys.Size+16:])
	return r, true, nil
}
