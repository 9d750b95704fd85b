package space

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

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

	mu    sync.Mutex                      // serializes building and submitting own commits
	head  store.Head                      // the device's latest commit; guarded by mu
	heads map[keys.AuthorID]store.Head    // latest known head per author; guarded by mu
	deps  map[keys.AuthorID]keys.CommitID // heads seen since our previous commit; guarded by mu
}

// Open returns the space with ID id held in st, written as dev.
func Open(ctx context.Context, st *store.Store, id keys.SpaceID, dev keys.DeviceKey, clock *commit.Clock) (*Space, error) {
	info, err := st.Space(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &Space{st: st, info: info, dev: dev, clock: clock}
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
	return nil
}

// ID returns the space's ID.
func (s *Space) ID() keys.SpaceID { return s.info.ID }

// Info returns the space's local description.
func (s *Space) Info() store.SpaceInfo { return s.info }

// Author returns the local device's author ID.
func (s *Space) Author() keys.AuthorID { return s.dev.Author() }

// Observe tells the write path about commits applied from elsewhere, so the
// next local commit depends on them and is dated after them.
func (s *Space) Observe(cs []*commit.Commit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.clock.Observe(c.Time)
		if h, ok := s.heads[c.Author]; ok && h.Seq >= c.Seq {
			continue
		}
		s.heads[c.Author] = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
		if c.Author != s.dev.Author() {
			s.deps[c.Author] = c.ID
		}
	}
}

// Commit writes ops as the device's next commit and returns once it is
// durable. It returns the commit and the store's result.
func (s *Space) Commit(ctx context.Context, ops []commit.Op) (*commit.Commit, error) {
	if err := s.canWrite(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	deps := make([]keys.CommitID, 0, len(s.deps))
	for _, id := range s.deps {
		if len(deps) == commit.MaxDeps {
			break
		}
		deps = append(deps, id)
	}
	h := commit.Header{
		Space:  s.info.ID,
		Author: s.dev.Author(),
		Seq:    s.head.Seq + 1,
		Prev:   s.head.ID,
		Time:   s.clock.Now(),
		Deps:   deps,
	}
	c, err := commit.Build(h, ops, s.dev)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	t := s.st.Submit(s.info.ID, []*commit.Commit{c})
	s.head = store.Head{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
	s.heads[c.Author] = s.head
	clear(s.deps)
	s.mu.Unlock()

	res, err := t.Wait(ctx)
	if err == nil && res.Outcomes[0].Status != store.Applied {
		err = fmt.Errorf("space: commit %s: %s: %w", c, res.Outcomes[0].Status, res.Outcomes[0].Err)
	}
	if err != nil {
		// Later commits built on this one will fail too; start again from
		// what the store holds.
		s.mu.Lock()
		if rerr := s.reload(context.Background()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		s.mu.Unlock()
		return nil, err
	}
	return c, nil
}

// canWrite checks the device's grant before anything is built.
func (s *Space) canWrite(ctx context.Context) error {
	grants, err := s.st.Grants(ctx, s.info.ID)
	if err != nil {
		return err
	}
	if r := grants[s.dev.Author()]; r != commit.RoleWrite && r != commit.RoleAdmin {
		if r == 0 {
			return fmt.Errorf("%w: %s has no grant in %s (ask an admin for a write invite)", ErrReadOnly, s.dev.Author(), s.info.Name)
		}
		return fmt.Errorf("%w: %s has the %s role in %s, writing needs write (ask an admin)", ErrReadOnly, s.dev.Author(), r, s.info.Name)
	}
	return nil
}

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
