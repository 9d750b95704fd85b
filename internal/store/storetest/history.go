package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// History is a generated history of one space: a genesis commit by the
// space key, then commits by several authors who write, delete and
// occasionally learn each other's commits (gossip), so some writes are
// causally ordered and some concurrent.
type History struct {
	SpaceKey keys.SpaceKey
	Authors  []keys.DeviceKey
	Commits  []*commit.Commit // a causal order: genesis first
	VVs      map[keys.CommitID]view.VV
}

// Space returns the space ID.
func (h *History) Space() keys.SpaceID { return h.SpaceKey.Space() }

// Gen configures GenHistory.
type Gen struct {
	Authors  int // writing authors (besides the space key)
	Ops      int // data ops to write in total (at least)
	Keys     int // size of the key pool: smaller means more conflicts
	MaxBatch int // ops per commit: 1..MaxBatch
}

type author struct {
	key      keys.DeviceKey
	seq      uint64
	head     keys.CommitID
	last     commit.HLC
	skew     int64                            // µs added to the shared physical clock
	known    map[keys.AuthorID]*commit.Commit // latest known commit per author
	newSince map[keys.AuthorID]keys.CommitID  // deps for the next commit
}

// seqOf returns the seq of the latest commit a knows of t (0: none).
func (a *author) seqOf(t *author) uint64 {
	if c := a.known[t.key.Author()]; c != nil {
		return c.Seq
	}
	return 0
}

// GenHistory generates a history from r.
func GenHistory(r *rand.Rand, g Gen) *History {
	seed := seeds(r)
	h := newHistory(seed)
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	phys := base // the shared physical clock, advanced in coarse steps to make ties

	var grants []commit.Op
	as := make([]*author, g.Authors)
	for i := range as {
		k := keys.DeviceKeyFromSeed(seed())
		h.Authors = append(h.Authors, k)
		role := commit.RoleWrite
		if i == 0 {
			role = commit.RoleAdmin
		}
		grants = append(grants, commit.GrantOp(commit.Grant{Subject: k.Author(), Role: role}))
		as[i] = newAuthor(r, k)
	}
	h.begin(base, grants, as)

	walk(r, g, h, as, phys, func(_ int, a *author) []commit.Op {
		batch := make([]commit.Op, 1+r.IntN(g.MaxBatch))
		for i := range batch {
			key := fmt.Appendf(nil, "k/%02d", r.IntN(g.Keys))
			if r.IntN(5) == 0 {
				batch[i] = commit.Del(key)
			} else {
				batch[i] = commit.Put(key, fmt.Appendf(nil, "%s:%d:%d", a.key.Author().Short(), a.seq+1, i))
			}
		}
		return batch
	})
	return h
}

// walk writes a history's commits after its start, at physical time
// phys on: until g.Ops ops are written, the clock moves on and an author
// pick draws commits the ops next draws for it (a, as[ai]).
func walk(r *rand.Rand, g Gen, h *History, as []*author, phys uint64, next func(ai int, a *author) []commit.Op) {
	for ops := 0; ops < g.Ops; {
		phys += uint64(r.IntN(3)) * 1000
		ai, a, acts := pick(r, as)
		if !acts {
			continue
		}
		batch := next(ai, a)
		ops += len(batch)
		c := a.build(h.Space(), phys, batch)
		h.add(c)
		a.wrote(c)
	}
}

// pick draws the next author to act, as[ai]; 3 times in 10 it learns
// everything another knows instead (gossip), and acts is false.
func pick(r *rand.Rand, as []*author) (ai int, a *author, acts bool) {
	ai = r.IntN(len(as))
	a = as[ai]
	if r.IntN(10) < 3 {
		if b := as[r.IntN(len(as))]; b != a {
			a.learn(b)
		}
		return ai, a, false
	}
	return ai, a, true
}

// seeds returns a function that draws a 32-byte key seed from r.
func seeds(r *rand.Rand) func() [32]byte {
	return func() (s [32]byte) {
		for i := range s {
			s[i] = byte(r.UintN(256))
		}
		return
	}
}

// newHistory starts an empty history of a space whose key comes from seed.
func newHistory(seed func() [32]byte) *History {
	return &History{SpaceKey: keys.SpaceKeyFromSeed(seed()), VVs: map[keys.CommitID]view.VV{}}
}

// newAuthor is author k, with a clock skew drawn from r, who knows nothing yet.
func newAuthor(r *rand.Rand, k keys.DeviceKey) *author {
	return &author{key: k, skew: int64(r.IntN(5)) * 1000, known: map[keys.AuthorID]*commit.Commit{}, newSince: map[keys.AuthorID]keys.CommitID{}}
}

// genesisOf is the genesis commit of sk's space: ops signed by sk at time base.
func genesisOf(sk keys.SpaceKey, base uint64, ops []commit.Op) *commit.Commit {
	return must(commit.Build(commit.Header{Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: base}}, ops, sk))
}

// begin adds the genesis commit of ops at time base to h and returns it:
// every author of as starts from it.
func (h *History) begin(base uint64, ops []commit.Op, as []*author) *commit.Commit {
	genesis := genesisOf(h.SpaceKey, base, ops)
	h.add(genesis)
	for _, a := range as {
		a.known[genesis.Author] = genesis
		a.newSince[genesis.Author] = genesis.ID
	}
	return genesis
}

// build signs a's next commit of ops in space sp, at the shared physical
// time phys plus a's skew. Its HLC is after a's last commit and after
// everything a knows, and it depends on what a learnt since its last
// commit.
func (a *author) build(sp keys.SpaceID, phys uint64, ops []commit.Op) *commit.Commit {
	t := commit.HLC{Wall: uint64(int64(phys) + a.skew)}
	after := a.last
	for _, c := range a.known {
		if after.Less(c.Time) {
			after = c.Time
		}
	}
	if !after.Less(t) {
		t = commit.HLC{Wall: after.Wall, Logical: after.Logical + 1}
	}
	deps := make([]keys.CommitID, 0, len(a.newSince))
	for _, id := range a.newSince {
		deps = append(deps, id)
	}
	return must(commit.Build(commit.Header{Space: sp, Author: a.key.Author(), Seq: a.seq + 1, Prev: a.head, Time: t, Deps: deps}, ops, a.key))
}

// wrote records c, built by build, as a's latest commit.
// learn is gossip: a learns every commit b knows of that is newer than
// what a knows of its author (a's own excepted), as deps for its next one.
func (a *author) learn(b *author) {
	for au, c := range b.known {
		if cur, ok := a.known[au]; (!ok || cur.Seq < c.Seq) && au != a.key.Author() {
			a.known[au] = c
			a.newSince[au] = c.ID
		}
	}
}

func (a *author) wrote(c *commit.Commit) {
	a.seq, a.head, a.last = c.Seq, c.ID, c.Time
	a.known[a.key.Author()] = c
	clear(a.newSince)
}

// add appends c and computes its version vector from its prev and deps.
func (h *History) add(c *commit.Commit) {
	h.VVs[c.ID] = h.vvOf(c)
	h.Commits = append(h.Commits, c)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Model is the expected view of a set of commits.
type Model struct {
	Cells map[string]view.Cell // key → live writes, greatest version first
	Hash  view.Hash
	Keys  int64 // visible keys
}

// Expect computes the view of the history's commits from first principles,
// leaving out authors' commits from forked[author] on.
func (h *History) Expect(forked map[keys.AuthorID]uint64) Model {
	return h.expect(func(c *commit.Commit) bool {
		fs, ok := forked[c.Author]
		return !ok || c.Seq < fs
	})
}

// expect computes the view of the commits that count.
func (h *History) expect(counts func(*commit.Commit) bool) Model {
	type write struct {
		e  view.Entry
		vv view.VV
	}
	byKey := map[string][]write{}
	for _, c := range h.Commits {
		if !counts(c) {
			continue
		}
		for i, o := range c.Ops {
			if !o.Kind.IsData() {
				continue
			}
			byKey[string(o.Key)] = append(byKey[string(o.Key)], write{
				e:  view.Entry{Version: view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)}, Kind: o.Kind, Value: o.Payload},
				vv: h.VVs[c.ID],
			})
		}
	}
	m := Model{Cells: map[string]view.Cell{}}
	for k, ws := range byKey {
		var live []view.Entry
		for _, w := range ws {
			superseded := false
			for _, o := range ws {
				if o.e.Version == w.e.Version {
					continue
				}
				sameCommitLater := o.e.Author == w.e.Author && o.e.Seq == w.e.Seq && o.e.Op > w.e.Op
				if sameCommitLater || (o.e.Author == w.e.Author && o.e.Seq > w.e.Seq) || (o.e.Author != w.e.Author && o.vv.Saw(w.e.Author, w.e.Seq)) {
					superseded = true
					break
				}
			}
			if !superseded {
				live = append(live, w.e)
			}
		}
		slices.SortFunc(live, func(a, b view.Entry) int { return b.Version.Compare(a.Version) })
		c := view.Cell{Live: live}
		m.Cells[k] = c
		if d, ok := c.VisibleDigest([]byte(k)); ok {
			m.Hash.Toggle(d)
			m.Keys++
		}
	}
	return m
}

// SortedKeys returns the model's visible keys in order.
func (m Model) SortedKeys() []string {
	var out []string
	for k, c := range m.Cells {
		if w, ok := c.Winner(); ok && !w.Tombstone() {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// EqualEntries reports whether two entry lists are the same writes.
func EqualEntries(a, b []view.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y view.Entry) bool {
		return x.Version == y.Version && x.Kind == y.Kind && bytes.Equal(x.Value, y.Value)
	})
}
