package acl

import (
	"bytes"
	"container/heap"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Loc names a commit by author and seq.
type Loc struct {
	Author keys.AuthorID
	Seq    uint64
}

// Revocation is a revocation that took effect: By's commit Seq, at Time,
// cut Author at LastSeq (a device revocation or a person's revocation
// says so in Cut).
type Revocation struct {
	Cut
	By   keys.AuthorID
	Seq  uint64
	Time commit.HLC
}

// Decision is the authorization of a set of commits (see Evaluate).
type Decision struct {
	// Invalid holds the commits that do not count, with the reason: an
	// error wrapping ErrRevoked, ErrUsedUp, ErrForked or ErrDenied.
	Invalid map[Loc]error
	// Cuts holds, per revoked author, the lowest accepted cut.
	Cuts map[keys.AuthorID]uint64
	// Revocations are the accepted revocations, in decision order.
	Revocations []Revocation
	// Grants are the grants to devices of valid commits, in decision order.
	Grants []Grant
	// People are the grants to people of valid commits, and Certs the
	// device certificates they carry, in decision order.
	People, Certs []Grant
	// Joined lists, per invite key, the joiners it admitted, first first.
	Joined map[keys.AuthorID][]keys.AuthorID
	// Schemas are the schema declarations of valid commits, in decision
	// order.
	Schemas []Schema

	once     *onceWrites         // the writes tracked for write-once rules (once.go)
	declared map[string][]Schema // every declaration of the set, counting or not (schema.go)
}

// AddGrant appends g, a grant of a commit that counts, to the list of
// its kind: People, Certs or Grants.
func (d *Decision) AddGrant(g Grant) {
	switch {
	case g.IsPerson():
		d.People = append(d.People, g)
	case g.IsCert():
		d.Certs = append(d.Certs, g)
	default:
		d.Grants = append(d.Grants, g)
	}
}

// Valid reports whether the commit (author, seq) counts.
func (d *Decision) Valid(author keys.AuthorID, seq uint64) bool {
	_, bad := d.Invalid[Loc{author, seq}]
	return !bad
}

// State returns the grants of d as a State (for deciding new commits). It
// holds the grants of the commits that count only: a caller holding those
// of every commit links them with Ground (SchemaError.Followed).
func (d *Decision) State(sp keys.SpaceID) *State {
	s := New(sp)
	for _, gs := range [][]Grant{d.Grants, d.People, d.Certs} {
		for _, g := range gs {
			s.Add(g)
		}
	}
	for _, sc := range d.Schemas {
		s.AddSchema(sc)
	}
	s.once = d.once.clone()
	for _, scs := range d.declared {
		for _, sc := range scs {
			s.declare(sc)
		}
	}
	return s
}

// Equal reports whether d and e decide the same commits invalid with the
// same cuts.
func (d *Decision) Equal(e *Decision) bool {
	if len(d.Invalid) != len(e.Invalid) || len(d.Cuts) != len(e.Cuts) {
		return false
	}
	for l := range d.Invalid {
		if _, ok := e.Invalid[l]; !ok {
			return false
		}
	}
	for a, c := range d.Cuts {
		if ec, ok := e.Cuts[a]; !ok || ec != c {
			return false
		}
	}
	return true
}

// node is one commit in the decision order.
type node struct {
	c  *commit.Commit
	vv map[keys.AuthorID]uint64 // causal past; may be shared with the author's previous commit
}

func (n *node) seen(au keys.AuthorID, seq uint64) bool {
	if au == n.c.Author {
		return seq < n.c.Seq
	}
	return n.vv[au] >= seq
}

// Evaluate decides every commit of cs, the main-chain commits of one space
// (each author's commits contiguous from seq 1, in any order), as a pure
// function of the set: the same set gives the same Decision whatever order
// it is given in. forked gives each forked author's fork seq. Deps naming
// commits outside cs are ignored. See the package documentation for the
// rules.
func Evaluate(sp keys.SpaceID, cs []*commit.Commit, forked map[keys.AuthorID]uint64) *Decision {
	vc := newVerified()
	return evaluate(&evaluator{space: sp, order: decisionOrder(cs), forked: forked, devices: devicesOf(cs, vc), verified: vc, declared: declared(cs), erased: erasedBy(cs)})
}

// erasedBy returns the ops that erase ops of cs name, counting or not.
func erasedBy(cs []*commit.Commit) map[EraseTarget]bool {
	var out map[EraseTarget]bool
	for _, c := range cs {
		for _, t := range EraseTargets(c) {
			if out == nil {
				out = map[EraseTarget]bool{}
			}
			out[EraseTarget{ID: t.ID, Op: t.Op}] = true
		}
	}
	return out
}

// evaluate decides the commits of e.order (see Evaluate).
func evaluate(e *evaluator) *Decision {
	sp, order := e.space, e.order
	cuts := map[keys.AuthorID]uint64{}
	cur := e.pass(cuts)
	type cand struct {
		i int
		r Cut
	}
	var accepted []cand
	var revs []Revocation
	for i, n := range order {
		for _, r := range cur.revokes[i] {
			if _, bad := cur.invalid[i]; bad || r.Author == keys.AuthorID(sp) {
				continue // a revocation whose commit does not count when looked at is ignored (cuts remove commits; with app rules, #15, they may also bring back some, but a revocation is looked at once)
			}
			if cut, ok := cuts[r.Author]; !ok || r.LastSeq < cut {
				trial := make(map[keys.AuthorID]uint64, len(cuts)+1)
				for a, v := range cuts {
					trial[a] = v
				}
				trial[r.Author] = r.LastSeq
				next := e.pass(trial)
				ok := true
				if _, bad := next.invalid[i]; bad {
					ok = false
				}
				for _, a := range accepted {
					if _, bad := next.invalid[a.i]; bad {
						ok = false
					}
				}
				if !ok {
					continue
				}
				cuts, cur = trial, next
			}
			accepted = append(accepted, cand{i, r})
			revs = append(revs, Revocation{Cut: r, By: n.c.Author, Seq: n.c.Seq, Time: n.c.Time})
		}
	}
	d := &Decision{Invalid: map[Loc]error{}, Cuts: cuts, Revocations: revs, Joined: cur.joined, Schemas: cur.schemas, once: cur.once, declared: cur.declared}
	for _, g := range cur.grants {
		d.AddGrant(g)
	}
	for i, err := range cur.invalid {
		c := order[i].c
		d.Invalid[Loc{c.Author, c.Seq}] = err
	}
	return d
}

// Grounded returns the grants (person grants and certificates too) of
// every commit of cs that the grants of its causal past allow,
// revocations, invite uses and app rules aside: what a store's grounded
// state holds once it stores cs (it stores no commit but those). Link it
// to the State that decides with Ground.
func Grounded(sp keys.SpaceID, cs []*commit.Commit) *State {
	st := groundPass(sp, decisionOrder(cs), newVerified())
	st.verified = nil
	return st
}

// groundPass decides every commit of order against the grants of every
// commit before it, counting or not, and returns them.
func groundPass(sp keys.SpaceID, order []*node, vc *verified) *State {
	st := New(sp)
	st.verified = vc
	for _, n := range order {
		v, err := st.Check(n.c, n.seen)
		if err != nil {
			continue
		}
		for _, g := range v.Grants {
			st.Add(g)
		}
	}
	return st
}

type evaluator struct {
	space    keys.SpaceID
	order    []*node
	forked   map[keys.AuthorID]uint64
	devices  map[keys.IdentityID][]keys.AuthorID // every certified device, by identity (devicesOf)
	verified *verified                           // shared by the passes
	declared []Schema                            // every schema declaration of the set, counting or not (for write-once rules)
	erased   map[EraseTarget]bool                // the ops erase ops of the set name, counting or not (ruleOp)
	ground   *State                              // the grants of every commit of the set, counting or not; nil until grounded
}

// grounded returns the grants of every commit of the set, counting or not
// (groundPass), computed once, when a pass first needs them: for a commit
// refused by app rules only (SchemaError.Followed).
func (e *evaluator) grounded() *State {
	if e.ground == nil {
		e.ground = groundPass(e.space, e.order, e.verified)
	}
	return e.ground
}

// declared returns the schema declarations of every commit of cs whose
// body decodes, counting or not: the bodies whose once rules a pass
// watches from its start (once.go).
func declared(cs []*commit.Commit) []Schema {
	var out []Schema
	for _, c := range cs {
		out = appendDeclared(out, c)
	}
	return out
}

// appendDeclared appends the schema declarations of c whose body decodes.
func appendDeclared(out []Schema, c *commit.Commit) []Schema {
	for i := range c.Ops {
		if c.Ops[i].Kind != commit.KindSchema {
			continue
		}
		sc, err := commit.DecodeSchema(c.Ops[i])
		if err != nil {
			continue
		}
		out = append(out, Schema{Granter: c.Author, Seq: c.Seq, App: sc.App, Version: sc.Version, Body: sc.Body})
	}
	return out
}

type passResult struct {
	invalid  map[int]error
	revokes  map[int][]Cut
	grants   []Grant
	schemas  []Schema
	joined   map[keys.AuthorID][]keys.AuthorID
	once     *onceWrites
	declared map[string][]Schema
}

// pass decides every commit in decision order with fixed cuts.
func (e *evaluator) pass(cuts map[keys.AuthorID]uint64) *passResult {
	p := &passResult{invalid: map[int]error{}, revokes: map[int][]Cut{}, joined: map[keys.AuthorID][]keys.AuthorID{}}
	st := New(e.space)
	st.verified = e.verified
	st.groundFn = e.grounded
	if e.erased != nil {
		st.erasing = func(id keys.CommitID, op uint32) bool { return e.erased[EraseTarget{id, op}] }
	}
	for _, sc := range e.declared {
		st.Watch(sc)
	}
	defer func() { p.once, p.declared = st.once, st.declared }()
	for i, n := range e.order {
		c := n.c
		if fs, ok := e.forked[c.Author]; ok && c.Seq >= fs {
			p.invalid[i] = fmt.Errorf("%w at seq %d", ErrForked, fs)
			continue
		}
		if cut, ok := cuts[c.Author]; ok && c.Seq > cut {
			p.invalid[i] = fmt.Errorf("%w: %s is cut after seq %d", ErrRevoked, c.Author, cut)
			continue
		}
		v, err := st.Check(c, n.seen)
		if err != nil {
			p.invalid[i] = err
			continue
		}
		if err := admit(p.joined, v.Uses, cuts); err != nil {
			p.invalid[i] = err
			continue
		}
		for _, g := range v.Grants {
			st.Add(g)
		}
		st.Record(c)
		p.grants = append(p.grants, v.Grants...)
		for _, sc := range v.Schemas {
			st.AddSchema(sc)
		}
		p.schemas = append(p.schemas, v.Schemas...)
		revokes := v.Revokes
		for _, r := range v.People {
			revokes = append(revokes, personCuts(r, e.devices[r.Identity])...)
		}
		if len(revokes) > 0 {
			p.revokes[i] = revokes
		}
	}
	return p
}

// admit counts joins: each use must be of a joiner already admitted by its
// invite or fit in the invite's limit and cut; then all are recorded.
func admit(joined map[keys.AuthorID][]keys.AuthorID, uses []Use, cuts map[keys.AuthorID]uint64) error {
	var add []Use
	for _, u := range uses {
		admitted := joined[u.Invite]
		already := false
		for _, s := range admitted {
			already = already || s == u.Subject
		}
		if already {
			continue
		}
		n := uint64(len(admitted)) + 1
		if u.Limit != 0 && n > uint64(u.Limit) {
			return fmt.Errorf("%w: invite %s allows %d joins, taken before %s", ErrUsedUp, u.Invite.Short(), u.Limit, u.Subject.Short())
		}
		if cut, ok := cuts[u.Invite]; ok && n > cut {
			return fmt.Errorf("%w: invite %s was revoked after %d joins, before %s", ErrUsedUp, u.Invite.Short(), cut, u.Subject.Short())
		}
		add = append(add, u)
	}
	for _, u := range add {
		joined[u.Invite] = append(joined[u.Invite], u.Subject)
	}
	return nil
}

// decisionOrder sorts cs topologically (prev, then deps held in cs),
// taking the least ready commit by (time, author, ID), and computes each
// commit's causal past.
func decisionOrder(cs []*commit.Commit) []*node {
	byID := make(map[keys.CommitID]*commit.Commit, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
	}
	waiting := map[keys.CommitID][]*commit.Commit{} // dep or prev → commits waiting for it
	missing := make(map[keys.CommitID]int, len(cs))
	h := &readyHeap{}
	for _, c := range cs {
		n := 0
		need := func(id keys.CommitID) {
			if _, ok := byID[id]; ok {
				waiting[id] = append(waiting[id], c)
				n++
			}
		}
		if c.Seq > 1 {
			need(c.Prev)
		}
		for _, d := range c.Deps {
			need(d)
		}
		missing[c.ID] = n
		if n == 0 {
			heap.Push(h, c)
		}
	}
	done := make(map[keys.CommitID]*node, len(cs))
	order := make([]*node, 0, len(cs))
	for h.Len() > 0 {
		c := heap.Pop(h).(*commit.Commit)
		n := &node{c: c}
		var prev map[keys.AuthorID]uint64
		if p, ok := done[c.Prev]; ok && c.Seq > 1 {
			prev = p.vv
		}
		// A vector's entry for its own author may be stale: seen answers
		// that from the seq, and a dep's own seq is merged explicitly.
		if len(c.Deps) == 0 && prev != nil {
			n.vv = prev // shared: without deps, it has seen what its previous commit had
		} else {
			n.vv = clone(prev)
			for _, d := range c.Deps {
				if dn, ok := done[d]; ok {
					for a, s := range dn.vv {
						if s > n.vv[a] {
							n.vv[a] = s
						}
					}
					if dn.c.Seq > n.vv[dn.c.Author] {
						n.vv[dn.c.Author] = dn.c.Seq
					}
				}
			}
		}
		done[c.ID] = n
		order = append(order, n)
		for _, w := range waiting[c.ID] {
			if missing[w.ID]--; missing[w.ID] == 0 {
				heap.Push(h, w)
			}
		}
	}
	return order
}

func clone(m map[keys.AuthorID]uint64) map[keys.AuthorID]uint64 {
	out := make(map[keys.AuthorID]uint64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// readyHeap orders ready commits by (time, author, ID).
type readyHeap []*commit.Commit

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)   { *h = append(*h, x.(*commit.Commit)) }
func (h *readyHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
