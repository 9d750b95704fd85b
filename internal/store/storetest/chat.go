package storetest

import (
	"fmt"
	"math/rand/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Chat is a generated history of many authors writing single-op commits
// as concurrent writers do: a few are active at a time (the active set
// changes as the history goes on), each receives the others' commits in
// the order they were made but a few commits late, and each commit
// depends on the heads it received since its author's previous commit
// (what internal/space puts in Deps).
type Chat struct {
	SpaceKey keys.SpaceKey
	Genesis  *commit.Commit
	Commits  []*commit.Commit // a causal order, genesis excluded
}

// Space returns the space ID.
func (h *Chat) Space() keys.SpaceID { return h.SpaceKey.Space() }

type chatAuthor struct {
	key  keys.DeviceKey
	seq  uint64
	head keys.CommitID
	last commit.HLC // own last time, or the latest time received
	seen int        // commits of the history received (a prefix)
	left int        // commits still to write
}

// GenChat generates n authors' history of per commits each: active
// writers at a time, each commit received up to lag commits late. With
// sparse set, a commit depends on one or two of the heads received
// instead of all: the rest is in its past only through them, if at all.
func GenChat(r *rand.Rand, n, per, active, lag int, sparse bool) *Chat {
	seed := seeds(r)
	sk := keys.SpaceKeyFromSeed(seed())
	h := &Chat{SpaceKey: sk}
	base := Epoch()
	as := make([]*chatAuthor, n)
	grants := make([]commit.Op, n)
	for i := range as {
		as[i] = &chatAuthor{key: keys.DeviceKeyFromSeed(seed()), left: per}
		role := commit.RoleWrite
		if i == 0 {
			role = commit.RoleAdmin
		}
		grants[i] = commit.GrantOp(commit.Grant{Subject: as[i].key.Author(), Role: role})
	}
	h.Genesis = genesisOf(sk, base, grants)
	all := []*commit.Commit{h.Genesis}
	phys := base
	idle := r.Perm(n)
	on := []int{}
	for len(on) < active && len(idle) > 0 {
		on, idle = append(on, idle[0]), idle[1:]
	}
	for len(on) > 0 {
		phys += uint64(r.IntN(3)) * 1000
		i := r.IntN(len(on))
		a := as[on[i]]
		// Receive the commits made so far but the last few.
		upto := max(a.seen, 1, len(all)-r.IntN(lag+1)) // the genesis at least
		latest := map[keys.AuthorID]*commit.Commit{}
		for _, c := range all[a.seen:upto] {
			if c.Author != a.key.Author() {
				latest[c.Author] = c
			}
			if a.last.Less(c.Time) {
				a.last = c.Time
			}
		}
		a.seen = upto
		deps := make([]keys.CommitID, 0, len(latest))
		for _, c := range latest {
			deps = append(deps, c.ID)
		}
		if sparse && len(deps) > 1 {
			r.Shuffle(len(deps), func(i, j int) { deps[i], deps[j] = deps[j], deps[i] })
			deps = deps[:1+r.IntN(2)]
		}
		t := commit.HLC{Wall: phys}
		if !a.last.Less(t) {
			t = commit.HLC{Wall: a.last.Wall, Logical: a.last.Logical + 1}
		}
		key := fmt.Appendf(nil, "k/%04d", r.IntN(1000))
		op := commit.Put(key, fmt.Appendf(nil, "%020d", r.Uint64()%1e18))
		if r.IntN(5) == 0 {
			op = commit.Del(key)
		}
		c := must(commit.Build(commit.Header{Space: h.Space(), Author: a.key.Author(), Seq: a.seq + 1, Prev: a.head, Time: t, Deps: deps}, []commit.Op{op}, a.key))
		a.seq, a.head, a.last = c.Seq, c.ID, t
		a.left--
		all = append(all, c)
		// The active set changes now and then, and when a writer is done.
		if a.left == 0 || (r.IntN(50) == 0 && len(idle) > 0) {
			if a.left > 0 {
				idle = append(idle, on[i])
			}
			on = append(on[:i], on[i+1:]...)
			for len(idle) > 0 {
				j := r.IntN(len(idle))
				next := idle[j]
				idle = append(idle[:j], idle[j+1:]...)
				if as[next].left > 0 {
					on = append(on, next)
					break
				}
			}
		}
	}
	h.Commits = all[1:]
	return h
}
