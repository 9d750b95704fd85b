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

// Space is one space as seen by the local device. It is safe for concurrent use.
type Space struct {
	st    *store.Store
	info  store.SpaceInfo
	dev   keys.DeviceKey
	clock *commit.Clock

	mu    sync.Mutex                      // serializes preparing own commits
	head  store.Head                      // the device's latest commit; guarded by mu
	heads map[keys.AuthorID]store.Head    // latest known head per author; guarded by mu
	deps  map[keys.AuthorID]keys.CommitID // heads seen since our previous commit; guarded by mu
	// submitted is closed once the latest prepared commit has been handed
	// to the store; the next one waits for it, so commits reach the store
	// in seq order although they are signed in parallel. Guarded by mu.
	submitted chan struct{}

	inflight chan struct{} // a slot per commit being signed or synced (maxInFlight)
	access   store.Access  // the space's grants and cuts, as of the last reload; guarded by mu

	// readKey, if set, makes this a private space: it returns the key of
	// the epoch new data ops are sealed under (or an error saying why this
	// device cannot write sealed ops). Set once by SetPrivate before use.
	readKey func() (keys.EpochKey, error)

	wmu     sync.Mutex // guards queue and leading
	queue   []*write   // writes waiting to be merged into a commit
	leading bool       // some goroutine is leading a group
}

// Open returns the space with ID id held in st, written as dev.
func Open(ctx context.Context, st *store.Store, id keys.SpaceID, dev keys.DeviceKey, clock *commit.Clock) (*Space, error) {
	info, err := st.Space(ctx, id)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	close(done)
	s := &Space{st: st, info: info, dev: dev, clock: clock, submitted: done, inflight: make(chan struct{}, maxInFlight)}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the device's head and the other authors' heads from the
// store. After it, the next commit depends on every other author's head.
// Callers hold s.mu (or own s exclusively).
func (s *Space) reload(ctx context.Context) error {
	heads, err := s.st.Heads(ctx, s.info.ID)
	if err != nil {
		return err
	}
	vs, err := s.st.View(ctx, s.info.ID)
	if err != nil {
		return err
	}
	s.clock.Observe(vs.MaxTime)
	if s.access, err = s.st.Access(ctx, s.info.ID); err != nil {
		return err
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
	s.trimDeps(ctx) // depend on no commit that does not count
	return nil
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
// makes peers fetch a voided commit); and, when the space was decided
// again, it drops deps on commits that stopped counting and reloads the
// grants. It runs on the store's applier goroutine (node's hook): it reads
// the store but never writes.
func (s *Space) Observe(ev store.Event) {
	voided := make(map[keys.CommitID]bool, len(ev.Voided))
	for _, id := range ev.Voided {
		voided[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh := ev.Redecided
	for _, c := range ev.Stored {
		s.clock.Observe(c.Time)
		refresh = refresh || hasControl(c) // grants or revocations may have changed
		if voided[c.ID] {
			continue
		}
		if h, ok := s.heads[c.Author]; ok && h.Seq >= c.Seq {
			continue
		}
		s.heads[c.Author] = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
		if c.Author != s.dev.Author() {
			s.deps[c.Author] = c.ID
		}
	}
	if refresh {
		if a, err := s.st.Access(context.Background(), s.info.ID); err == nil {
			s.access = a
		}
	}
	if ev.Redecided {
		s.trimDeps(context.Background())
	}
}

// trimDeps replaces each dep on a commit that no longer counts by its
// author's latest commit that does (store.SyncHeads), or drops it.
// Callers hold s.mu.
func (s *Space) trimDeps(ctx context.Context) {
	heads, err := s.st.SyncHeads(ctx, s.info.ID)
	if err != nil {
		return // the deps stay: a dep on a voided commit costs peers a fetch, nothing more
	}
	announced := make(map[keys.AuthorID]store.Head, len(heads))
	for _, h := range heads {
		announced[h.Author] = h
	}
	for a := range s.deps {
		h, ok := announced[a]
		switch {
		case !ok:
			delete(s.deps, a)
		case h.Seq < s.heads[a].Seq:
			s.deps[a] = h.ID
		}
	}
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
// of the grants this node holds now; the error names the missing role.
func (s *Space) canWrite(ops []commit.Op) error {
	s.mu.Lock()
	a := s.access
	s.mu.Unlock()
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
	if cut, ok := a.Cuts[me]; ok {
		return fmt.Errorf("%w: %s was revoked in space %s (its commits after seq %d do not count); ask an admin for a new invite", ErrReadOnly, me, s.info.Name, cut)
	}
	c := &commit.Commit{Header: commit.Header{Space: s.info.ID, Author: me, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}}, Ops: ops}
	if _, err := a.State.Check(c, func(keys.AuthorID, uint64) bool { return true }); err != nil {
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	}
	return nil
}

// CheckWrite says whether this device may write ops now (an error wrapping
// ErrReadOnly that names the missing role if not), without writing: for
// work to skip before a write, such as storing a blob the write would
// reference.
func (s *Space) CheckWrite(ops []commit.Op) error { return s.canWrite(ops) }

// Get returns the visible entry of key (store.ErrNotFound if none).
func (s *Space) Get(ctx context.Context, key []byte) (view.Entry, error) {
	return s.st.Get(ctx, s.info.ID, key)
}

// Range yields visible keys.
func (s *Space) Range(ctx context.Context, q store.Query) iter.Seq2[store.KV, error] {
	return s.st.Range(ctx, s.info.ID, q)
}

// Conflicts returns the concurrent writes that lost on key.
func (s *Space) Conflicts(ctx context.Context, key []byte) ([]view.Entry, error) {
	return s.st.Conflicts(ctx, s.info.ID, key)
}

// View returns the view hash and counters.
func (s *Space) View(ctx context.Context) (store.ViewState, error) {
	return s.st.View(ctx, s.info.ID)
}
