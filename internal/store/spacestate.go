package store

import (
	"context"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/keys"
)

// spaceState caches what validation needs about one space.
type spaceState struct {
	id    keys.SpaceID
	heads map[keys.AuthorID]head
	// grounded holds the grants of every stored commit: what decides
	// whether a commit may be stored at all (revocations and invite uses
	// left aside, so it only grows). valid holds the grants of the commits
	// that count, invalid the stored commits that do not (forks aside),
	// and cuts the accepted revocation cuts: together the last
	// acl.Decision, kept up to date by the fast path of applyOne.
	grounded *acl.State
	valid    *acl.State
	// erasing holds the ops the stored erase ops name (erasetargets.go),
	// which valid asks.
	erasing map[acl.EraseTarget]bool
	invalid map[acl.Loc]bool
	cuts    map[keys.AuthorID]uint64
	// fastFrom[a] is a seq from which a's data-only commits count without
	// a check: a holds, in that commit's causal past, a valid write grant
	// for the whole space that never expires, and later commits of a have
	// it in their causal past too. Cleared whenever authorization is
	// decided again.
	fastFrom map[keys.AuthorID]uint64
	forked   map[keys.AuthorID]uint64 // author → lowest forked seq
	view     ViewState
	// nums numbers the space's authors, for the gains rows and the
	// knowledge vectors (tagAuthorNum: the first numbered rows are
	// stored); know holds K at the latest applied commit of some authors,
	// knowBytes their size (causal.go).
	nums        map[keys.AuthorID]uint32
	authors     []keys.AuthorID // by number
	numbered    int             // authors[:numbered] have their rows stored
	know        map[keys.AuthorID]*knowledge
	knowBytes   int
	knowChecked int // knowBytes when the budget was last checked
	// recent and older remember where recent main-chain commits are
	// (causal.go, remember).
	recent, older map[keys.CommitID]loc
	// headIDs holds where each author's latest main-chain commit is,
	// headOf its ID (causal.go, newHead).
	headIDs map[keys.CommitID]loc
	headOf  map[keys.AuthorID]keys.CommitID
	genesis bool
	// floor holds each author's seq in the frontier of the checkpoint
	// the space was installed from (floor.go); nil: full history.
	floor map[keys.AuthorID]uint64
	over  map[keys.AuthorID]*overCount // kept past each cut (overcut.go)
	// pieces counts the pieces a rebuild has committed (rebuild.go): from
	// the first, the database holds a half-rebuilt space whose view state
	// says so. Once one of them held the view's new cells (piecedCells),
	// the rebuild reads them back from the database, not the readers'
	// snapshot.
	pieces      int
	piecedCells bool
	pieceIt     *pebble.Iterator // pieceCell's, until the next piece

	// maxKey is the greatest key with a cell (stored or in the batch), once
	// maxLoaded; a write to a greater key needs no read: its cell cannot
	// exist. This makes appends in key order and fresh replicas fast.
	maxKey    []byte
	hasMax    bool
	maxLoaded bool
}

func newSpaceState(id keys.SpaceID) *spaceState {
	st := &spaceState{
		id:       id,
		heads:    map[keys.AuthorID]head{},
		grounded: acl.New(id),
		valid:    acl.New(id),
		erasing:  map[acl.EraseTarget]bool{},
		invalid:  map[acl.Loc]bool{},
		cuts:     map[keys.AuthorID]uint64{},
		fastFrom: map[keys.AuthorID]uint64{},
		forked:   map[keys.AuthorID]uint64{},
		nums:     map[keys.AuthorID]uint32{},
		know:     map[keys.AuthorID]*knowledge{},
		recent:   map[keys.CommitID]loc{},
		headIDs:  map[keys.CommitID]loc{},
		headOf:   map[keys.AuthorID]keys.CommitID{},
	}
	st.watchErasing()
	return st
}

// load returns the cached state of a space, reading it on first use.
func (a *applier) load(sp keys.SpaceID) (*spaceState, error) {
	if st, ok := a.spaces[sp]; ok {
		return st, nil
	}
	// A load may commit (a conversion, a rebuild) while a batch that
	// appended records is open: those records are the open batch's.
	a.nested++
	defer func() { a.nested-- }()
	ctx := context.Background()
	vs, err := a.s.View(ctx, sp)
	if err != nil {
		return nil, err
	}
	st := newSpaceState(sp)
	st.view = vs
	if err := a.s.loadNumbers(ctx, st); err != nil {
		return nil, err
	}
	if err := a.s.loadErasing(ctx, st); err != nil {
		return nil, err
	}
	if err := a.convertVVs(st); err != nil {
		return nil, err
	}
	if err := a.convertPasts(st); err != nil {
		return nil, err
	}
	heads, err := a.s.Heads(ctx, sp)
	if err != nil {
		return nil, err
	}
	for _, h := range heads {
		st.heads[h.Author] = head{Seq: h.Seq, ID: h.ID, Wall: h.Time.Wall, Lgc: h.Time.Logical}
		st.newHead(h.ID, loc{h.Author, h.Seq})
	}
	_, st.genesis = st.heads[keys.AuthorID(sp)]
	fl, err := a.s.Floor(ctx, sp)
	if err != nil {
		return nil, err
	}
	if fl != nil {
		st.floor = fl.floorSeqs()
	}
	grants, err := a.s.Grants(ctx, sp)
	if err != nil {
		return nil, err
	}
	if st.invalid, st.cuts, err = a.s.decisions(ctx, sp); err != nil {
		return nil, err
	}
	var e err0
	for k := range a.s.scan(ctx, spaceKey(tagFork, sp), false, &e) {
		au, seq, err := decodeForkKey(k)
		if err != nil {
			return nil, err
		}
		if cur, ok := st.forked[au]; !ok || seq < cur {
			st.forked[au] = seq
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	for _, g := range grants {
		st.grounded.Add(g)
		if st.counts(g.Granter, g.Seq) {
			st.valid.Add(g)
		}
	}
	schemas, err := a.s.Schemas(ctx, sp)
	if err != nil {
		return nil, err
	}
	for _, sc := range schemas {
		if st.counts(sc.Granter, sc.Seq) {
			st.valid.AddSchema(sc)
		}
	}
	if err := a.s.loadOnce(ctx, sp, st.valid, schemas, func(l acl.Loc) bool { return st.counts(l.Author, l.Seq) }); err != nil {
		return nil, err
	}
	a.spaces[sp] = st
	// A crash came between storing and deciding again, or between two
	// pieces of a rebuilt view (rebuild.go, commitPiece: the view state
	// of a half-rebuilt view says rebuild).
	if vs.rebuild || vs.redecide {
		if _, _, err := a.rebuild(sp, vs.rebuild, nil); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// counts reports whether the stored commit (author, seq) counts.
func (st *spaceState) counts(author keys.AuthorID, seq uint64) bool {
	if fs, ok := st.forked[author]; ok && seq >= fs {
		return false
	}
	return !st.invalid[acl.Loc{Author: author, Seq: seq}]
}
