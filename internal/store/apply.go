package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Status is what happened to one commit given to Apply.
type Status uint8

// Statuses of applied commits.
const (
	// Applied: stored, and its ops are in the view.
	Applied Status = iota + 1
	// Duplicate: this exact commit was already stored; nothing changed.
	// Err wraps ErrRevoked if it is held but does not count.
	Duplicate
	// Pending: not stored, because part of its causal past (its author's
	// previous commit, a dep, the genesis) is missing, or its time is in
	// the future. Give it again later.
	Pending
	// Forked: stored as fork evidence or on a forked branch; it does not
	// count in the view.
	Forked
	// Rejected: invalid; nothing was stored. Its sender broke the rules
	// (a bad chain or clock, or an author without any grant for it).
	Rejected
	// Revoked: stored, but it does not count, and it is not sent to peers
	// (though answered when asked for by ID, as the dep of another
	// commit): its author was revoked below its seq, its invite was used
	// up, or a grant it relied on fell. Its sender is not misbehaving: it
	// may not have known. Err wraps ErrRevoked. A later commit (an earlier
	// revocation of the revoker) can make it count again.
	Revoked
)

func (s Status) String() string {
	return [...]string{"unknown", "applied", "duplicate", "pending", "forked", "rejected", "revoked"}[min(int(s), 6)]
}

// ErrPending wraps the reason a commit is Pending.
var ErrPending = errors.New("commit waits for its causal past")

// ErrFuture is wrapped by the error of a commit held back because its time
// is more than MaxFuture ahead of the local clock: offer it again once
// that is no longer so.
var ErrFuture = errors.New("commit dated in the future")

// MaxFuture is how far ahead of the local clock a commit's time may be
// before it is held back as Pending.
const MaxFuture = 10 * time.Minute

// Outcome is the result for one commit.
type Outcome struct {
	Status Status
	Err    error // why, for Pending and Rejected
}

// Change is a change of a key's visible state caused by an Apply.
type Change struct {
	Key   []byte
	Entry view.Entry // the new winner; Entry.Tombstone() when deleted
}

// Result is the answer to one Apply.
type Result struct {
	Outcomes []Outcome        // one per commit, in the order given
	Changes  []Change         // visible changes, in the order applied
	Stored   []*commit.Commit // commits newly stored (Applied, Forked or Revoked), in the order stored
	Forks    []commit.Fork    // fork evidence newly found
	// Voided lists the commits of Stored that do not count (their
	// Outcome is Revoked).
	Voided []keys.CommitID
	// Redecided: the space's authorization was decided again after this
	// request (a revocation, a join through an invite or a fork), so
	// commits held before may have stopped or started counting.
	Redecided bool
}

type request struct {
	space   keys.SpaceID
	commits []*commit.Commit
	create  *SpaceInfo // CreateSpace: the space to create with commits[0] as genesis
	forget  bool       // Forget (forget.go): applied alone, outside any group
	reply   chan reply // buffered, 1
}

type reply struct {
	res Result
	err error
}

// Ticket is a submitted request; Wait returns its result.
type Ticket struct {
	s *Store
	r *request
}

// Submit queues commits for the applier and returns at once. Requests are
// applied in the order they were submitted. The caller must have checked
// each commit's signature (commit.Verify); the store checks everything that
// needs state: chain, seq, forks, deps, authorization.
func (s *Store) Submit(sp keys.SpaceID, cs []*commit.Commit) Ticket {
	return s.submit(&request{space: sp, commits: cs, reply: make(chan reply, 1)})
}

func (s *Store) submit(r *request) Ticket {
	select {
	case s.reqs <- r:
	case <-s.quit:
		r.reply <- reply{err: ErrClosed}
	}
	return Ticket{s, r}
}

// Wait blocks until the commits are durable (or rejected). If ctx ends
// first, Wait returns ctx's error and the commits may still be applied.
func (t Ticket) Wait(ctx context.Context) (Result, error) {
	select {
	case rp := <-t.r.reply:
		return rp.res, rp.err
	case <-t.s.done:
		select {
		case rp := <-t.r.reply:
			return rp.res, rp.err
		default:
			return Result{}, ErrClosed
		}
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Apply stores commits durably and updates the view: Submit then Wait.
func (s *Store) Apply(ctx context.Context, sp keys.SpaceID, cs []*commit.Commit) (Result, error) {
	return s.Submit(sp, cs).Wait(ctx)
}

// CreateSpace stores a new space under a local name with its genesis
// commit, which must be signed by the space key and grant admin to someone.
func (s *Store) CreateSpace(ctx context.Context, name string, genesis *commit.Commit) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("store: space name must be 1..128 bytes")
	}
	info := &SpaceInfo{ID: genesis.Space, Name: name, Created: time.Now().UTC().Truncate(time.Second)}
	res, err := s.submit(&request{space: genesis.Space, commits: []*commit.Commit{genesis}, create: info, reply: make(chan reply, 1)}).Wait(ctx)
	if err != nil {
		return err
	}
	if o := res.Outcomes[0]; o.Status != Applied {
		return fmt.Errorf("store: create space: genesis %s: %w", o.Status, o.Err)
	}
	return nil
}

// AddSpace stores a space known from elsewhere (joined) under a local name,
// without commits yet: its genesis arrives by sync.
func (s *Store) AddSpace(ctx context.Context, name string, id keys.SpaceID) error {
	info := &SpaceInfo{ID: id, Name: name, Created: time.Now().UTC().Truncate(time.Second)}
	_, err := s.submit(&request{space: id, create: info, reply: make(chan reply, 1)}).Wait(ctx)
	return err
}

const (
	maxGroupRequests = 1024
	maxGroupOps      = 64 << 10
)

// applier is the single goroutine that writes. It owns applyState.
func (s *Store) applier() {
	defer close(s.done)
	a := &applier{s: s, spaces: map[keys.SpaceID]*spaceState{}}
	for {
		var first *request
		select {
		case <-s.quit:
			for {
				select {
				case r := <-s.reqs:
					r.reply <- reply{err: ErrClosed}
				default:
					return
				}
			}
		case first = <-s.reqs:
		}
		if first.forget {
			a.forget(first)
			continue
		}
		group := []*request{first}
		ops := len(first.commits)
		var forget *request // ends the group
	gather:
		for len(group) < maxGroupRequests && ops < maxGroupOps {
			select {
			case r := <-s.reqs:
				if r.forget {
					forget = r
					break gather
				}
				group = append(group, r)
				ops += len(r.commits)
			default:
				break gather
			}
		}
		a.run(group)
		if forget != nil {
			a.forget(forget)
		}
	}
}

// applier holds the applier goroutine's caches. Only that goroutine uses it.
type applier struct {
	s      *Store
	spaces map[keys.SpaceID]*spaceState
}

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
	invalid  map[acl.Loc]bool
	cuts     map[keys.AuthorID]uint64
	// fastFrom[a] is a seq from which a's data-only commits count without
	// a check: a holds, in that commit's causal past, a valid write grant
	// for the whole space that never expires, and later commits of a have
	// it in their causal past too. Cleared whenever authorization is
	// decided again.
	fastFrom map[keys.AuthorID]uint64
	forked   map[keys.AuthorID]uint64 // author → lowest forked seq
	view     ViewState
	lastVV   map[keys.AuthorID]vvAt // latest stored VV per author, when known
	genesis  bool

	// maxKey is the greatest key with a cell (stored or in the batch), once
	// maxLoaded; a write to a greater key needs no read: its cell cannot
	// exist. This makes appends in key order and fresh replicas fast.
	maxKey    []byte
	hasMax    bool
	maxLoaded bool
}

type vvAt struct {
	seq uint64
	vv  view.VV
}

// batch is the work of one group commit.
type batch struct {
	b       *pebble.Batch
	cells   map[string]*cellState
	ids     map[keys.CommitID]loc // commits stored in this batch
	atSeq   map[authorSeq]keys.CommitID
	byLoc   map[authorSeq]*commit.Commit // main-chain commits stored in this batch
	vvs     map[authorSeq]view.VV
	offIDs  map[keys.CommitID]loc
	names   map[string]bool
	dirty   map[keys.SpaceID]*spaceState
	rebuild map[keys.SpaceID]bool // decide authorization again, after the commit
	forced  map[keys.SpaceID]bool // and rebuild the view even if no decision changed (a fork)
	fresh   map[keys.SpaceID]bool // cells of this space are all new (rebuild)
	kbuf    []byte                // scratch for cell keys
	slab    []cellState           // preallocated cell states
	changes []Change              // of the request being processed
	stored  []*commit.Commit      // of the request being processed
	forks   []commit.Fork         // of the request being processed
}

type loc struct {
	author keys.AuthorID
	seq    uint64
}

type authorSeq struct {
	sp     keys.SpaceID
	author keys.AuthorID
	seq    uint64
}

type cellState struct {
	key   []byte
	cell  view.Cell
	dirty bool
	one   [1]view.Entry // backs cell.Live for a new key, saving an allocation
}

func (a *applier) newBatch() *batch { return a.newBatchSized(0) }

func (a *applier) newBatchSized(size int) *batch {
	return &batch{
		b:       a.s.db.NewBatchWithSize(size),
		cells:   map[string]*cellState{},
		ids:     map[keys.CommitID]loc{},
		atSeq:   map[authorSeq]keys.CommitID{},
		byLoc:   map[authorSeq]*commit.Commit{},
		vvs:     map[authorSeq]view.VV{},
		offIDs:  map[keys.CommitID]loc{},
		names:   map[string]bool{},
		dirty:   map[keys.SpaceID]*spaceState{},
		rebuild: map[keys.SpaceID]bool{},
		forced:  map[keys.SpaceID]bool{},
		fresh:   map[keys.SpaceID]bool{},
	}
}

func (a *applier) run(group []*request) {
	size := 0
	for _, r := range group {
		for _, c := range r.commits {
			size += 3 * len(c.Bytes()) // the commit row, cells and indexes
		}
	}
	bc := a.newBatchSized(size)
	replies := make([]reply, len(group))
	for i, r := range group {
		nops := 0
		for _, c := range r.commits {
			nops += len(c.Ops)
		}
		bc.changes = make([]Change, 0, nops)
		bc.stored, bc.forks = nil, nil
		res, err := a.process(bc, r)
		res.Changes, res.Stored, res.Forks = bc.changes, bc.stored, bc.forks
		replies[i] = reply{res: res, err: err}
	}
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{} // caches may hold uncommitted state
		for i := range replies {
			replies[i] = reply{err: fmt.Errorf("store: commit: %w", err)}
		}
	} else {
		for sp := range bc.rebuild {
			changes, d, err := a.rebuild(sp, bc.forced[sp])
			first := true
			for i, r := range group {
				if r.space != sp || replies[i].err != nil {
					continue
				}
				if err != nil {
					replies[i].err = err
					continue
				}
				if first {
					replies[i].res.Changes = append(replies[i].res.Changes, changes...)
					replies[i].res.Redecided = true
					first = false
				}
				redecided(d, r.commits, replies[i].res.Outcomes)
			}
		}
	}
	for i, r := range group {
		res := &replies[i].res
		for j, o := range res.Outcomes {
			if o.Status == Revoked {
				res.Voided = append(res.Voided, r.commits[j].ID)
			}
		}
		if a.s.notify != nil && replies[i].err == nil && (len(res.Changes) > 0 || len(res.Stored) > 0 || len(res.Forks) > 0 || res.Redecided) {
			a.s.notify(Event{Space: r.space, Changes: res.Changes, Stored: res.Stored, Voided: res.Voided, Forks: res.Forks, Redecided: res.Redecided})
		}
		r.reply <- replies[i]
	}
}

func (a *applier) commit(bc *batch) error {
	defer bc.b.Close()
	var buf []byte // Set copies: one buffer serves every cell
	for _, cs := range bc.cells {
		if !cs.dirty {
			continue
		}
		buf = view.AppendCell(buf[:0], &cs.cell)
		if err := bc.b.Set(cs.key, buf, nil); err != nil {
			return err
		}
	}
	for _, st := range bc.dirty {
		if err := bc.b.Set(spaceKey(tagViewState, st.id), st.view.encode(), nil); err != nil {
			return err
		}
	}
	if bc.b.Empty() {
		return nil
	}
	return bc.b.Commit(a.s.sync)
}

func (a *applier) process(bc *batch, r *request) (Result, error) {
	if r.create != nil {
		if err := a.create(bc, r); err != nil {
			return Result{}, err
		}
	}
	st, err := a.load(r.space)
	if err != nil {
		return Result{}, err
	}
	res := Result{Outcomes: make([]Outcome, len(r.commits))}
	todo := make([]int, len(r.commits))
	for i := range todo {
		todo[i] = i
	}
	// Apply what can be applied; retry the pending ones while that makes
	// progress, so a batch in any order applies in causal order.
	for len(todo) > 0 {
		var next []int
		for _, i := range todo {
			o, err := a.applyOne(bc, st, r.commits[i])
			if err != nil {
				return Result{}, err
			}
			res.Outcomes[i] = o
			if o.Status == Pending {
				next = append(next, i)
			}
		}
		if len(next) == len(todo) {
			break
		}
		todo = next
	}
	return res, nil
}

func (a *applier) create(bc *batch, r *request) error {
	info := r.create
	if _, err := a.s.get(spaceKey(tagMeta, info.ID)); err == nil {
		return fmt.Errorf("store: space %s is already held", info.ID)
	}
	if _, err := a.s.get(nameKey(info.Name)); err == nil || bc.names[info.Name] {
		return fmt.Errorf("%w: %q (choose another name)", ErrNameTaken, info.Name)
	}
	if len(r.commits) > 0 {
		if err := checkGenesis(r.commits[0]); err != nil {
			return err
		}
	}
	m, _ := json.Marshal(metaJSON{Name: info.Name, Created: info.Created})
	bc.names[info.Name] = true
	if err := bc.b.Set(spaceKey(tagMeta, info.ID), m, nil); err != nil {
		return err
	}
	if err := bc.b.Set(nameKey(info.Name), info.ID[:], nil); err != nil {
		return err
	}
	st := newSpaceState(info.ID)
	a.spaces[info.ID] = st
	bc.dirty[info.ID] = st
	return nil
}

func newSpaceState(id keys.SpaceID) *spaceState {
	return &spaceState{
		id:       id,
		heads:    map[keys.AuthorID]head{},
		grounded: acl.New(id),
		valid:    acl.New(id),
		invalid:  map[acl.Loc]bool{},
		cuts:     map[keys.AuthorID]uint64{},
		fastFrom: map[keys.AuthorID]uint64{},
		forked:   map[keys.AuthorID]uint64{},
		lastVV:   map[keys.AuthorID]vvAt{},
	}
}

// load returns the cached state of a space, reading it on first use.
func (a *applier) load(sp keys.SpaceID) (*spaceState, error) {
	if st, ok := a.spaces[sp]; ok {
		return st, nil
	}
	ctx := context.Background()
	vs, err := a.s.View(ctx, sp)
	if err != nil {
		return nil, err
	}
	st := newSpaceState(sp)
	st.view = vs
	heads, err := a.s.Heads(ctx, sp)
	if err != nil {
		return nil, err
	}
	for _, h := range heads {
		st.heads[h.Author] = head{Seq: h.Seq, ID: h.ID, Wall: h.Time.Wall, Lgc: h.Time.Logical}
	}
	_, st.genesis = st.heads[keys.AuthorID(sp)]
	grants, err := a.s.Grants(ctx, sp)
	if err != nil {
		return nil, err
	}
	if st.invalid, st.cuts, err = a.s.decisions(ctx, sp); err != nil {
		return nil, err
	}
	var e err0
	for k := range a.s.scan(ctx, spaceKey(tagFork, sp), false, &e) {
		au := keys.AuthorID(k[1+keys.Size : 1+2*keys.Size])
		seq := binary.BigEndian.Uint64(k[1+2*keys.Size:])
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
	a.spaces[sp] = st
	if vs.rebuild || vs.redecide { // a crash came between storing and deciding again
		if _, _, err := a.rebuild(sp, vs.rebuild); err != nil {
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

// redecided corrects the outcomes of a request's commits after its space's
// authorization was decided again.
func redecided(d *acl.Decision, cs []*commit.Commit, outs []Outcome) {
	for j, c := range cs {
		o := &outs[j]
		why, invalid := d.Invalid[acl.Loc{Author: c.Author, Seq: c.Seq}]
		switch {
		case errors.Is(why, acl.ErrForked):
		case o.Status == Applied && invalid:
			*o = revokedOutcome(c, why)
		case o.Status == Revoked && !invalid:
			*o = Outcome{Status: Applied}
		}
	}
}

func revokedOutcome(c *commit.Commit, why error) Outcome {
	return Outcome{Status: Revoked, Err: fmt.Errorf("%w: %s: %w", ErrRevoked, c, why)}
}

func isGenesis(c *commit.Commit) bool {
	return c.Author == keys.AuthorID(c.Space) && c.Seq == 1
}

func checkGenesis(c *commit.Commit) error {
	if !isGenesis(c) {
		return fmt.Errorf("%w: %s is not seq 1 of the space key", ErrGenesis, c)
	}
	admin := false
	for _, o := range c.Ops {
		if o.Kind == commit.KindGrant {
			g, err := commit.DecodeGrant(o)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrGenesis, err)
			}
			admin = admin || g.Role == commit.RoleAdmin
		}
	}
	if !admin {
		return fmt.Errorf("%w: it grants admin to nobody", ErrGenesis)
	}
	return nil
}

func pending(format string, args ...any) Outcome {
	return Outcome{Status: Pending, Err: fmt.Errorf("%w: "+format, append([]any{ErrPending}, args...)...)}
}

func rejected(err error, format string, args ...any) Outcome {
	return Outcome{Status: Rejected, Err: fmt.Errorf("%w: "+format, append([]any{err}, args...)...)}
}

// applyOne validates c against the space's state and, if valid, adds its
// writes to the batch. A non-nil error is a storage failure.
func (a *applier) applyOne(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	if c.Space != st.id {
		return rejected(ErrWrongSpace, "%s", c), nil
	}
	h := st.heads[c.Author]
	if c.Seq <= h.Seq {
		id, err := a.idAt(bc, st.id, c.Author, c.Seq)
		if err != nil {
			return Outcome{}, err
		}
		if id == c.ID {
			if st.invalid[acl.Loc{Author: c.Author, Seq: c.Seq}] {
				return Outcome{Status: Duplicate, Err: fmt.Errorf("%w: %s is held but does not count", ErrRevoked, c)}, nil
			}
			return Outcome{Status: Duplicate}, nil
		}
		if fs, ok := st.forked[c.Author]; ok && fs < c.Seq {
			return a.offchain(bc, st, c) // the author is known forked below: one evidence pair is enough
		}
		return a.fork(bc, st, c)
	}
	if c.Seq > h.Seq+1 || c.Prev != h.ID {
		// Not the next link of the stored chain. A forked author's other
		// branch is kept off-chain once its prev is known; anything else
		// waits for the rest of its chain.
		if fs, ok := st.forked[c.Author]; ok && c.Seq > fs {
			known, err := a.known(bc, st.id, c.Prev)
			if err != nil {
				return Outcome{}, err
			}
			if known {
				return a.offchain(bc, st, c)
			}
		}
		if c.Seq > h.Seq+1 {
			return pending("%s follows seq %d", c, h.Seq), nil
		}
		return pending("%s has prev %s, but the stored seq %d is %s (waiting for its chain; its author may have forked)", c, c.Prev.Short(), h.Seq, h.ID.Short()), nil
	}
	if !st.genesis && !isGenesis(c) {
		return pending("%s: the space's genesis commit has not arrived", c), nil
	}
	if isGenesis(c) {
		if err := checkGenesis(c); err != nil {
			return Outcome{Status: Rejected, Err: err}, nil
		}
	}
	if c.Seq > 1 && !(commit.HLC{Wall: h.Wall, Logical: h.Lgc}).Less(c.Time) {
		return rejected(ErrClock, "%s at %s", c, c.Time), nil
	}
	if c.Time.Wall > uint64(time.Now().Add(MaxFuture).UnixMicro()) {
		return Outcome{Status: Pending, Err: fmt.Errorf("%w: %w: %s is dated %s", ErrPending, ErrFuture, c, c.Time)}, nil
	}
	for _, d := range c.Deps {
		ok, err := a.known(bc, st.id, d)
		if err != nil {
			return Outcome{}, err
		}
		if !ok {
			return pending("%s depends on %s", c, d.Short()), nil
		}
	}
	auth, denied, err := a.authorize(bc, st, c)
	if err != nil {
		return Outcome{}, err
	}
	if denied != nil {
		return Outcome{Status: Rejected, Err: fmt.Errorf("%w: %s: %w", ErrUnauthorized, c, denied)}, nil
	}

	// Valid: store it.
	raw := c.Bytes()
	row := make([]byte, 0, keys.Size+len(raw))
	row = append(append(row, c.ID[:]...), raw...)
	if err := bc.b.Set(commitKey(st.id, c.Author, c.Seq), row, nil); err != nil {
		return Outcome{}, err
	}
	if err := bc.b.Set(spaceKey(tagCommitID, st.id, c.ID[:]), append(c.Author[:len(c.Author):len(c.Author)], be64(c.Seq)...), nil); err != nil {
		return Outcome{}, err
	}
	nh := head{Seq: c.Seq, ID: c.ID, Wall: c.Time.Wall, Lgc: c.Time.Logical}
	if err := bc.b.Set(spaceKey(tagHead, st.id, c.Author[:]), nh.encode(), nil); err != nil {
		return Outcome{}, err
	}
	st.heads[c.Author] = nh
	bc.ids[c.ID] = loc{c.Author, c.Seq}
	bc.atSeq[authorSeq{st.id, c.Author, c.Seq}] = c.ID
	bc.byLoc[authorSeq{st.id, c.Author, c.Seq}] = c
	if isGenesis(c) {
		st.genesis = true
	}
	if st.view.MaxTime.Less(c.Time) {
		st.view.MaxTime = c.Time
	}
	bc.dirty[st.id] = st

	var vv view.VV
	if len(c.Deps) > 0 {
		var err error
		if vv, err = a.commitVV(bc, st, c); err != nil {
			return Outcome{}, err
		}
		if err := bc.b.Set(vvKey(st.id, c.Author, c.Seq), view.AppendVV(nil, vv), nil); err != nil {
			return Outcome{}, err
		}
		bc.vvs[authorSeq{st.id, c.Author, c.Seq}] = vv
		st.lastVV[c.Author] = vvAt{c.Seq, vv}
	}
	bc.stored = append(bc.stored, c)
	if fs, ok := st.forked[c.Author]; ok && c.Seq >= fs {
		return Outcome{Status: Applied}, nil // stored, but a forked author's later commits do not count
	}
	if auth.redecide {
		st.view.redecide = true
		bc.rebuild[st.id] = true
	}
	if err := a.addGrants(bc, st, auth.grants, auth.invalid == nil); err != nil {
		return Outcome{}, err
	}
	if auth.invalid != nil {
		st.invalid[acl.Loc{Author: c.Author, Seq: c.Seq}] = true
		if err := bc.b.Set(invalidKey(st.id, c.Author, c.Seq), []byte(auth.invalid.Error()), nil); err != nil {
			return Outcome{}, err
		}
		return revokedOutcome(c, auth.invalid), nil
	}
	if err := a.applyOps(bc, st, c, vv); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: Applied}, nil
}

// applyOps adds c's ops to the view. vv is c's version vector if already
// computed, else nil (computed on first need).
func (a *applier) applyOps(bc *batch, st *spaceState, c *commit.Commit, vv view.VV) error {
	var vvErr error
	seenBy := func(i int) view.SeenFunc {
		return func(e *view.Entry) bool {
			if e.Author == c.Author {
				return e.Seq < c.Seq || (e.Seq == c.Seq && int(e.Op) < i)
			}
			if vv == nil {
				vv, vvErr = a.commitVV(bc, st, c)
			}
			return vv.Saw(e.Author, e.Seq)
		}
	}
	for i := range c.Ops {
		o := &c.Ops[i]
		switch {
		case o.Kind.IsData():
			if err := a.applyData(bc, st, o, view.Entry{
				Version: view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)},
				Kind:    o.Kind,
				Value:   o.Payload,
			}, c.OpDigest(i), seenBy(i)); err != nil {
				return err
			}
			if vvErr != nil {
				return vvErr
			}
		case o.Kind == commit.KindRotate && a.s.rotated != nil && !o.Erased:
			a.s.rotated(st.id, c.Author == keys.AuthorID(st.id) && c.Seq == 1, o.Payload)
		case o.Kind == commit.KindSealed && a.s.unseal != nil && !o.Erased:
			po, ok := a.s.unseal(st.id, c.Epoch, o.Payload)
			if !ok {
				continue // no key for the epoch, or garbage: not in the view
			}
			e := view.Entry{
				Version: view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)},
				Kind:    po.Kind,
				Value:   po.Payload,
			}
			if err := a.applyData(bc, st, &po, e, view.EntryDigest(po.Key, &e), seenBy(i)); err != nil {
				return err
			}
			if vvErr != nil {
				return vvErr
			}
		}
	}
	return nil
}

// applyData applies one write; digest is its op digest (view.EntryDigest).
func (a *applier) applyData(bc *batch, st *spaceState, o *commit.Op, e view.Entry, digest keys.Digest, seen view.SeenFunc) error {
	cs, err := a.cell(bc, st, o.Key)
	if err != nil {
		return err
	}
	old, hadOld := cs.cell.Winner()
	if !cs.cell.Apply(e, seen) {
		return nil
	}
	cs.dirty = true
	nw, _ := cs.cell.Winner()
	if hadOld && old.Version == nw.Version {
		return nil // a concurrent write lost: visible state unchanged
	}
	if hadOld && !old.Tombstone() {
		st.view.Hash.Toggle(view.EntryDigest(o.Key, &old))
		st.view.Visible--
	}
	if !nw.Tombstone() {
		if nw.Version != e.Version { // an older live write won again (not reachable in causal order)
			digest = view.EntryDigest(o.Key, &nw)
		}
		st.view.Hash.Toggle(digest)
		st.view.Visible++
	}
	bc.changes = append(bc.changes, Change{Key: o.Key, Entry: nw})
	return nil
}

func (a *applier) cell(bc *batch, st *spaceState, key []byte) (*cellState, error) {
	sp := st.id
	bc.kbuf = append(append(append(bc.kbuf[:0], tagCell), sp[:]...), key...)
	if cs, ok := bc.cells[string(bc.kbuf)]; ok { // no allocation for a map lookup
		return cs, nil
	}
	ks := string(bc.kbuf)
	if len(bc.slab) == 0 {
		bc.slab = make([]cellState, 256)
	}
	cs := &bc.slab[0]
	bc.slab = bc.slab[1:]
	cs.key = unsafe.Slice(unsafe.StringData(ks), len(ks)) // read-only view of the map key
	cs.cell.Live = cs.one[:0]
	if !st.maxLoaded {
		if err := a.loadMaxKey(st); err != nil {
			return nil, err
		}
	}
	beyond := !st.hasMax || bytes.Compare(key, st.maxKey) > 0
	if beyond {
		st.maxKey, st.hasMax = key, true // aliases the commit, which outlives the batch
	}
	if !bc.fresh[sp] && !beyond {
		v, err := a.s.get(cs.key)
		switch {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			if cs.cell, err = view.DecodeCell(v); err != nil {
				return nil, fmt.Errorf("%w: cell %q: %v", ErrCorrupt, key, err)
			}
		}
	}
	bc.cells[ks] = cs
	return cs, nil
}

// idAt returns the ID of the main-chain commit (author, seq).
func (a *applier) idAt(bc *batch, sp keys.SpaceID, au keys.AuthorID, seq uint64) (keys.CommitID, error) {
	if id, ok := bc.atSeq[authorSeq{sp, au, seq}]; ok {
		return id, nil
	}
	v, err := a.s.get(commitKey(sp, au, seq))
	if err != nil {
		return keys.CommitID{}, fmt.Errorf("%w: commit %s/%d below head: %v", ErrCorrupt, au.Short(), seq, err)
	}
	return keys.CommitID(v[:keys.Size]), nil
}

// locate finds where a known commit sits: main chain or off-chain.
func (a *applier) locate(bc *batch, sp keys.SpaceID, id keys.CommitID) (loc, bool, error) {
	if l, ok := bc.ids[id]; ok {
		return l, true, nil
	}
	if l, ok := bc.offIDs[id]; ok {
		return l, true, nil
	}
	for _, tag := range []byte{tagCommitID, tagOffchain} {
		v, err := a.s.get(spaceKey(tag, sp, id[:]))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return loc{}, false, err
		}
		if len(v) < keys.Size+8 {
			return loc{}, false, fmt.Errorf("%w: commit index row", ErrCorrupt)
		}
		return loc{keys.AuthorID(v[:keys.Size]), binary.BigEndian.Uint64(v[keys.Size:])}, true, nil
	}
	return loc{}, false, nil
}

func (a *applier) known(bc *batch, sp keys.SpaceID, id keys.CommitID) (bool, error) {
	_, ok, err := a.locate(bc, sp, id)
	return ok, err
}

// commitVV computes c's version vector from its prev's and its deps'.
func (a *applier) commitVV(bc *batch, st *spaceState, c *commit.Commit) (view.VV, error) {
	vv := view.VV{}
	if c.Seq > 1 {
		p, err := a.vvOf(bc, st, c.Author, c.Seq-1)
		if err != nil {
			return nil, err
		}
		vv.Merge(p)
	}
	for _, d := range c.Deps {
		l, ok, err := a.locate(bc, st.id, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		dv, err := a.vvOf(bc, st, l.author, l.seq)
		if err != nil {
			return nil, err
		}
		vv.Merge(dv)
	}
	vv[c.Author] = c.Seq
	return vv, nil
}

// vvOf returns the version vector of the commit (au, seq): the latest stored
// vector of au at or below seq, raised to seq.
func (a *applier) vvOf(bc *batch, st *spaceState, au keys.AuthorID, seq uint64) (view.VV, error) {
	if v, ok := bc.vvs[authorSeq{st.id, au, seq}]; ok {
		return v, nil
	}
	var base view.VV
	if l, ok := st.lastVV[au]; ok && l.seq <= seq {
		base = l.vv
	} else {
		// Rows of this batch are the newest of their author: look there first.
		best := uint64(0)
		for k, v := range bc.vvs {
			if k.sp == st.id && k.author == au && k.seq <= seq && k.seq > best {
				best, base = k.seq, v
			}
		}
		if best == 0 {
			var err error
			if base, err = a.storedVV(st.id, au, seq); err != nil {
				return nil, err
			}
		}
	}
	out := maps.Clone(base)
	if out == nil {
		out = view.VV{}
	}
	if out[au] < seq {
		out[au] = seq
	}
	return out, nil
}

func (a *applier) storedVV(sp keys.SpaceID, au keys.AuthorID, seq uint64) (view.VV, error) {
	lower := spaceKey(tagVV, sp, au[:])
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: vvKey(sp, au, seq+1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Last() {
		return nil, it.Error()
	}
	return view.DecodeVV(bytes.Clone(it.Value()))
}

// fork records c as evidence against its author: it has the seq of a
// stored commit and a different ID.
func (a *applier) fork(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	k := spaceKey(tagFork, st.id, c.Author[:], be64(c.Seq), c.ID[:])
	if _, err := a.s.get(k); err == nil {
		return Outcome{Status: Duplicate}, nil
	}
	if err := bc.b.Set(k, c.Bytes(), nil); err != nil {
		return Outcome{}, err
	}
	// Index it as known too: other authors may have seen it and name it in deps.
	if err := a.setOffchain(bc, st, c); err != nil {
		return Outcome{}, err
	}
	if main, err := a.mainCommit(bc, st.id, c.Author, c.Seq); err == nil {
		if f, err := commit.NewFork(main, c); err == nil {
			bc.forks = append(bc.forks, f)
		}
	}
	if fs, ok := st.forked[c.Author]; !ok || c.Seq < fs {
		st.forked[c.Author] = c.Seq
		st.view.rebuild = true
		bc.rebuild[st.id] = true
		bc.forced[st.id] = true
		bc.dirty[st.id] = st
	}
	return Outcome{Status: Forked, Err: fmt.Errorf("author %s forked at seq %d", c.Author, c.Seq)}, nil
}

// offchain keeps a forked author's commit that continues the other branch:
// known (it may be another commit's dep) but never in the view.
func (a *applier) offchain(bc *batch, st *spaceState, c *commit.Commit) (Outcome, error) {
	if ok, err := a.known(bc, st.id, c.ID); err != nil || ok {
		return Outcome{Status: Duplicate}, err
	}
	if err := a.setOffchain(bc, st, c); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: Forked, Err: fmt.Errorf("author %s forked at seq %d", c.Author, st.forked[c.Author])}, nil
}

func (a *applier) setOffchain(bc *batch, st *spaceState, c *commit.Commit) error {
	v := append(append(c.Author[:len(c.Author):len(c.Author)], be64(c.Seq)...), c.Bytes()...)
	bc.offIDs[c.ID] = loc{c.Author, c.Seq}
	bc.stored = append(bc.stored, c)
	return bc.b.Set(spaceKey(tagOffchain, st.id, c.ID[:]), v, nil)
}

func (a *applier) loadMaxKey(st *spaceState) error {
	p := spaceKey(tagCell, st.id)
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() {
		st.maxKey, st.hasMax = bytes.Clone(it.Key()[len(p):]), true
	}
	st.maxLoaded = true
	return it.Error()
}

// mainCommit returns the main-chain commit (author, seq), from this batch or
// the store.
func (a *applier) mainCommit(bc *batch, sp keys.SpaceID, au keys.AuthorID, seq uint64) (*commit.Commit, error) {
	if c, ok := bc.byLoc[authorSeq{sp, au, seq}]; ok {
		return c, nil
	}
	v, err := a.s.get(commitKey(sp, au, seq))
	if err != nil {
		return nil, err
	}
	return commit.Decode(v[keys.Size:])
}

// authorization is the decision on one grounded commit.
type authorization struct {
	grants   []acl.Grant // its grants that take effect (if it counts)
	invalid  error       // non-nil: stored, but it does not count, and why
	redecide bool        // it revokes or joins through an invite: decide the space again
}

// authorize decides c in its causal past. A commit is grounded if the
// grants of every stored commit allow it (acl.State.Check, revocations and
// invite uses aside): if not, denied says why and c must be rejected. A
// grounded commit counts if the grants of the commits that count allow it
// and its author is not cut below its seq; that is the whole decision for
// a commit that neither revokes nor joins through an invite (see
// acl.Evaluate), and for those the space is decided again after the batch.
func (a *applier) authorize(bc *batch, st *spaceState, c *commit.Commit) (auth *authorization, denied error, err error) {
	onlyData := true
	for i := range c.Ops {
		onlyData = onlyData && c.Ops[i].Kind.IsData()
	}
	cut, isCut := st.cuts[c.Author]
	above := isCut && c.Seq > cut
	if from, ok := st.fastFrom[c.Author]; ok && c.Seq >= from && onlyData && !above {
		return &authorization{}, nil, nil
	}
	var vv view.VV
	var vvErr error
	seen := func(au keys.AuthorID, seq uint64) bool {
		if au == c.Author {
			return seq < c.Seq
		}
		if vv == nil && vvErr == nil {
			vv, vvErr = a.commitVV(bc, st, c)
		}
		return vv.Saw(au, seq)
	}
	var why error
	if above {
		why = fmt.Errorf("%w: %s is cut after seq %d", acl.ErrRevoked, c.Author, cut)
	} else {
		v, err := st.valid.Check(c, seen)
		if vvErr != nil {
			return nil, nil, vvErr
		}
		if err == nil {
			if onlyData && st.valid.Unbounded(c.Author, c.Time, seen) {
				if from, ok := st.fastFrom[c.Author]; !ok || c.Seq < from {
					st.fastFrom[c.Author] = c.Seq
				}
			}
			return &authorization{grants: v.Grants, redecide: st.needsRedecide(v)}, nil, nil
		}
		why = err
	}
	v, err := st.grounded.Check(c, seen)
	if vvErr != nil {
		return nil, nil, vvErr
	}
	if err != nil {
		return nil, err, nil
	}
	return &authorization{grants: v.Grants, invalid: why, redecide: st.needsRedecide(v)}, nil, nil
}

// needsRedecide reports whether a commit with verdict v can change which
// other commits count, so that the space must be decided again: a
// revocation can; a join through an invite can only when the invite was
// revoked or its uses run out with it (which joins count then depends on
// their order). Any other join only adds its grant: deciding a space again
// reads every commit (about 30 µs each), and joins through an invite with
// uses to spare are the common case.
func (st *spaceState) needsRedecide(v acl.Verdict) bool {
	if len(v.Revokes) > 0 {
		return true
	}
	for _, u := range v.Uses {
		if _, cut := st.cuts[u.Invite]; cut {
			return true
		}
		if u.Limit != 0 && st.joinsVia(u.Invite) >= int(u.Limit) {
			return true
		}
	}
	return false
}

// joinsVia counts the stored joins through invite inv (its joiners'
// grants), whether they count or not.
func (st *spaceState) joinsVia(inv keys.AuthorID) int {
	n := 0
	for _, sub := range st.grounded.Subjects() {
		for _, g := range st.grounded.Grants(sub) {
			if g.Invite == inv {
				n++
			}
		}
	}
	return n
}

// addGrants records grants of a stored commit durably and in the decision
// state; valid: the commit counts.
func (a *applier) addGrants(bc *batch, st *spaceState, gs []acl.Grant, valid bool) error {
	for i, g := range gs {
		st.grounded.Add(g)
		if valid {
			st.valid.Add(g)
		}
		if err := bc.b.Set(grantKey(st.id, g, uint32(i)), encodeGrant(g), nil); err != nil {
			return err
		}
	}
	return nil
}
