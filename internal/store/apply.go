package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/bodylog"
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
	// Forked: stored as fork evidence, on a forked branch, or on the main
	// chain of an author known to have forked at or below its seq; it does
	// not count in the view. Err wraps ErrForked.
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
	// Dropped: not stored, because its author is revoked or forked below
	// it and this store already keeps the most it keeps of the author past
	// that cut (overcut.go). Err wraps ErrOverCut. Giving it again changes
	// nothing.
	Dropped
	// Filled: a commit below the checkpoint a floored store joined from
	// (floor.go), whose row it did not hold, is stored now: a dep of a
	// later commit, or history fetched to deepen. Nothing else changed:
	// it is dead at the checkpoint. It is progress, never misbehaviour.
	Filled
)

func (s Status) String() string {
	return [...]string{"unknown", "applied", "duplicate", "pending", "forked", "rejected", "revoked", "dropped", "filled"}[min(int(s), 8)]
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
	// Erased lists the ops whose payloads this request's erase ops
	// dropped (erase.go).
	Erased []ErasedOp
}

type request struct {
	space   keys.SpaceID
	commits []*commit.Commit
	create  *SpaceInfo     // CreateSpace: the space to create with commits[0] as genesis
	forget  bool           // Forget (forget.go): applied alone, outside any group
	retain  *retainRequest // DropSuperseded (retention.go): applied alone too
	install *Install       // InstallSnapshot (install.go): applied alone too
	unfloor bool           // Unfloor (deepen.go): applied alone too
	reclaim bool           // ReclaimBodies (reclaim.go): applied alone too
	reply   chan reply     // buffered, 1
}

type reply struct {
	res     Result
	missing uint64 // Unfloor's (deepen.go)
	err     error
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
	rp, err := t.wait(ctx)
	return rp.res, err
}

func (t Ticket) wait(ctx context.Context) (reply, error) {
	select {
	case rp := <-t.r.reply:
		return rp, rp.err
	case <-t.s.done:
		select {
		case rp := <-t.r.reply:
			return rp, rp.err
		default:
			return reply{}, ErrClosed
		}
	case <-ctx.Done():
		return reply{}, ctx.Err()
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

// closing is what wait returns once the store closes (the requests
// waiting were answered ErrClosed).
var closing = &request{}

// wait waits for the applier's next request, or returns nil when it has
// reclaiming to do first (the tail's timer, a reader let go of a state).
func (a *applier) wait() *request {
	s := a.s
	select {
	case <-a.tailWait(): // nil once the applier broke (reclaim)
		a.reclaimNeeded = true
		return nil
	case <-s.released:
		return nil // reclaim removes what no reader reads now
	case <-s.quit:
		for {
			select {
			case r := <-s.reqs:
				r.reply <- reply{err: ErrClosed}
			default:
				return closing
			}
		}
	case r := <-s.reqs:
		return r
	}
}

// applier is the single goroutine that writes. It owns applyState.
func (s *Store) applier() {
	defer close(s.done)
	a := &applier{s: s, spaces: map[keys.SpaceID]*spaceState{}}
	if err := a.loadDead(); err == nil {
		a.reclaimNeeded = len(a.segDead) > 0
	}
	if err := a.loadOrphans(); err != nil {
		a.broken = fmt.Errorf("store: the body log's end does not read, so records past it would be counted nowhere: %w", err)
	}
	for {
		if a.reclaimNeeded || len(a.removals) > 0 {
			a.reclaimNeeded = false
			a.reclaim(false) // what fails is tried again after the next commit
		}
		var first *request
		if a.reclaimMore {
			// Reclaim the next segment, unless a request waits.
			select {
			case first = <-s.reqs:
			case <-s.quit: // handled below
			default:
				a.reclaimNeeded = true
				continue
			}
		}
		if first == nil {
			first = a.wait()
			if first == nil {
				continue
			}
		}
		if first == closing {
			return
		}
		if first.alone() {
			a.runAlone(first)
			continue
		}
		group := []*request{first}
		ops := len(first.commits)
		var forget *request // ends the group
	gather:
		for len(group) < maxGroupRequests && ops < maxGroupOps {
			select {
			case r := <-s.reqs:
				if r.alone() {
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
			a.runAlone(forget)
		}
	}
}

// alone reports whether r runs alone, between group commits.
func (r *request) alone() bool {
	return r.forget || r.retain != nil || r.install != nil || r.unfloor || r.reclaim
}

func (a *applier) runAlone(r *request) {
	switch {
	case r.forget:
		a.forget(r)
	case r.install != nil:
		a.install(r)
	case r.unfloor:
		a.unfloor(r)
	case r.reclaim:
		r.reply <- reply{err: a.reclaim(true)}
	default:
		a.retain(r)
	}
}

// applier holds the applier goroutine's caches. Only that goroutine uses it.
type applier struct {
	s      *Store
	spaces map[keys.SpaceID]*spaceState
	// scratch is pastOf's (causal.go): by author number, zero between uses.
	scratch []uint64
	// broken is set once Pebble failed a commit: that Pebble instance
	// must not be written to again, so every write fails with it until
	// the store is opened again.
	broken error
	// holdReads: a rebuild is committing its view in pieces (rebuild.go):
	// commitBatch leaves readers on the state before it.
	holdReads bool
	// unsynced: records were appended to the body log since its last
	// sync (bodies.go).
	unsynced bool
	// segDead holds each body log segment's dead-bytes row as committed
	// (bodies.go); removals, the segments reclaimed that readers may still
	// read (reclaim.go).
	segDead  map[uint32]segDead
	removals []removal
	// reclaimNeeded: a commit counted dead bytes (reclaim.go); tailErased:
	// since when the tail holds an erased record; tailDue: when reclaim
	// looks at it again (zero: no need).
	reclaimNeeded bool
	reclaimMore   bool // reclaim stopped after a segment; more may be due
	tailErased    time.Time
	tailDue       time.Time
	// sinceCommit: the places of the records appended since the last
	// commit; crashOrphans: the bytes past the log's end found on open;
	// markEnd: the next commit sets the log's end (bodies.go, orphans).
	sinceCommit  []bodylog.Place
	crashOrphans deadBytes
	markEnd      bool
	nested       int // loads under way (spacestate.go): their commits leave orphans alone
	// roomWait: reclaim left segments for lack of room; it looks again
	// after each commit (which may have freed some) and in a while.
	roomWait bool
}

// batch is the work of one group commit.
type batch struct {
	b       *pebble.Batch
	cells   map[string]*cellState
	ids     map[keys.CommitID]loc // commits stored in this batch
	atSeq   map[authorSeq]keys.CommitID
	byLoc   map[authorSeq]*commit.Commit     // main-chain commits stored in this batch
	erasedC map[keys.CommitID]*commit.Commit // stored commits an erase of this batch rewrote (erase.go)
	erasure map[string][]byte                // erasure rows this batch wrote (erase.go)
	policy  map[keys.SpaceID][]byte          // retention rows written in this batch (retention.go)
	pasts   map[authorSeq][]gain             // gains of the commits stored in this batch (causal.go)
	from    map[authorSeq]uint64             // (space, author, 0) → its first seq stored in this batch
	offIDs  map[keys.CommitID]loc
	names   map[string]bool
	dirty   map[keys.SpaceID]*spaceState
	// heads are the head rows to write at the commit, per (space, author,
	// 0): one row per author and batch, not one per commit stored (a
	// row written for each commit left versions of it that every scan of
	// the heads stepped over until a compaction).
	heads   map[authorSeq]head
	rebuild map[keys.SpaceID]bool // decide authorization again, after the commit
	forced  map[keys.SpaceID]bool // and rebuild the view even if no decision changed (a fork)
	fresh   map[keys.SpaceID]bool // cells of this space are all new (rebuild)
	kbuf    []byte                // scratch for cell keys
	slab    []cellState           // preallocated cell states
	changes []Change              // of the request being processed
	stored  []*commit.Commit      // of the request being processed
	forks   []commit.Fork         // of the request being processed
	erased  []ErasedOp            // of the request being processed
	// bodies: the batch's writes to the body log (bodies.go).
	bodies bodyWrites
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

func (a *applier) newBatch() *batch { return a.newBatchSized(0) }

func (a *applier) newBatchSized(size int) *batch {
	return &batch{
		b:       a.s.db.NewBatchWithSize(size),
		cells:   map[string]*cellState{},
		ids:     map[keys.CommitID]loc{},
		atSeq:   map[authorSeq]keys.CommitID{},
		byLoc:   map[authorSeq]*commit.Commit{},
		erasedC: map[keys.CommitID]*commit.Commit{},
		erasure: map[string][]byte{},
		policy:  map[keys.SpaceID][]byte{},
		pasts:   map[authorSeq][]gain{},
		from:    map[authorSeq]uint64{},
		offIDs:  map[keys.CommitID]loc{},
		names:   map[string]bool{},
		dirty:   map[keys.SpaceID]*spaceState{},
		heads:   map[authorSeq]head{},
		rebuild: map[keys.SpaceID]bool{},
		forced:  map[keys.SpaceID]bool{},
		fresh:   map[keys.SpaceID]bool{},
		bodies:  bodyWrites{dead: deadBytes{}},
	}
}

// fault returns the error the tests inject at point (for commit c), or nil.
func (a *applier) fault(point string, c *commit.Commit) error {
	h := a.s.hook.Load()
	if h == nil || *h == nil {
		return nil
	}
	return (*h)(point, c)
}

func (a *applier) run(group []*request) {
	if err := a.fault("group", nil); err != nil {
		panic(err)
	}
	replies := make([]reply, len(group))
	if err := a.admit(group); err != nil {
		for i, r := range group {
			replies[i].err = err
			r.reply <- replies[i]
		}
		return
	}
	// answered[i]: request i failed and its reply is final; it is not
	// applied again.
	answered := make([]bool, len(group))
	var bc *batch
	for {
		var failed int
		bc, failed = a.apply(group, answered, replies)
		if failed < 0 {
			break
		}
		// A storage error part-way through a request: some of its rows may
		// be in the batch, and the caches may hold them. Drop both, fail
		// that request alone and apply the others again, so that a failed
		// request leaves nothing behind and the others are not failed
		// with it.
		bc.b.Close()
		a.spaces = map[keys.SpaceID]*spaceState{}
		answered[failed] = true
	}
	if err := a.commit(bc); err != nil {
		a.spaces = map[keys.SpaceID]*spaceState{} // caches may hold uncommitted state
		for i := range replies {
			if !answered[i] {
				replies[i] = reply{err: fmt.Errorf("store: commit: %w", err)}
			}
		}
	} else {
		a.decideAgain(group, bc, replies)
	}
	for i, r := range group {
		res := &replies[i].res
		for j, o := range res.Outcomes {
			if o.Status == Revoked {
				res.Voided = append(res.Voided, r.commits[j].ID)
			}
		}
		if a.s.notify != nil && replies[i].err == nil && (len(res.Changes) > 0 || len(res.Stored) > 0 || len(res.Forks) > 0 || res.Redecided || len(res.Erased) > 0) {
			a.s.notify(Event{Space: r.space, Changes: res.Changes, Stored: res.Stored, Voided: res.Voided, Forks: res.Forks, Redecided: res.Redecided, Erased: res.Erased})
		}
		r.reply <- replies[i]
	}
}

// apply processes the requests of a group not yet answered into a new
// batch, setting their replies. A request refused before it wrote
// anything is answered with its error. If a storage error interrupts one,
// apply answers it with the error and returns its index: the batch may
// hold part of it and must be dropped. Otherwise it returns -1.
func (a *applier) apply(group []*request, answered []bool, replies []reply) (*batch, int) {
	size := 0
	for i, r := range group {
		if answered[i] {
			continue
		}
		for _, c := range r.commits {
			size += 3 * len(c.Bytes()) // the commit row, cells and indexes
		}
	}
	bc := a.newBatchSized(size)
	for i, r := range group {
		if answered[i] {
			continue
		}
		nops := 0
		for _, c := range r.commits {
			nops += len(c.Ops)
		}
		bc.changes = make([]Change, 0, nops)
		bc.stored, bc.forks, bc.erased = nil, nil, nil
		res, err := a.process(bc, r)
		res.Changes, res.Stored, res.Forks, res.Erased = bc.changes, bc.stored, bc.forks, bc.erased
		replies[i] = reply{res: res, err: err}
		var refused *refusal
		switch {
		case errors.As(err, &refused):
			replies[i].err = refused.err
			answered[i] = true
		case err != nil:
			return bc, i
		}
	}
	return bc, -1
}

// refusal wraps the error of a request refused before it wrote anything
// to the batch or the caches.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

// decideAgain decides again the spaces of a durable group commit that
// stored a revocation, a join through an invite or a fork, and corrects
// the replies of their requests. If that fails, the commits are durable
// all the same and their replies say so: the spaces' view states keep the
// flag that makes the next load decide them again (load), and their
// caches are dropped so that it does.
func (a *applier) decideAgain(group []*request, bc *batch, replies []reply) {
	for sp := range bc.rebuild {
		var cs []*commit.Commit // stored by this group (redecide.go)
		for i, r := range group {
			for j, c := range r.commits {
				if r.space == sp && replies[i].err == nil && j < len(replies[i].res.Outcomes) {
					if s := replies[i].res.Outcomes[j].Status; s == Applied || s == Revoked || s == Forked {
						cs = append(cs, c)
					}
				}
			}
		}
		changes, d, err := a.rebuild(sp, bc.forced[sp], cs)
		if err != nil {
			delete(a.spaces, sp)
			continue
		}
		first := true
		for i, r := range group {
			if r.space != sp || replies[i].err != nil {
				continue
			}
			if first {
				replies[i].res.Changes = append(replies[i].res.Changes, changes...)
				replies[i].res.Redecided = true
				first = false
			}
			redecided(d, a.spaces[sp].forked, r.commits, replies[i].res.Outcomes)
		}
	}
}

func (a *applier) commit(bc *batch) error {
	defer bc.b.Close()
	for k, h := range bc.heads {
		if err := bc.b.Set(spaceKey(tagHead, k.sp, k.author[:]), h.encode(), nil); err != nil {
			return err
		}
	}
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
	return a.commitBatch(bc.b, &bc.bodies)
}

// commitBatch commits b durably and publishes it to readers, with its
// writes to the body log, w (nil: none): the records not appended yet
// are, and the dead bytes of the records its rows stopped naming are
// counted (w is empty once b is committed). It syncs the body log first:
// no row may name a record a crash could lose. A failed commit breaks the
// applier (see broken). The caller closes b.
func (a *applier) commitBatch(b *pebble.Batch, w *bodyWrites) (err error) {
	defer func() {
		// Pebble's logger panics with a fatalError on a failed commit
		// (see quietLogger): stop writing, keep serving reads.
		p := recover()
		if p == nil {
			return
		}
		fe, ok := p.(fatalError)
		if !ok {
			panic(p)
		}
		err = fmt.Errorf("store: the database failed a write and takes no more until loam restarts (nothing acknowledged is lost): %w", fe)
		if isNoSpace(fe) {
			err = fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		a.broken = err
	}()
	// Nothing after the applier broke: a half-built view (halfBuilt) must
	// not reach readers with another request's commit.
	if a.broken != nil {
		return a.broken
	}
	// The authors numbered since the last commit, with the first batch
	// that may hold their numbers (causal.go, number).
	var numbered map[*spaceState]int
	for _, st := range a.spaces {
		if st.numbered < len(st.authors) {
			n, err := writeNumbers(b, st)
			if err != nil {
				return err
			}
			if numbered == nil {
				numbered = map[*spaceState]int{}
			}
			numbered[st] = n
		}
	}
	var dead deadBytes
	if w != nil {
		if err := a.flushBodies(b, w); err != nil {
			return err
		}
		dead = w.dead
	}
	orphans := a.nested == 0 // a load's commit amid a batch leaves them to the batch
	if orphans && len(a.crashOrphans) > 0 {
		if dead == nil {
			dead = deadBytes{}
		}
		for seg, d := range a.crashOrphans {
			dead.addBytes(seg, d.bytes)
		}
	}
	if orphans {
		if dead, err = a.orphansOf(b, w, dead); err != nil {
			return err
		}
	}
	totals, err := a.writeDead(b, dead)
	if err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	if a.s.batchSeen != nil {
		a.s.batchSeen(b)
	}
	if err := a.syncBodies(); err != nil {
		return err
	}
	if err := a.fault("bodies synced", nil); err != nil {
		return err
	}
	sb, err := a.s.inKeyOrder(b) // sortbatch.go
	if err != nil {
		return err
	}
	if sb != b {
		defer sb.Close()
	}
	if err := sb.Commit(a.s.sync); err != nil {
		return err
	}
	for st, n := range numbered {
		st.numbered = n
	}
	if len(totals) > 0 {
		maps.Copy(a.segDead, totals)
		a.reclaimNeeded = true
	}
	a.reclaimNeeded = a.reclaimNeeded || a.roomWait
	if orphans {
		a.sinceCommit, a.crashOrphans, a.markEnd = a.sinceCommit[:0], nil, false
	}
	if w != nil {
		clear(w.dead)
		clear(w.placed)
	}
	if !a.holdReads {
		a.s.publish() // durable now: readers may see it
	}
	return nil
}

// process applies one request into the batch. An error wrapped in a
// refusal means nothing of the request was written; any other error is a
// storage failure that may have left part of it in the batch.
func (a *applier) process(bc *batch, r *request) (Result, error) {
	if r.create != nil {
		if err := a.create(bc, r); err != nil {
			return Result{}, err
		}
	}
	if _, cached := a.spaces[r.space]; !cached {
		if _, err := a.s.get(spaceKey(tagMeta, r.space)); errors.Is(err, pebble.ErrNotFound) {
			return Result{}, &refusal{fmt.Errorf("%w %s", ErrUnknownSpace, r.space)}
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
			o, err := a.applyBounded(bc, st, r.commits[i])
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
		return &refusal{fmt.Errorf("store: space %s is already held", info.ID)}
	}
	if _, err := a.s.get(nameKey(info.Name)); err == nil || bc.names[info.Name] {
		return &refusal{fmt.Errorf("%w: %q (choose another name)", ErrNameTaken, info.Name)}
	}
	if len(r.commits) > 0 {
		if err := checkGenesis(r.commits[0]); err != nil {
			return &refusal{err}
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
