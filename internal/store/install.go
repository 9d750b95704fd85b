package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Install is a checkpoint's snapshot, decoded and checked against the
// checkpoint (snapshot.Check): the state of a space at its frontier F
// (docs/plans/checkpoints.md §3, §6).
type Install struct {
	Name       string        // the local name to hold the space under
	Checkpoint keys.CommitID // C, the checkpoint commit (zero: none yet)
	Frontier   []commit.FrontierHead
	// Kept are the kept commits K, in (author, seq) order, each verified
	// by the caller (commit.Verify).
	Kept []*commit.Commit
	// Cells are the cells at F in key order: live writes without their
	// value (it is in K), erased ones with their payload digest and
	// length; Erasures the erasure of each erased entry.
	Cells    []CellRow
	Erasures []ErasureOf
	Gains    []GainRow // the gains of S(F), by author then seq
	// Invalid are the commits of S(F) that do not count, Cuts the
	// revocation cuts: the acl decision at F.
	Invalid []acl.Loc
	Cuts    map[keys.AuthorID]uint64
	// Once are the writes of S(F) tracked for write-once rules (see
	// Store.OnceWrites), of commits that count.
	Once []OnceWrite
	// View and Visible are the checkpoint's view hash and visible count
	// (its field 2): the installed cells must give them.
	View    keys.Digest
	Visible uint64
}

// ErasureOf is who erased a write's payload.
type ErasureOf struct {
	Author  keys.AuthorID
	Seq     uint64
	Op      uint32
	Erasure Erasure
}

// InstallSnapshot stores a space the store does not hold from a
// checkpoint's snapshot, as a floored space (floor.go): K's commits, the
// heads and the ID index of F (F's heads indexed even when not held, so
// that a later commit's dep on one is known), the gains of S(F), the acl
// decision, the grants and schemas of K's commits, the cells at F with
// their erasures, the view and the floor row, in one batch. Reads of the
// space then answer as a full replica at F would, and commits after F
// apply as on a full replica. The applier runs it alone, like Forget. The
// caller checks the snapshot against its checkpoint first
// (snapshot.Install does both).
func (s *Store) InstallSnapshot(ctx context.Context, sp keys.SpaceID, in *Install) error {
	if in.Name == "" || len(in.Name) > 128 {
		return fmt.Errorf("store: space name must be 1..128 bytes")
	}
	_, err := s.submit(&request{space: sp, install: in, reply: make(chan reply, 1)}).Wait(ctx)
	return err
}

// install runs an InstallSnapshot request on the applier goroutine.
func (a *applier) install(r *request) {
	err := a.installSpace(r.space, r.install)
	delete(a.spaces, r.space) // loaded from the rows on first use
	r.reply <- reply{err: err}
}

func (a *applier) installSpace(sp keys.SpaceID, in *Install) error {
	if a.broken != nil {
		return a.broken
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("store: install %s: "+format, append([]any{sp}, args...)...)
	}
	if _, err := a.s.get(spaceKey(tagMeta, sp)); err == nil {
		return fail("the space is already held (leave it first)")
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fail("%w", err)
	}
	if _, err := a.s.get(nameKey(in.Name)); err == nil {
		return fmt.Errorf("%w: %q (choose another name)", ErrNameTaken, in.Name)
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fail("%w", err)
	}
	floor := make(map[keys.AuthorID]commit.FrontierHead, len(in.Frontier))
	for _, h := range in.Frontier {
		floor[h.Author] = h
	}
	if _, ok := floor[keys.AuthorID(sp)]; !ok {
		return fail("the frontier does not include the genesis")
	}

	bc := a.newBatch()
	defer func() { bc.b.Close() }()
	// No meta row: nothing of the space should be held. Clear its tables
	// all the same, so that no stray row can mix into the install.
	if err := a.dropSpaceRecords(sp, bc.bodies.dead); err != nil {
		return err
	}
	for _, tag := range spaceTags {
		p := spaceKey(tag, sp)
		if err := bc.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	st := newSpaceState(sp)
	st.floor = make(map[keys.AuthorID]uint64, len(in.Frontier))
	bc.fresh[sp] = true
	var maxTime commit.HLC
	for _, h := range in.Frontier {
		nh := head{Seq: h.Seq, ID: h.ID, Wall: h.Time.Wall, Lgc: h.Time.Logical}
		if err := bc.b.Set(spaceKey(tagHead, sp, h.Author[:]), nh.encode(), nil); err != nil {
			return err
		}
		if err := bc.b.Set(spaceKey(tagCommitID, sp, h.ID[:]), append(h.Author[:len(h.Author):len(h.Author)], be64(h.Seq)...), nil); err != nil {
			return err
		}
		st.heads[h.Author] = nh
		st.newHead(h.ID, loc{h.Author, h.Seq})
		st.floor[h.Author] = h.Seq
		bc.from[authorSeq{sp, h.Author, 0}] = 1 // gains come from this batch (gainsOf)
		if maxTime.Less(h.Time) {
			maxTime = h.Time
		}
	}
	st.genesis = true

	// The gains of S(F): the causal table.
	for _, g := range in.Gains {
		if g.Seq > floor[g.Author].Seq {
			return fail("a gains row of %s seq %d is past the frontier", g.Author.Short(), g.Seq)
		}
		gs := make([]gain, len(g.Gains))
		for i, x := range g.Gains {
			gs[i] = gain{num: st.number(x.Author), seq: x.Seq}
		}
		slices.SortFunc(gs, compareGains)
		for i := 1; i < len(gs); i++ {
			if gs[i].num == gs[i-1].num {
				return fail("a gains row of %s seq %d names an author twice", g.Author.Short(), g.Seq)
			}
		}
		if err := bc.b.Set(gainsKey(sp, st.number(g.Author), g.Seq), appendGains(nil, gs), nil); err != nil {
			return err
		}
		bc.pasts[authorSeq{sp, g.Author, g.Seq}] = gs
	}

	// K's commits.
	kept := make(map[loc]*commit.Commit, len(in.Kept))
	for _, c := range in.Kept {
		h, ok := floor[c.Author]
		if c.Space != sp || !ok || c.Seq == 0 || c.Seq > h.Seq || c.Seq == h.Seq && c.ID != h.ID {
			return fail("kept commit %s is not in S(F)", c)
		}
		if err := a.putCommitRow(bc, sp, c); err != nil {
			return err
		}
		kept[loc{c.Author, c.Seq}] = c
	}
	if kept[loc{keys.AuthorID(sp), 1}] == nil {
		return fail("the genesis is not among the kept commits")
	}

	// The acl decision at F, then the grants and schemas of K's commits,
	// decided in causal order with their knowledge from the gains.
	for _, l := range in.Invalid {
		st.invalid[l] = true
		if err := bc.b.Set(invalidKey(sp, l.Author, l.Seq), []byte("does not count at the checkpoint"), nil); err != nil {
			return err
		}
	}
	for au, cut := range in.Cuts {
		st.cuts[au] = cut
		if err := bc.b.Set(spaceKey(tagCut, sp, au[:]), be64(cut), nil); err != nil {
			return err
		}
	}
	for _, w := range in.Once {
		h, ok := floor[w.Author]
		if !ok || w.Seq == 0 || w.Seq > h.Seq || len(w.Key) == 0 || len(w.Key) > commit.MaxKeySize {
			return fail("a tracked write of %s seq %d is not in S(F)", w.Author.Short(), w.Seq)
		}
		if cut, ok := st.cuts[w.Author]; st.invalid[w.Loc] || ok && w.Seq > cut {
			return fail("a tracked write of %s seq %d is by a commit that does not count", w.Author.Short(), w.Seq)
		}
		if err := bc.b.Set(onceKey(sp, w.Loc, w.Key), nil, nil); err != nil {
			return err
		}
	}
	order := slices.Clone(in.Kept)
	slices.SortFunc(order, func(x, y *commit.Commit) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		if c := bytes.Compare(x.Author[:], y.Author[:]); c != 0 {
			return c
		}
		return cmpUint(x.Seq, y.Seq)
	})
	for _, c := range order {
		if err := a.installControl(bc, st, c); err != nil {
			return fail("%w", err)
		}
	}

	// The cells at F, with their erasures and the view.
	if err := a.installCells(bc, st, in, kept); err != nil {
		return fail("%w", err)
	}
	if keys.Digest(st.view.Hash) != in.View || uint64(st.view.Visible) != in.Visible {
		return fail("the cells give view %s with %d keys, the checkpoint %x with %d", st.view.Hash, st.view.Visible, in.View, in.Visible)
	}
	st.view.MaxTime = maxTime

	fl := Floor{Checkpoint: in.Checkpoint, Frontier: in.Frontier}
	if err := bc.b.Set(floorKey(sp), fl.encode(), nil); err != nil {
		return err
	}
	m, _ := json.Marshal(metaJSON{Name: in.Name, Created: time.Now().UTC().Truncate(time.Second)})
	if err := bc.b.Set(spaceKey(tagMeta, sp), m, nil); err != nil {
		return err
	}
	if err := bc.b.Set(nameKey(in.Name), sp[:], nil); err != nil {
		return err
	}
	bc.dirty[sp] = st
	if err := a.fault("install", nil); err != nil {
		return err
	}
	if _, err := writeNumbers(bc.b, st); err != nil { // st is not cached: commitBatch does not see it
		return err
	}
	if err := a.commit(bc); err != nil {
		return fail("%w", err)
	}
	return nil
}

func cmpUint(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// installControl records the grants and schemas of a kept commit c, and
// its retention policy if it counts, as applyOne would have: decided in
// c's causal past, its knowledge folded from the installed gains.
func (a *applier) installControl(bc *batch, st *spaceState, c *commit.Commit) error {
	control := false
	for i := range c.Ops {
		control = control || !c.Ops[i].Kind.IsData()
	}
	if !control {
		return nil
	}
	for i := range c.Ops {
		if c.Ops[i].Kind == commit.KindRotate {
			return fmt.Errorf("kept commit %s rotates a read key: a private space cannot be installed from a checkpoint", c)
		}
	}
	k, err := a.knownAt(bc, st, c.Author, c.Seq)
	if err != nil {
		return err
	}
	seen := func(au keys.AuthorID, seq uint64) bool {
		if au == c.Author {
			return seq < c.Seq
		}
		i := st.number(au)
		return int(i) < len(k.vec) && k.vec[i] >= seq
	}
	v, err := st.grounded.Check(c, seen)
	if err != nil {
		return fmt.Errorf("kept commit %s is not grounded: %w", c, err)
	}
	valid := st.counts(c.Author, c.Seq)
	if err := a.addGrants(bc, st, v.Grants, valid); err != nil {
		return err
	}
	if err := a.addSchemas(bc, st, v.Schemas, valid, true); err != nil {
		return err
	}
	if !valid {
		return nil
	}
	for i := range c.Ops {
		if c.Ops[i].Kind == commit.KindRetention {
			if err := a.applyRetention(bc, st, c, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// installCells writes the cells at F: each live write's value from its
// kept commit (held lost if the commit arrived without it), each erased
// write's erasure, and the view hash of the winners.
func (a *applier) installCells(bc *batch, st *spaceState, in *Install, kept map[loc]*commit.Commit) error {
	sp := st.id
	var last []byte
	var buf []byte
	for ri := range in.Cells {
		row := &in.Cells[ri]
		if ri > 0 && bytes.Compare(row.Key, last) <= 0 {
			return fmt.Errorf("cell %q out of order", row.Key)
		}
		last = row.Key
		cell := view.Cell{Live: slices.Clone(row.Cell.Live)}
		if len(cell.Live) == 0 {
			return fmt.Errorf("cell %q is empty", row.Key)
		}
		for i := range cell.Live {
			e := &cell.Live[i]
			if e.Erased || e.Tombstone() {
				continue
			}
			kc := kept[loc{e.Author, e.Seq}]
			if kc == nil || int(e.Op) >= len(kc.Ops) || !bytes.Equal(kc.Ops[e.Op].Key, row.Key) {
				return fmt.Errorf("cell %q names %s seq %d op %d, which no kept commit writes", row.Key, e.Author.Short(), e.Seq, e.Op)
			}
			o := &kc.Ops[e.Op]
			if o.Erased { // the server held it lost: so does this store
				e.Value, e.Erased, e.Lost, e.PayloadDigest, e.PayloadLen = nil, true, true, o.PayloadDigest, o.PayloadLen
				if err := a.markLost(bc, sp, kc.ID, row.Key, e); err != nil {
					return err
				}
				continue
			}
			e.Value = o.Payload
		}
		buf = view.AppendCell(buf[:0], &cell)
		if err := bc.b.Set(cellKey(sp, row.Key), buf, nil); err != nil {
			return err
		}
		if w, ok := cell.Winner(); ok && w.Visible() {
			st.view.Hash.Toggle(view.EntryDigest(row.Key, &w))
			st.view.Visible++
		}
	}
	for _, x := range in.Erasures {
		rec := make([]byte, 0, keys.Size+20)
		rec = append(rec, x.Erasure.By[:]...)
		rec = binary.BigEndian.AppendUint64(rec, x.Erasure.Seq)
		rec = binary.BigEndian.AppendUint64(rec, x.Erasure.Time.Wall)
		rec = binary.BigEndian.AppendUint32(rec, x.Erasure.Time.Logical)
		if err := bc.b.Set(erasedKey(sp, x.Author, x.Seq, x.Op), rec, nil); err != nil {
			return err
		}
	}
	return nil
}
