package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Re-deciding from the cut (#16; docs/design.md): a revocation that only
// cuts authors whose commits past the cut write data changes nothing but
// those commits, so it is decided from them alone instead of by
// acl.Evaluate over the whole space (rebuild.go).
const (
	// tagRevoking: every main-chain commit of a space that revokes (a
	// revoke, device revocation or person's revocation op), one row each
	// (space/author/seq): written when stored, rewritten by every full
	// decision.
	tagRevoking byte = 0x30
	// tagDead: superseded tombstones and erased writes
	// (space/key/author/seq/op), which the superseded-writes index
	// (tagHistory) leaves out.
	tagDead byte = 0x31
	// tagIncr: markers, space + markRevoking: the tagRevoking rows are
	// complete; space + markDead: every superseded write is in tagHistory or
	// tagDead.
	tagIncr byte = 0x32
)

const (
	markRevoking byte = 'r'
	markDead     byte = 'd'
)

func markKey(sp keys.SpaceID, m byte) []byte { return spaceKey(tagIncr, sp, []byte{m}) }

func revokingKey(sp keys.SpaceID, by keys.AuthorID, seq uint64) []byte {
	return spaceKey(tagRevoking, sp, by[:], be64(seq))
}

// noteRevoking records c, a main-chain commit being stored, if it revokes.
func noteRevoking(bc *batch, sp keys.SpaceID, c *commit.Commit) error {
	if !revoking(c) {
		return nil
	}
	return bc.b.Set(revokingKey(sp, c.Author, c.Seq), nil, nil)
}

func revoking(c *commit.Commit) bool {
	for i := range c.Ops {
		switch c.Ops[i].Kind {
		case commit.KindRevoke, commit.KindDevRevoke, commit.KindRevokePerson:
			return true
		}
	}
	return false
}

func deadKey(sp keys.SpaceID, key []byte, v view.Version) []byte {
	return spaceKey(tagDead, sp, key, opSuffix(v.Author, v.Seq, v.Op))
}

// markFresh notes that a space starts here (its genesis is stored): its
// revoking commits and superseded writes are recorded from the start,
// so its revocations may be decided from the cut.
func markFresh(bc *batch, sp keys.SpaceID) error {
	for _, m := range []byte{markRevoking, markDead} {
		if err := bc.b.Set(markKey(sp, m), nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// deadRow returns the tagDead row of the write a history row indexes
// (retention moves a write there when it erases it).
func deadRow(history []byte) []byte { return append([]byte{tagDead}, history[1:]...) }

// indexDead records e, a live tombstone or erased write of key that the
// write being applied supersedes (called from indexSuperseded): the
// superseded writes the history index leaves out. The row's value is
// what WinnerAt needs of e when its commit is not held (below a
// checkpoint's floor: a tombstone's or erased write's commit is not
// kept): deadValue. Rows written before it have none.
func indexDead(bc *batch, sp keys.SpaceID, key []byte, e *view.Entry) error {
	return bc.b.Set(deadKey(sp, key, e.Version), deadValue(e), nil)
}

// deadValue encodes a dead row's value: wall (8) ‖ logical (4) ‖ kind ‖
// erased (0 or 1).
func deadValue(e *view.Entry) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, deadValueLen), e.Time.Wall)
	b = binary.BigEndian.AppendUint32(b, e.Time.Logical)
	erased := byte(0)
	if e.Erased {
		erased = 1
	}
	return append(b, byte(e.Kind), erased)
}

const deadValueLen = 8 + 4 + 1 + 1

// decodeDeadValue decodes deadValue's bytes into a stand-in for the write
// (no version, no value); ok is false for a row without them (older) or
// with bytes deadValue does not write.
func decodeDeadValue(v []byte) (e view.Entry, ok bool) {
	if len(v) != deadValueLen || v[13] > 1 {
		return view.Entry{}, false
	}
	e.Time = commit.HLC{Wall: binary.BigEndian.Uint64(v), Logical: binary.BigEndian.Uint32(v[8:])}
	e.Kind, e.Erased = commit.Kind(v[12]), v[13] == 1
	if !e.Kind.IsData() && e.Kind != commit.KindSealed {
		return view.Entry{}, false
	}
	if e.Kind == commit.KindSealed {
		e.Kind = commit.KindPut // as writeOf names an erased sealed write
	}
	return e, true
}

// errSlow says the fast path does not apply: decide the whole space.
var errSlow = errors.New("store: redecide: full decision needed")

// removed is a write of a cut author that counted and no longer does.
type removed struct {
	key []byte
	ver view.Version
}

// cutPlan is what the revoking commits of a batch change: new cuts, the
// commits that stop counting (with the reason) and their writes.
type cutPlan struct {
	cuts    map[keys.AuthorID]uint64
	invalid map[acl.Loc]error
	writes  []removed
}

// counts reports whether (au, seq) counts after the cuts planned so far.
func (p *cutPlan) counts(st *spaceState, au keys.AuthorID, seq uint64) bool {
	_, voided := p.invalid[acl.Loc{Author: au, Seq: seq}]
	return !voided && st.counts(au, seq)
}

// redecideFast decides a space again after a batch that stored revoking
// commits (of members, devices or people) or certificates among cs (the
// batch's commits of the space), from the revoked authors' commits past
// their cuts, when that is exactly what
// acl.Evaluate over the whole space would decide. It returns errSlow,
// having written nothing, when it is not (see docs/design.md, "Re-deciding
// from the cut (#16)"): the caller then decides the whole space.
func (a *applier) redecideFast(st *spaceState, cs []*commit.Commit) ([]Change, *acl.Decision, error) {
	ctx := context.Background()
	sp := st.id
	if st.floor != nil || st.view.rebuild {
		return nil, nil, slow("a floored space, or a fork")
	}
	if ok, err := a.has(markKey(sp, markRevoking)); err != nil || !ok {
		return nil, nil, errOr(err, "no record of the revoking commits")
	}
	var revs []*commit.Commit
	certifies := false
	for _, c := range cs {
		if c.Space != sp {
			continue
		}
		if acl.DeclaresOnce(c) {
			// A write-once rule new to the space (acl.State.Watch): the
			// writes stored before it are tracked by deciding the whole
			// space, and the commits of the batch after it were decided
			// without them.
			return nil, nil, slow("a write-once rule declared")
		}
		switch kindsOf(c) {
		case plain:
		case revokes:
			if !slices.ContainsFunc(revs, func(r *commit.Commit) bool { return r.ID == c.ID }) {
				revs = append(revs, c)
			}
		default:
			return nil, nil, slow("a join through an invite")
		}
		certifies = certifies || carriesCert(c)
	}
	if len(revs) == 0 && !certifies {
		return nil, nil, slow("no revocation") // a load after a crash, or a join
	}
	// The revoking commits of the batch, each in the causal past of the
	// next: decided one after the other, as acl.Evaluate looks at them.
	bc0 := a.newBatch()
	defer bc0.b.Close()
	pasts := make(map[keys.CommitID]*past, len(revs))
	for _, rev := range revs {
		if row, err := a.s.get(commitKey(sp, rev.Author, rev.Seq)); err != nil || !bytes.HasPrefix(row, rev.ID[:]) {
			return nil, nil, errOr(ignoreNotFound(err), "a revocation is not stored")
		}
		p, err := a.pastOf(bc0, st, rev)
		if err != nil {
			return nil, nil, err
		}
		pasts[rev.ID] = p
	}
	before := func(x, y *commit.Commit) bool { // x in y's causal past
		return pasts[y.ID].saw(x.Author, x.Seq) && !(x.Author == y.Author && x.Seq >= y.Seq)
	}
	slices.SortFunc(revs, func(x, y *commit.Commit) int {
		switch {
		case before(x, y):
			return -1
		case before(y, x):
			return 1
		}
		return 0
	})
	for i := 1; i < len(revs); i++ {
		if !before(revs[i-1], revs[i]) {
			return nil, nil, slow("concurrent revoking commits") // their order is the decision order's
		}
	}
	plan := &cutPlan{cuts: map[keys.AuthorID]uint64{}, invalid: map[acl.Loc]error{}}
	if certifies {
		// A certificate may give a person's revocation held one more
		// device to cut, where that revocation was looked at.
		if err := a.planLate(ctx, st, plan, cs, revs); err != nil {
			return nil, nil, err
		}
	}
	for i, rev := range revs {
		later := map[acl.Loc]bool{}
		for _, l := range revs[i+1:] {
			later[acl.Loc{Author: l.Author, Seq: l.Seq}] = true
		}
		if err := a.plan(ctx, st, plan, rev, pasts[rev.ID], later); err != nil {
			return nil, nil, err
		}
	}
	if err := a.checkWrites(ctx, st, plan.writes, plan.invalid); err != nil {
		return nil, nil, err
	}

	// Decided: write it.
	bc := a.newBatch()
	for l, why := range plan.invalid {
		st.invalid[l] = true
		if err := bc.b.Set(invalidKey(sp, l.Author, l.Seq), []byte(why.Error()), nil); err != nil {
			bc.b.Close()
			return nil, nil, err
		}
	}
	for au, cut := range plan.cuts {
		st.cuts[au] = cut
		delete(st.fastFrom, au)
		if err := bc.b.Set(spaceKey(tagCut, sp, au[:]), be64(cut), nil); err != nil {
			bc.b.Close()
			return nil, nil, err
		}
	}
	changes, err := a.unapply(bc, st, plan.writes)
	if err != nil {
		bc.b.Close()
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, nil, err
	}
	st.view.rebuild, st.view.redecide = false, false
	bc.dirty[sp] = st
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{}
		return nil, nil, fmt.Errorf("store: redecide: %w", err)
	}
	a.s.fromCut.Add(1)
	d := &acl.Decision{Invalid: map[acl.Loc]error{}, Cuts: st.cuts}
	for _, c := range cs {
		l := acl.Loc{Author: c.Author, Seq: c.Seq}
		if why, ok := plan.invalid[l]; ok {
			d.Invalid[l] = why
		} else if st.invalid[l] {
			d.Invalid[l] = acl.ErrRevoked // decided before, with its reason in its outcome
		}
	}
	return changes, d, nil
}

// plan adds to p what rev changes, or returns errSlow; past is rev's
// causal past, later the revoking commits of the batch after it.
func (a *applier) plan(ctx context.Context, st *spaceState, p *cutPlan, rev *commit.Commit, past *past, later map[acl.Loc]bool) error {
	sp := st.id
	if _, forked := st.forked[rev.Author]; forked {
		return slow("a forked revoker")
	}
	// Every other revoking commit held must be in rev's causal past: then
	// rev comes after all of them in the decision order, they are decided
	// as before, and no revocation is looked at after rev's but those of
	// the batch after it, decided next.
	var e err0
	pre := spaceKey(tagRevoking, sp)
	for k := range a.s.scan(ctx, pre, false, &e) {
		if len(k) != len(pre)+keys.Size+8 {
			return fmt.Errorf("%w: revoking-commit row %x", ErrCorrupt, k)
		}
		by, seq := keys.AuthorID(k[len(pre):len(pre)+keys.Size]), binary.BigEndian.Uint64(k[len(pre)+keys.Size:])
		if (by == rev.Author && seq == rev.Seq) || later[acl.Loc{Author: by, Seq: seq}] {
			continue
		}
		if !past.saw(by, seq) || (by == rev.Author && seq >= rev.Seq) {
			return slow("a revocation not in its causal past")
		}
	}
	if e.err != nil {
		return e.err
	}
	if !p.counts(st, rev.Author, rev.Seq) {
		return nil // looked at, it does not count: ignored, nothing changes
	}
	// Its cuts: of members, of devices, and of every device of a person it
	// revokes (the certificates of every commit held, counting or not, as
	// acl.Evaluate finds them).
	for _, r := range acl.CutsOf(rev, st.grounded.Devices) {
		if err := a.planCut(ctx, st, p, r.Revoke); err != nil {
			return err
		}
	}
	return nil
}

// planCut adds to p the cut r of a revocation looked at counting, or
// returns errSlow: it cuts r.Author after r.LastSeq unless that author is
// cut as low already (the revocation is accepted, changing nothing).
func (a *applier) planCut(ctx context.Context, st *spaceState, p *cutPlan, r commit.Revoke) error {
	if !p.lowers(st, r) {
		return nil
	}
	if _, forked := st.forked[r.Author]; forked || st.joinsVia(r.Author) > 0 {
		return slow("cuts a forked author or an invite")
	}
	if err := a.cutFrom(ctx, st, p, r.Author, r.LastSeq); err != nil {
		return err
	}
	p.cuts[r.Author] = r.LastSeq
	return nil
}

// lowers reports whether r, a cut of a revocation looked at counting,
// cuts its author lower than it is cut (by st, or by p): else it is
// ignored (a cut of the space key, as acl.Evaluate does) or accepted,
// changing nothing.
func (p *cutPlan) lowers(st *spaceState, r commit.Revoke) bool {
	if r.Author == keys.AuthorID(st.id) {
		return false
	}
	cut, isCut := st.cuts[r.Author]
	if c, ok := p.cuts[r.Author]; ok {
		cut, isCut = c, true
	}
	return !isCut || r.LastSeq < cut
}

// cutFrom adds to p the commits of au past last, which must all be data
// only: then cutting them changes no other commit's decision.
func (a *applier) cutFrom(ctx context.Context, st *spaceState, p *cutPlan, au keys.AuthorID, last uint64) error {
	why := fmt.Errorf("%w: %s is cut after seq %d", acl.ErrRevoked, au, last)
	for sc, err := range a.s.Commits(ctx, st.id, au, last+1) {
		if err != nil {
			return err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return fmt.Errorf("%w: redecide: %v", ErrCorrupt, err)
		}
		if !onlyWrites(c) {
			return slow("the cut voids a control op")
		}
		l := acl.Loc{Author: au, Seq: c.Seq}
		if p.counts(st, au, c.Seq) {
			for i := range c.Ops {
				o := &c.Ops[i]
				if o.Erased {
					return slow("the cut voids an erased write")
				}
				if o.Kind.IsData() && st.valid.OnceWrote(o.Key, l) {
					// A write-once rule may have refused later writes
					// for it: they count now (acl/doc.go).
					return slow("the cut voids a write of a write-once key")
				}
				p.writes = append(p.writes, removed{key: o.Key, ver: view.Version{Time: c.Time, Author: au, Seq: c.Seq, Op: uint32(i)}})
			}
		}
		p.invalid[l] = why
	}
	return nil
}

// checkWrites returns errSlow unless every write in ws can leave the view
// by itself: a live one must have superseded nothing but writes voided
// too (its key has no other superseded write indexed, in tagHistory or
// tagDead: then every write of the key that still counts is live), and the
// space has
// no write erased by an erase op or lost (kept simple: an erase that stops
// counting is the whole path's to decide).
func (a *applier) checkWrites(ctx context.Context, st *spaceState, ws []removed, voided map[acl.Loc]error) error {
	if len(ws) == 0 {
		return nil
	}
	sp := st.id
	for _, m := range [][]byte{markKey(sp, markDead)} {
		if ok, err := a.has(m); err != nil || !ok {
			return errOr(err, "no complete index of superseded writes")
		}
	}
	for _, tag := range []byte{tagErased, tagLost} {
		if any, err := a.anyRow(ctx, spaceKey(tag, sp), 0); err != nil || any {
			return errOr(err, "erased writes")
		}
	}
	for _, w := range ws {
		v, err := a.s.get(cellKey(sp, w.key))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		c, err := view.DecodeCell(v)
		if err != nil {
			return fmt.Errorf("%w: cell %q: %v", ErrCorrupt, w.key, err)
		}
		live := false
		for _, e := range c.Live {
			live = live || e.Version == w.ver
		}
		if !live {
			continue
		}
		for _, tag := range []byte{tagHistory, tagDead} {
			if other, err := a.supersededOther(ctx, spaceKey(tag, sp, w.key), voided); err != nil || other {
				return errOr(err, "a voided write superseded another that counts")
			}
		}
	}
	return nil
}

// unapply takes ws out of the view into bc: a live write leaves its cell
// (it superseded nothing, checkWrites), a superseded one its index row.
func (a *applier) unapply(bc *batch, st *spaceState, ws []removed) ([]Change, error) {
	sp := st.id
	type was struct {
		key []byte
		old view.Entry // the winner before
	}
	touched := map[*cellState]was{}
	for _, w := range ws {
		cs, err := a.cell(bc, st, w.key)
		if err != nil {
			return nil, err
		}
		i := -1
		for j := range cs.cell.Live {
			if cs.cell.Live[j].Version == w.ver {
				i = j
			}
		}
		if i < 0 { // superseded: out of the indexes
			if err := bc.b.Delete(historyKey(sp, w.key, w.ver), nil); err != nil {
				return nil, err
			}
			if err := bc.b.Delete(deadKey(sp, w.key, w.ver), nil); err != nil {
				return nil, err
			}
			continue
		}
		if _, ok := touched[cs]; !ok {
			old, _ := cs.cell.Winner()
			touched[cs] = was{key: w.key, old: old}
		}
		if i == 0 {
			if old := cs.cell.Live[0]; old.Visible() {
				st.view.Hash.Toggle(view.EntryDigest(w.key, &old))
				st.view.Visible--
			}
		}
		cs.cell.Live = append(cs.cell.Live[:i], cs.cell.Live[i+1:]...)
		if i == 0 && len(cs.cell.Live) > 0 {
			if nw := cs.cell.Live[0]; nw.Visible() {
				st.view.Hash.Toggle(view.EntryDigest(w.key, &nw))
				st.view.Visible++
			}
		}
		cs.dirty = true
	}
	var changes []Change
	for cs, w := range touched {
		switch {
		case len(cs.cell.Live) == 0:
			cs.dirty = false
			if err := bc.b.Delete(cs.key, nil); err != nil {
				return nil, err
			}
			if !w.old.Tombstone() {
				changes = append(changes, Change{Key: w.key, Entry: view.Entry{Kind: commit.KindDel}})
			}
		case cs.cell.Live[0].Version != w.old.Version:
			changes = append(changes, Change{Key: w.key, Entry: cs.cell.Live[0]})
		}
	}
	return changes, nil
}

// The kinds of commit for the fast path.
const (
	plain   = iota // neither revokes nor joins through an invite
	revokes        // revokes (a member, a device or a person), and otherwise writes, grants or certifies
	other          // joins through an invite
)

func kindsOf(c *commit.Commit) int {
	n := 0
	for i := range c.Ops {
		switch o := &c.Ops[i]; o.Kind {
		case commit.KindRevoke, commit.KindDevRevoke, commit.KindRevokePerson:
			n++
		case commit.KindGrant:
			if g, err := commit.DecodeGrant(*o); err != nil || !g.Invite.IsZero() {
				return other
			}
		}
	}
	if n > 0 {
		return revokes
	}
	return plain
}

// onlyWrites reports whether c holds only put, del and putblob ops.
func onlyWrites(c *commit.Commit) bool {
	for i := range c.Ops {
		if !c.Ops[i].Kind.IsData() {
			return false
		}
	}
	return true
}

func (a *applier) has(k []byte) (bool, error) {
	_, err := a.s.get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// supersededOther reports whether an index row of exactly the key of
// prefix (tagHistory or tagDead) names a write not in voided: then a
// voided write may have superseded a write that still counts. Superseded
// writes that are voided too leave with the others (unapply).
func (a *applier) supersededOther(ctx context.Context, prefix []byte, voided map[acl.Loc]error) (bool, error) {
	var e err0
	for k := range a.s.scan(ctx, prefix, false, &e) {
		if len(k) != len(prefix)+keys.Size+8+4 {
			continue // a longer key's row
		}
		au := keys.AuthorID(k[len(prefix) : len(prefix)+keys.Size])
		seq := binary.BigEndian.Uint64(k[len(prefix)+keys.Size:])
		if _, ok := voided[acl.Loc{Author: au, Seq: seq}]; !ok {
			return true, nil
		}
	}
	return false, e.err
}

// anyRow reports whether a row starts with prefix and, if tail > 0, has
// exactly tail bytes after it.
func (a *applier) anyRow(ctx context.Context, prefix []byte, tail int) (bool, error) {
	var e err0
	for k := range a.s.scan(ctx, prefix, false, &e) {
		if tail == 0 || len(k) == len(prefix)+tail {
			return true, nil
		}
	}
	return false, e.err
}

func errOr(err error, why string) error {
	if err != nil {
		return err
	}
	return slow(why)
}

func slow(why string) error { return fmt.Errorf("%w: %s", errSlow, why) }

func ignoreNotFound(err error) error {
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	return err
}
