package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Causality without a version vector per commit (docs/design.md, "Causality
// without vectors per commit (#16)").
//
// The knowledge of a commit x, K(x), is for each other author the highest
// seq in x's causal past. A main-chain commit c of author a stores only
// what it added to its author's knowledge: its gains, the authors whose
// entry rose above K(prev), with their new seqs (a pastKey row, none if
// nothing rose). A commit without deps gains nothing. So K(a, s) is the
// fold of a's gains up to s, and the gains of c are found from its deps
// alone: a dep d = (b, sd) with K(prev)[b] = kb < sd brings (b, sd) and
// the gains of b's commits kb+1..sd, those not already known (K(b, kb) is
// in K(prev) since (b, kb) is in prev's past). The work per commit is its
// deps and the new knowledge they bring, not the number of authors.
//
// The applier keeps K at the latest applied commit of each author in
// memory (knowledge, dense by the space's author numbers), within a byte
// budget; an author's vector missing or at another seq is folded again
// from its rows.

// gain is one entry of a commit's gains: the author numbered num in its
// space (spaceState.number) rose to seq.
type gain struct {
	num uint32
	seq uint64
}

// knowBudget bounds the bytes of the knowledge vectors the applier keeps,
// over all spaces. A vector takes 8 bytes per author of its space.
var knowBudget = 64 << 20

// knowledge is K(author, seq): by author number (spaceState.nums), the
// highest seq seen, 0 for none. An author's own entry is not kept.
//
// tail holds the gains of the author's latest commits, up to seq: tail[i]
// those of seq+1-len(tail)+i. A later commit's dep on one of them folds
// its gains from memory instead of from the rows (gainsOf): in a chat,
// deps name commits a few seqs behind their author's latest.
type knowledge struct {
	seq       uint64
	vec       []uint64
	tail      [][]gain
	tailBytes int // the gains the tail holds (its slice headers: cap(tail))
}

// tailLen bounds a knowledge's tail, in commits.
const tailLen = 32

func (k *knowledge) size() int { return 72 + 8*cap(k.vec) + 24*cap(k.tail) + k.tailBytes }

// tailGains returns the gains of the author's commit seq when the tail
// holds them.
func (k *knowledge) tailGains(seq uint64) ([]gain, bool) {
	if seq > k.seq || k.seq-seq >= uint64(len(k.tail)) {
		return nil, false
	}
	return k.tail[uint64(len(k.tail))-1-(k.seq-seq)], true
}

// push appends the gains of the author's commit k.seq+1 to the tail,
// dropping the oldest past tailLen, and returns the change of k's size.
func (k *knowledge) push(gs []gain) int {
	before := k.size()
	if len(k.tail) == tailLen {
		k.tailBytes -= 16 * cap(k.tail[0])
		k.tail[0] = nil
		k.tail = k.tail[1:]
	}
	if cap(k.tail) == len(k.tail) { // grown, or the front slid to the end
		// Room for tailLen more: slid one a push, a full tail moves once
		// every tailLen commits, not at each.
		k.tail = append(make([][]gain, 0, 2*tailLen), k.tail...)
	}
	k.tail = append(k.tail, gs)
	k.tailBytes += 16 * cap(gs)
	return k.size() - before
}

// past answers "is (author, seq) in the causal past of c" for one commit c
// being applied: its author's knowledge before it and its gains.
type past struct {
	st     *spaceState
	author keys.AuthorID
	seq    uint64
	base   []uint64 // K(prev), read-only
	gains  []gain   // sorted by author
}

// saw reports whether (au, seq) is c or in its causal past.
func (p *past) saw(au keys.AuthorID, seq uint64) bool {
	if au == p.author {
		return seq <= p.seq
	}
	i, ok := p.st.nums[au]
	if !ok {
		return false
	}
	for _, g := range p.gains {
		if g.num >= i {
			if g.num == i && g.seq >= seq {
				return true
			}
			break
		}
	}
	return int(i) < len(p.base) && p.base[i] >= seq
}

// number returns au's number in the space, giving it the next if new. A
// new number is written with the next batch the applier commits
// (commitBatch, writeNumbers), so that it is durable with the first row
// that holds it.
func (st *spaceState) number(au keys.AuthorID) uint32 {
	i, ok := st.nums[au]
	if !ok {
		i = uint32(len(st.authors))
		st.nums[au] = i
		st.authors = append(st.authors, au)
	}
	return i
}

// raise folds gains into k.
func (st *spaceState) raise(k *knowledge, gs []gain) {
	for _, g := range gs {
		i := int(g.num)
		if i >= len(k.vec) {
			before := k.size()
			k.vec = append(k.vec, make([]uint64, i+1-len(k.vec))...)
			st.knowBytes += k.size() - before
		}
		k.vec[i] = max(k.vec[i], g.seq)
	}
}

// vecPerCommit is how many entries of a dep's knowledge vector pastOf
// would rather scan than read the gains of one of its new commits (a
// Pebble seek at first, then about ten gains).
const vecPerCommit = 64

// pastOf computes c's gains from its deps, c being the next commit of its
// author's main chain (stored or about to be).
func (a *applier) pastOf(bc *batch, st *spaceState, c *commit.Commit) (*past, error) {
	k, err := a.knownAt(bc, st, c.Author, c.Seq-1)
	if err != nil {
		return nil, err
	}
	p := &past{st: st, author: c.Author, seq: c.Seq, base: k.vec}
	if len(c.Deps) == 0 {
		return p, nil
	}
	// What the deps bring, by author number, in a.scratch (all 0 between
	// uses: the entries touched are cleared before returning).
	sc := a.scratch
	var touched []uint32
	defer func() {
		for _, i := range touched {
			sc[i] = 0
		}
		a.scratch = sc
	}()
	has := func(i uint32) uint64 {
		var v uint64
		if int(i) < len(sc) {
			v = sc[i]
		}
		if int(i) < len(k.vec) {
			v = max(v, k.vec[i])
		}
		return v
	}
	set := func(i uint32, seq uint64) {
		if int(i) >= len(sc) {
			sc = append(sc, make([]uint64, int(i)+1-len(sc))...)
		}
		if sc[i] == 0 {
			touched = append(touched, i)
		}
		sc[i] = seq
	}
	self := st.number(c.Author)
	for _, d := range c.Deps {
		l, ok, err := a.locateDep(bc, st, d)
		if err != nil {
			return nil, err
		}
		if !ok || l.author == c.Author {
			continue // not held, or c's own past
		}
		// An off-chain dep (fork evidence, a forked author's other
		// branch) counts as its author's commit before the fork (see
		// Forks).
		if l, ok, err = a.standIn(bc, st, d, l); err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		b := st.number(l.author)
		kb := has(b)
		if l.seq <= kb {
			continue
		}
		set(b, l.seq)
		if kv := st.know[l.author]; kv != nil && kv.seq == l.seq && uint64(len(kv.vec)) <= vecPerCommit*(l.seq-kb) {
			// K(d) is in memory, and shorter than d's new commits' rows.
			for i, v := range kv.vec {
				if i := uint32(i); i != self && v > has(i) {
					set(i, v)
				}
			}
			continue
		}
		err = a.gainsOf(bc, st, l.author, kb+1, l.seq, func(g gain) {
			if g.num != self && g.seq > has(g.num) {
				set(g.num, g.seq)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	p.gains = make([]gain, 0, len(touched))
	for _, i := range touched {
		p.gains = append(p.gains, gain{num: i, seq: sc[i]})
	}
	slices.SortFunc(p.gains, compareGains)
	return p, nil
}

// standIn returns the place dep id, at l, counts as in the causal past of
// a commit naming it: l for a main-chain commit; for a forked author's
// commit off its main chain (fork evidence, the other branch), its
// author's commit before its fork seq, which every branch continues from,
// as acl.EvaluateForked counts it (ok false: forked at seq 1, none). Off
// the main chain, a commit is at or above its author's fork seq.
func (a *applier) standIn(bc *batch, st *spaceState, id keys.CommitID, l loc) (loc, bool, error) {
	fs, forked := st.forked[l.author]
	if !forked || l.seq < fs {
		return l, true, nil
	}
	if l.seq <= st.heads[l.author].Seq {
		main, err := a.idAt(bc, st.id, l.author, l.seq)
		if errors.Is(err, ErrBelowFloor) || (err == nil && main == id) {
			return l, true, nil
		}
		if err != nil {
			return loc{}, false, err
		}
	}
	if fs == 1 {
		return loc{}, false, nil
	}
	return loc{l.author, fs - 1}, true, nil
}

// compareGains orders gains by author number, as their rows hold them.
func compareGains(x, y gain) int { return cmp.Compare(x.num, y.num) }

// stored records c's gains (p, computed if nil) once c is stored on its
// author's main chain, moves its author's knowledge to c and returns p.
func (a *applier) stored(bc *batch, st *spaceState, c *commit.Commit, p *past) (*past, error) {
	if p == nil {
		var err error
		if p, err = a.pastOf(bc, st, c); err != nil {
			return nil, err
		}
	}
	st.remember(c.ID, loc{c.Author, c.Seq}, a.recentLimit())
	st.newHead(c.ID, loc{c.Author, c.Seq})
	from := authorSeq{st.id, c.Author, 0}
	if _, ok := bc.from[from]; !ok {
		bc.from[from] = c.Seq
	}
	if p != nil && len(p.gains) > 0 {
		if err := bc.b.Set(gainsKey(st.id, st.number(c.Author), c.Seq), appendGains(nil, p.gains), nil); err != nil {
			return nil, err
		}
		bc.pasts[authorSeq{st.id, c.Author, c.Seq}] = p.gains
	}
	st.advance(c, p)
	a.checkBudget(st, c.Author)
	return p, nil
}

// checkBudget evicts knowledge vectors once st's have grown by a MiB
// since the last check: vectors grow as authors are numbered, not only
// when one is made.
func (a *applier) checkBudget(st *spaceState, keep keys.AuthorID) {
	if st.knowBytes-st.knowChecked > 1<<20 {
		a.evict(st, keep)
	}
}

// recentIDs bounds the main-chain commits whose place a space's state
// remembers (twice that at most: two generations), so that the deps of a
// new commit, mostly recent commits, are found without a read; recentAll
// bounds them over all the spaces loaded (a place costs about 100 bytes:
// some 25 MiB in all), so that a node holding many spaces gives each
// fewer, down to minRecentIDs.
const (
	recentIDs    = 1 << 14
	recentAll    = 1 << 18
	minRecentIDs = 1 << 10
)

// recentLimit is a space's generation of remembered places now.
func (a *applier) recentLimit() int {
	return max(minRecentIDs, min(recentIDs, recentAll/(2*max(1, len(a.spaces)))))
}

// remember notes the place of a main-chain commit just stored or looked
// up, keeping at most limit in a generation (recentLimit).
func (st *spaceState) remember(id keys.CommitID, l loc, limit int) {
	if len(st.recent) >= limit {
		st.recent, st.older = make(map[keys.CommitID]loc, limit), st.recent
	}
	st.recent[id] = l
}

// newHead notes the place of author's latest main-chain commit: a dep is
// most often one (an author who comes back after a while depends on
// every author's latest commit).
func (st *spaceState) newHead(id keys.CommitID, l loc) {
	if old, ok := st.headOf[l.author]; ok {
		delete(st.headIDs, old)
	}
	st.headOf[l.author], st.headIDs[id] = id, l
}

// locateDep is locate for a dep, looking in the heads and the recent
// commits first.
func (a *applier) locateDep(bc *batch, st *spaceState, id keys.CommitID) (loc, bool, error) {
	if l, ok := st.headIDs[id]; ok {
		return l, true, nil
	}
	if l, ok := st.recent[id]; ok {
		return l, true, nil
	}
	if l, ok := st.older[id]; ok {
		return l, true, nil
	}
	l, ok, err := a.locate(bc, st.id, id)
	if ok && err == nil {
		st.remember(id, l, a.recentLimit()) // a commit's place never changes
	}
	return l, ok, err
}

// advance moves c's author's knowledge from c's prev to c (rebuild replays
// commits already stored through it too).
func (st *spaceState) advance(c *commit.Commit, p *past) {
	k := st.know[c.Author]
	if k == nil || k.seq != c.Seq-1 {
		return // folded again from the rows when needed
	}
	var gs []gain
	if p != nil {
		st.raise(k, p.gains)
		gs = p.gains
	}
	st.knowBytes += k.push(gs)
	k.seq = c.Seq
}

// knownAt returns K(au, seq), from memory or folded from au's rows (those
// stored and those of this batch), and keeps it as au's knowledge.
func (a *applier) knownAt(bc *batch, st *spaceState, au keys.AuthorID, seq uint64) (*knowledge, error) {
	k := st.know[au]
	if k != nil && k.seq == seq {
		return k, nil
	}
	if k == nil || k.seq > seq {
		if k != nil {
			st.knowBytes -= k.size()
		}
		k = &knowledge{}
		st.know[au] = k
		st.knowBytes += k.size()
		a.evict(st, au)
	}
	if seq > k.seq {
		if err := a.gainsOf(bc, st, au, k.seq+1, seq, func(g gain) { st.raise(k, []gain{g}) }); err != nil {
			delete(st.know, au)
			st.knowBytes -= k.size()
			return nil, err
		}
		before := k.size() // the tail must end at k.seq
		k.tail, k.tailBytes = nil, 0
		st.knowBytes += k.size() - before
	}
	k.seq = seq
	return k, nil
}

// evict drops knowledge vectors, keep's of st aside, when the applier
// holds more than knowBudget of them, down to 3/4 of it. Which go is left
// to map order.
func (a *applier) evict(st *spaceState, keep keys.AuthorID) {
	total := 0
	for _, s := range a.spaces {
		total += s.knowBytes
	}
	if _, cached := a.spaces[st.id]; !cached {
		total += st.knowBytes
	}
	st.knowChecked = st.knowBytes
	if total <= knowBudget {
		return
	}
	for _, s := range append([]*spaceState{st}, mapValues(a.spaces)...) {
		for au, k := range s.know {
			if total <= knowBudget*3/4 {
				return
			}
			if s == st && au == keep {
				continue
			}
			delete(s.know, au)
			s.knowBytes -= k.size()
			s.knowChecked = min(s.knowChecked, s.knowBytes)
			total -= k.size()
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// gainsOf calls fn with the gains of au's commits from seq lo to hi, from
// the stored rows and this batch's.
func (a *applier) gainsOf(bc *batch, st *spaceState, au keys.AuthorID, lo, hi uint64, fn func(gain)) error {
	if k := st.know[au]; k != nil && lo <= hi {
		if _, ok := k.tailGains(lo); ok && hi <= k.seq {
			for s := lo; s <= hi; s++ {
				gs, _ := k.tailGains(s)
				for _, g := range gs {
					fn(g)
				}
			}
			return nil
		}
	}
	stop := hi // the last seq whose row is stored, not in this batch
	if f, ok := bc.from[authorSeq{st.id, au, 0}]; ok && f <= hi {
		stop = f - 1
	}
	// An author without a number has no gains row stored: every row
	// names its author by number.
	if num, ok := st.nums[au]; ok && lo <= stop {
		it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: gainsKey(st.id, num, lo), UpperBound: gainsKey(st.id, num, stop+1)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			if err := eachGain(it.Value(), len(st.authors), fn); err != nil {
				it.Close()
				return fmt.Errorf("%w: gains of %s: %v", ErrCorrupt, au, err)
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	for s := max(lo, stop+1); s <= hi; s++ {
		for _, g := range bc.pasts[authorSeq{st.id, au, s}] {
			fn(g)
		}
	}
	return nil
}

// appendGains encodes gains sorted by author number: uvarint(n), then per
// gain uvarint of its number (the first) or of its distance to the
// previous number less one (the others), and uvarint seq. A commit's
// dozen gains take some 40 bytes instead of 400 with authors by ID.
func appendGains(dst []byte, gs []gain) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(gs)))
	for i, g := range gs {
		d := uint64(g.num)
		if i > 0 {
			d -= uint64(gs[i-1].num) + 1
		}
		dst = binary.AppendUvarint(dst, d)
		dst = binary.AppendUvarint(dst, g.seq)
	}
	return dst
}

// decodeGains parses appendGains's encoding strictly (eachGain).
func decodeGains(b []byte, authors int) ([]gain, error) {
	var gs []gain
	err := eachGain(b, authors, func(g gain) { gs = append(gs, g) })
	return gs, err
}

// eachGain calls fn with each gain of b as it decodes it, and returns the
// first error: fn may have been called before it. Numbers must increase
// and be below authors (the space's numbered authors), seqs above 0,
// varints minimal, nothing after.
func eachGain(b []byte, authors int, fn func(gain)) error {
	n, k := minUvarint(b)
	if k <= 0 || n > uint64(len(b))/2 {
		return fmt.Errorf("bad gains length")
	}
	b = b[k:]
	var next uint64 // the least number the next gain may have
	for range n {
		d, k := minUvarint(b)
		if k <= 0 || d >= uint64(authors) {
			return fmt.Errorf("bad gain author number")
		}
		num := next + d
		if num >= uint64(authors) {
			return fmt.Errorf("gain author number %d past the %d numbered", num, authors)
		}
		b = b[k:]
		s, k := minUvarint(b)
		if k <= 0 || s == 0 {
			return fmt.Errorf("bad gain seq")
		}
		b = b[k:]
		fn(gain{num: uint32(num), seq: s})
		next = num + 1
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the gains", len(b))
	}
	return nil
}

// oldGain is a gain as rows written before session 11 held it: its
// author by ID (tag 0x15, pastKey).
type oldGain struct {
	author keys.AuthorID
	seq    uint64
}

// eachOldGain decodes an old gains row strictly: uvarint(n), then per
// gain author (32), uvarint seq, authors in increasing order, seqs above
// 0, nothing after.
func eachOldGain(b []byte, fn func(oldGain)) error {
	n, k := minUvarint(b)
	if k <= 0 || n > uint64(len(b))/(keys.Size+1) {
		return fmt.Errorf("bad gains length")
	}
	b = b[k:]
	var prev oldGain
	for i := range n {
		if len(b) < keys.Size {
			return fmt.Errorf("gains truncated")
		}
		var g oldGain
		copy(g.author[:], b)
		b = b[keys.Size:]
		if i > 0 && bytes.Compare(prev.author[:], g.author[:]) >= 0 {
			return fmt.Errorf("gains out of order")
		}
		s, k := minUvarint(b)
		if k <= 0 || s == 0 {
			return fmt.Errorf("bad gain seq")
		}
		g.seq, b = s, b[k:]
		fn(g)
		prev = g
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the gains", len(b))
	}
	return nil
}

// minUvarint is binary.Uvarint refusing encodings longer than needed.
func minUvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k > 0 && k != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, k
}

// convertVVs replaces the version vectors of space sp written before #16
// (tagVV rows: the whole vector of each commit with deps) by the commits'
// gains, durably, reading each author's vectors in seq order: a commit's
// gains are the entries of its vector above its author's previous one.
func (a *applier) convertVVs(st *spaceState) error {
	lower := spaceKey(tagVV, st.id)
	var au keys.AuthorID
	prev := view.VV{}
	return a.convertRows(st, lower, func(b *pebble.Batch, k, v []byte) error {
		if len(k) != len(lower)+keys.Size+8 {
			return fmt.Errorf("%w: version vector key %x", ErrCorrupt, k)
		}
		seq := binary.BigEndian.Uint64(k[len(lower)+keys.Size:])
		if next := keys.AuthorID(k[len(lower):]); next != au {
			// A load that goes on after a cut between pieces may start
			// amid an author's rows: its vector before seq is the fold of
			// its rows converted already (none, for an author not begun).
			au = next
			var err error
			if prev, err = a.convertedVV(st, au, seq); err != nil {
				return err
			}
		}
		vv, err := view.DecodeVV(bytes.Clone(v))
		if err != nil {
			return fmt.Errorf("%w: version vector of %s seq %d: %v", ErrCorrupt, au, seq, err)
		}
		var gs []gain
		for y, s := range vv {
			if y != au && s > prev[y] {
				gs = append(gs, gain{num: st.number(y), seq: s})
			}
		}
		prev = vv
		if len(gs) == 0 {
			return nil
		}
		slices.SortFunc(gs, compareGains)
		return b.Set(gainsKey(st.id, st.number(au), seq), appendGains(nil, gs), nil)
	})
}

// convertedVV folds the gains rows of au's commits before seq that
// convertVVs wrote already: au's version vector at its commit before seq.
func (a *applier) convertedVV(st *spaceState, au keys.AuthorID, seq uint64) (view.VV, error) {
	vv := view.VV{}
	num, ok := st.nums[au]
	if !ok {
		return vv, nil // not numbered: none of its rows converted
	}
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: gainsKey(st.id, num, 0), UpperBound: gainsKey(st.id, num, seq)})
	if err != nil {
		return nil, err
	}
	for it.First(); it.Valid(); it.Next() {
		gs, err := decodeGains(it.Value(), len(st.authors))
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("%w: gains row %x: %v", ErrCorrupt, it.Key(), err)
		}
		for _, g := range gs {
			if y := st.authors[g.num]; g.seq > vv[y] {
				vv[y] = g.seq
			}
		}
	}
	return vv, errors.Join(it.Error(), it.Close())
}

// convertPasts replaces the gains rows of space sp written before session
// 11, which named each author by its ID (tag 0x15), by rows naming them
// by number (tagGains), durably.
func (a *applier) convertPasts(st *spaceState) error {
	lower := spaceKey(tagPast, st.id)
	return a.convertRows(st, lower, func(b *pebble.Batch, k, v []byte) error {
		if len(k) != len(lower)+keys.Size+8 {
			return fmt.Errorf("%w: gains key %x", ErrCorrupt, k)
		}
		au := keys.AuthorID(k[len(lower):])
		seq := binary.BigEndian.Uint64(k[len(lower)+keys.Size:])
		var gs []gain
		err := eachOldGain(v, func(g oldGain) { gs = append(gs, gain{num: st.number(g.author), seq: g.seq}) })
		if err != nil {
			return fmt.Errorf("%w: gains of %s seq %d: %v", ErrCorrupt, au, seq, err)
		}
		slices.SortFunc(gs, compareGains)
		return b.Set(gainsKey(st.id, st.number(au), seq), appendGains(nil, gs), nil)
	})
}

// convertRowsPiece is how many old rows a conversion rewrites in one
// batch: a space of a million commits converts in pieces of a few MiB.
var convertRowsPiece = 1 << 14

// convertRows rewrites every row under the prefix lower by fn, in pieces:
// each piece's new rows, the author numbers they use and the removal of
// the old rows converted are one batch, so that a crash between pieces
// leaves rows of both kinds, each row in one, and the next load goes on.
func (a *applier) convertRows(st *spaceState, lower []byte, fn func(b *pebble.Batch, k, v []byte) error) error {
	upper := prefixEnd(lower)
	for {
		it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return err
		}
		b := a.s.db.NewBatch()
		n := 0
		var last []byte
		for it.First(); it.Valid() && n < convertRowsPiece; it.Next() {
			if err = fn(b, it.Key(), it.Value()); err != nil {
				break
			}
			last = append(last[:0], it.Key()...)
			n++
		}
		more := it.Valid()
		if err == nil {
			err = it.Error()
		}
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err == nil && n > 0 {
			end := upper
			if more {
				end = append(last, 0) // the next key after last
			}
			if err = b.DeleteRange(lower, end, nil); err == nil {
				err = a.commitNumbered(b, st)
			}
		}
		b.Close()
		if err != nil || !more {
			return err
		}
	}
}

// writeNumbers adds to b the rows of st's authors numbered since its
// numbers were last written, and returns how many st has numbered.
func writeNumbers(b *pebble.Batch, st *spaceState) (int, error) {
	for i := st.numbered; i < len(st.authors); i++ {
		if err := b.Set(authorNumKey(st.id, uint32(i)), st.authors[i][:], nil); err != nil {
			return 0, err
		}
	}
	return len(st.authors), nil
}

// commitNumbered commits b with the rows of st's new author numbers, for
// a space state the applier does not cache (yet): commitBatch writes
// those of the states it caches.
func (a *applier) commitNumbered(b *pebble.Batch, st *spaceState) error {
	n, err := writeNumbers(b, st)
	if err != nil {
		return err
	}
	if err := a.commitBatch(b, nil); err != nil {
		return err
	}
	st.numbered = n
	return nil
}

// loadNumbers reads the numbers of st's authors (tagAuthorNum): 0, 1, 2
// ... each an author once.
func (s *Store) loadNumbers(ctx context.Context, st *spaceState) error {
	var e err0
	p := spaceKey(tagAuthorNum, st.id)
	for k, v := range s.scan(ctx, p, false, &e) {
		if len(k) != len(p)+4 || len(v) != keys.Size || binary.BigEndian.Uint32(k[len(p):]) != uint32(len(st.authors)) {
			return fmt.Errorf("%w: author number row %x", ErrCorrupt, k)
		}
		au := keys.AuthorID(v)
		if _, dup := st.nums[au]; dup {
			return fmt.Errorf("%w: author %s numbered twice", ErrCorrupt, au.Short())
		}
		st.number(au)
	}
	st.numbered = len(st.authors)
	return e.err
}
