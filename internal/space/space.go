package space

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// ErrReadOnly is returned for a write by a device without a write grant.
var ErrReadOnly = errors.New("this device may not write to the space")

// ErrAwaiting is returned, wrapped with ErrReadOnly, for a write in a space
// whose hold (SetHold) refuses writes: after a restore, until this
// device's own history there has come back from a peer, a write would
// fork it.
var ErrAwaiting = errors.New("this device's own history in the space has not come back yet")

// Space is one space as seen by the local device. It is safe for concurrent use.
type Space struct {
	st    *store.Store
	info  store.SpaceInfo
	dev   keys.DeviceKey
	clock *commit.Clock

	// mu guards what the committer (commit.go) builds commits from and
	// what Observe, on the store's applier goroutine, updates. It is never
	// held across I/O.
	mu sync.Mutex
	// head is the device's latest prepared commit, the tip its next
	// commit builds on; gen counts the times it was taken back after a
	// commit failed. Only the committer writes them.
	head  store.Head
	gen   uint64
	heads map[keys.AuthorID]store.Head    // latest known head per author
	deps  map[keys.AuthorID]keys.CommitID // heads seen since our previous commit
	// access is the space's grants and cuts as of accessGen==accessRead;
	// Observe bumps accessGen when they may have changed, and the next
	// writer reads them again (currentAccess). trimGen likewise asks the
	// committer to drop deps on commits that stopped counting.
	access     store.Access
	accessGen  uint64
	accessRead uint64
	trimGen    uint64
	trimmed    uint64

	// readKey, if set, makes this a private space: it returns the key of
	// the epoch new data ops are sealed under (or an error saying why this
	// device cannot write sealed ops). Set once by SetPrivate before use.
	readKey func() (keys.EpochKey, error)
	// hold, if set, says whether writes must wait (SetHold).
	hold func() error

	wmu   sync.Mutex // guards queue and running
	queue []*write   // writes waiting to be merged into a commit
	// running: the committer goroutine runs. The space owns it; it ends
	// once the queue is empty and every commit in flight was answered
	// (the store answers every request, with ErrClosed once closed).
	running bool
}

// Open returns the space with ID id held in st, written as dev.
func Open(ctx context.Context, st *store.Store, id keys.SpaceID, dev keys.DeviceKey, clock *commit.Clock) (*Space, error) {
	info, err := st.Space(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &Space{st: st, info: info, dev: dev, clock: clock}
	heads, err := s.st.Heads(ctx, s.info.ID)
	if err != nil {
		return nil, err
	}
	vs, err := s.st.View(ctx, s.info.ID)
	if err != nil {
		return nil, err
	}
	s.clock.Observe(vs.MaxTime)
	if s.access, err = s.st.Access(ctx, s.info.ID); err != nil {
		return nil, err
	}
	s.head = store.Head{Author: s.dev.Author()}
	s.heads = map[keys.AuthorID]store.Head{}
	s.deps = map[keys.AuthorID]keys.CommitID{}
	for _, h := range heads {
		s.heads[h.Author] = h
		if h.Author == s.dev.Author() {
			s.head = h
		} else {
			s.deps[h.Author] = h.ID
		}
	}
	s.trimGen = 1 // depend on no commit that does not count
	return s, nil
}

// ID returns the space's ID.
func (s *Space) ID() keys.SpaceID { return s.info.ID }

// Info returns the space's local description.
func (s *Space) Info() store.SpaceInfo { return s.info }

// Author returns the local device's author ID.
func (s *Space) Author() keys.AuthorID { return s.dev.Author() }

// Observe tells the write path what a store event brought: commits
// applied from elsewhere, so the next local commit depends on them and is
// dated after them, except those that do not count (a commit of ours never
// makes peers fetch a voided commit); and, when grants may have changed
// or the space was decided again, that the grants must be read again and
// deps on commits that stopped counting dropped, which the next writer
// does. It runs on the store's applier goroutine (node's hook), so it
// reads nothing: it only updates what it is given, under mu.
func (s *Space) Observe(ev store.Event) {
	voided := make(map[keys.CommitID]bool, len(ev.Voided))
	for _, id := range ev.Voided {
		voided[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh := ev.Redecided || len(ev.Forks) > 0
	for _, c := range ev.Stored {
		s.clock.Observe(c.Time)
		refresh = refresh || hasControl(c) // grants or revocations may have changed
		if voided[c.ID] {
			continue
		}
		if h, ok := s.heads[c.Author]; ok && h.Seq >= c.Seq {
			continue
		}
		if c.Author == s.dev.Author() {
			// The committer keeps the device's own head, but a later
			// commit of its own that arrives from elsewhere is its
			// history coming back (a home restored from a backup, without
			// this space's commits): the next commit follows it rather
			// than signing a second commit at its seq (a fork).
			if c.Seq > s.head.Seq {
				s.head = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
				s.heads[c.Author] = s.head
			}
			continue
		}
		s.heads[c.Author] = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
		s.deps[c.Author] = c.ID
	}
	if refresh {
		s.accessGen++
	}
	if ev.Redecided {
		s.trimGen++
	}
}

// currentAccess returns the space's grants and cuts, read again from the
// store if Observe saw them change since they were last read.
func (s *Space) currentAccess(ctx context.Context) (store.Access, error) {
	s.mu.Lock()
	a, gen, read := s.access, s.accessGen, s.accessRead
	s.mu.Unlock()
	if gen == read {
		return a, nil
	}
	a, err := s.st.Access(ctx, s.info.ID)
	if err != nil {
		return store.Access{}, err
	}
	s.mu.Lock()
	if s.accessRead < gen {
		s.access, s.accessRead = a, gen
	}
	s.mu.Unlock()
	return a, nil
}

// trimDeps replaces each dep on a commit that no longer counts by its
// author's latest commit that does (store.SyncHeads), or drops it, if
// Observe asked for it. The committer calls it before it prepares a
// commit; it reads the store without holding mu.
func (s *Space) trimDeps(ctx context.Context) {
	s.mu.Lock()
	gen, done := s.trimGen, s.trimmed
	s.mu.Unlock()
	if gen == done {
		return
	}
	heads, err := s.st.SyncHeads(ctx, s.info.ID)
	if err != nil {
		return // the deps stay: a dep on a voided commit costs peers a fetch, nothing more
	}
	announced := make(map[keys.AuthorID]store.Head, len(heads))
	for _, h := range heads {
		announced[h.Author] = h
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for a := range s.deps {
		h, ok := announced[a]
		switch {
		case !ok:
			delete(s.deps, a)
		case h.Seq < s.heads[a].Seq:
			s.deps[a] = h.ID
		}
	}
	s.trimmed = max(s.trimmed, gen)
}

func hasControl(c *commit.Commit) bool {
	for i := range c.Ops {
		if c.Ops[i].Kind.IsControl() {
			return true
		}
	}
	return false
}

// canWrite checks, before anything is built or signed, that the device's
// grants allow every op (by the rules every peer applies: package acl), as
// of the grants this node holds now, and that the device has not forked;
// the error names the missing role, or what happened.
func (s *Space) canWrite(ctx context.Context, ops []commit.Op) error {
	if s.hold != nil {
		if err := s.hold(); err != nil {
			return err
		}
	}
	a, err := s.currentAccess(ctx)
	if err != nil {
		return err
	}
	me := s.dev.Author()
	if s.readKey != nil { // data ops will be sealed: check what will be written
		sealed := make([]commit.Op, len(ops))
		for i, o := range ops {
			if o.Kind.IsData() {
				o = commit.Op{Kind: commit.KindSealed}
			}
			sealed[i] = o
		}
		ops = sealed
	}
	if at, ok := a.Forked[me]; ok {
		return s.forkedErr(fmt.Errorf("from seq %d", at))
	}
	if cut, ok := a.Cuts[me]; ok {
		return fmt.Errorf("%w: %s was revoked in space %s (its commits after seq %d do not count); ask an admin for a new invite", ErrReadOnly, me, s.info.Name, cut)
	}
	c := &commit.Commit{Header: commit.Header{Space: s.info.ID, Author: me, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}}, Ops: ops}
	written := func(key []byte) bool { // write-once rules: any write held, the next commit will have seen it
		ws, err := s.st.Writes(ctx, s.info.ID, key, false)
		return err != nil || len(ws) > 0
	}
	if _, err := a.State.CheckNext(c, written); err != nil {
		if re := s.appRuleErr(err, false); re != nil {
			return re // the device may write, but not this
		}
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	}
	return nil
}

// CheckWrite says whether this device may write ops now (an error wrapping
// ErrReadOnly that names the missing role if not), without writing: for
// work to skip before a write, such as storing a blob the write would
// reference.
func (s *Space) CheckWrite(ctx context.Context, ops []commit.Op) error {
	return s.canWrite(ctx, ops)
}

// Get returns the visible entry of key (store.ErrNotFound if none).
func (s *Space) Get(ctx context.Context, key []byte) (view.Entry, error) {
	if err := s.sealed(); err != nil {
		return view.Entry{}, err
	}
	return s.st.Get(ctx, s.info.ID, key)
}

// Range yields visible keys.
func (s *Space) Range(ctx context.Context, q store.Query) iter.Seq2[store.KV, error] {
	if err := s.sealed(); err != nil {
		return func(yield func(store.KV, error) bool) { yield(store.KV{}, err) }
	}
	return s.st.Range(ctx, s.info.ID, q)
}

// Conflicts returns the concurrent writes that lost on key.
func (s *Space) Conflicts(ctx context.Context, key []byte) ([]view.Entry, error) {
	if err := s.sealed(); err != nil {
		return nil, err
	}
	return s.st.Conflicts(ctx, s.info.ID, key)
}

// View returns the view hash and counters.
func (s *Space) View(ctx context.Context) (store.ViewState, error) {
	return s.st.View(ctx, s.info.ID)
}
