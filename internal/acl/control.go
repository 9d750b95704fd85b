package acl

import (
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Placed is a commit with its causal past: the highest seq of every other
// author it saw (its own commits before it it saw too).
type Placed struct {
	C    *commit.Commit
	Past map[keys.AuthorID]uint64
}

// DataOnly reports whether every op of c writes data (put, del, putblob):
// such a commit gives no grant, rule, join or revocation.
func DataOnly(c *commit.Commit) bool {
	for i := range c.Ops {
		if !c.Ops[i].Kind.IsData() {
			return false
		}
	}
	return true
}

// EvaluateControl is Evaluate in two levels, for a set of commits no one
// of which declares app rules (no schema op) and without forks: control
// are the set's commits that are not DataOnly, in the set's decision order
// (decisionOrder over the whole set), each with its causal past in the
// whole set. It decides them as Evaluate does over the whole set; then
// DecideData decides each data-only commit, in any order.
//
// Why that is Evaluate: without app rules, write-once rules or forks, a
// data-only commit's decision in a pass depends on the cuts and on the
// grants in its causal past only, and changes nothing the pass carries
// (it gives no grant, use, revocation or tracked write). So every pass
// decides the control commits as it would over them alone, in their
// relative order, with their pasts; the greedy walk over the revocations
// looks at control commits only.
func EvaluateControl(sp keys.SpaceID, control []Placed, forked map[keys.AuthorID]uint64) *Decision {
	order := make([]*node, len(control))
	cs := make([]*commit.Commit, len(control))
	for i, p := range control {
		order[i], cs[i] = &node{c: p.C, vv: p.Past}, p.C
	}
	vc := newVerified()
	return evaluate(&evaluator{space: sp, order: order, forked: forked, devices: devicesOf(cs, vc), verified: vc})
}

// DecideData returns why the data-only commit c does not count under d
// (EvaluateControl), or nil: st is d.State(sp), seen c's causal past. It
// is the pass with d's cuts deciding c: the grants that count in c's
// causal past are those of st that seen holds.
func DecideData(st *State, d *Decision, c *commit.Commit, seen SeenFunc, forked map[keys.AuthorID]uint64) error {
	if fs, ok := forked[c.Author]; ok && c.Seq >= fs {
		return fmt.Errorf("%w at seq %d", ErrForked, fs)
	}
	if cut, ok := d.Cuts[c.Author]; ok && c.Seq > cut {
		return fmt.Errorf("%w: %s is cut after seq %d", ErrRevoked, c.Author, cut)
	}
	_, err := st.Check(c, seen)
	return err
}

// Placements returns the commits of cs (as Evaluate takes them) in
// decision order, each with its causal past in cs: what a caller holding
// every commit gives EvaluateControl (the store walks its rows instead).
func Placements(cs []*commit.Commit) []Placed {
	order := decisionOrder(cs, nil)
	out := make([]Placed, len(order))
	for i, n := range order {
		past := make(map[keys.AuthorID]uint64, len(n.vv))
		for a, s := range n.vv {
			if a != n.c.Author && s > 0 {
				past[a] = s
			}
		}
		out[i] = Placed{C: n.c, Past: past}
	}
	return out
}

// Seen answers for p's causal past.
func (p Placed) Seen(au keys.AuthorID, seq uint64) bool {
	if au == p.C.Author {
		return seq < p.C.Seq
	}
	return p.Past[au] >= seq
}
