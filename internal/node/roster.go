package node

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// rosterMaxAge bounds how long a space's roster is reused without an
// event that changes it: roles also end with time (expiring grants),
// which the cache knows of, and this is the safety net.
const rosterMaxAge = 10 * time.Minute

// rosters keeps the last roster of each space (space.Roster reads the
// store's rows and decodes the space's control commits: its cost grows
// with the grants, joins, certificates and revocations, not with the data
// commits), so that the web UI asking for the members every 30 s, and
// status pages, cost a map lookup while the membership did not change. Any store event that
// may change it (a control op, a voided commit, a fork, a re-decision, a
// profile written) makes the space's entry stale.
type rosters struct {
	mu    sync.Mutex
	gen   map[keys.SpaceID]uint64 // bumped by every event that may change the roster
	cache map[keys.SpaceID]rosterEntry
	reads int // rosters computed (tests)
}

type rosterEntry struct {
	gen     uint64
	until   time.Time
	members []space.Member
	people  []space.Person
}

// observe marks sp's roster stale if ev may change it.
func (r *rosters) observe(ev store.Event) {
	if !rosterEvent(ev) {
		return
	}
	r.mu.Lock()
	if r.gen == nil {
		r.gen = map[keys.SpaceID]uint64{}
	}
	r.gen[ev.Space]++
	r.mu.Unlock()
}

func rosterEvent(ev store.Event) bool {
	if ev.Redecided || len(ev.Forks) > 0 || len(ev.Voided) > 0 {
		return true
	}
	for _, c := range ev.Stored {
		for i := range c.Ops {
			if !c.Ops[i].Kind.IsData() {
				return true
			}
		}
	}
	for _, ch := range ev.Changes {
		if bytes.HasPrefix(ch.Key, []byte(space.ProfilePrefix)) {
			return true
		}
	}
	return false
}

// get returns sp's roster, computed again only when stale.
func (r *rosters) get(ctx context.Context, st *store.Store, sp keys.SpaceID) ([]space.Member, []space.Person, error) {
	now := time.Now()
	r.mu.Lock()
	gen := r.gen[sp]
	e, ok := r.cache[sp]
	r.mu.Unlock()
	if ok && e.gen == gen && now.Before(e.until) {
		return slices.Clone(e.members), slices.Clone(e.people), nil
	}
	ms, ps, err := space.Roster(ctx, st, sp)
	if err != nil {
		return nil, nil, err
	}
	e = rosterEntry{gen: gen, until: now.Add(rosterMaxAge), members: ms, people: ps}
	ends := func(t time.Time) {
		if !t.IsZero() && t.After(now) && t.Before(e.until) {
			e.until = t
		}
	}
	for _, m := range ms {
		for _, g := range m.Grants {
			ends(g.Expires)
		}
	}
	for _, p := range ps {
		for _, g := range p.Grants {
			ends(g.Expires)
		}
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[keys.SpaceID]rosterEntry{}
	}
	r.cache[sp] = e
	r.reads++
	r.mu.Unlock()
	return slices.Clone(ms), slices.Clone(ps), nil
}

// forget drops sp's roster (the space was left).
func (r *rosters) forget(sp keys.SpaceID) {
	r.mu.Lock()
	delete(r.cache, sp)
	if r.gen == nil {
		r.gen = map[keys.SpaceID]uint64{}
	}
	r.gen[sp]++
	r.mu.Unlock()
}
