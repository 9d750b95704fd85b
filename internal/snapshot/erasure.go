package snapshot

import (
	"bytes"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Who erased a write, as the cells section says: of the erase ops of S(F)
// that count, name the write and have it in their causal past, the first
// by (time, author, seq). A store records the erase it applied last, which
// depends on the order erases arrived in when two members erase the same
// write concurrently; the section must not, or replicas holding the same
// S(F) would compute different checkpoints.

// opAt names one op of a commit of S(F).
type opAt struct {
	locOf
	op uint32
}

// erasers indexes the erase commits of S(F) by the ops they name.
func (s *sf) erasers() map[opAt][]*commit.Commit {
	out := map[opAt][]*commit.Commit{}
	for _, c := range s.order {
		for _, o := range c.Ops {
			if o.Kind != commit.KindErase {
				continue
			}
			e, err := commit.DecodeErase(o)
			if err != nil {
				continue // ignored, as acl and the store ignore it
			}
			for _, t := range e.Targets {
				k := opAt{locOf{t.Author, t.Seq}, t.Op}
				if l := out[k]; len(l) == 0 || l[len(l)-1] != c {
					out[k] = append(out[k], c)
				}
			}
		}
	}
	return out
}

// erasureOf returns the erasure of op (author, seq, op), which src records
// as erased: the first erase of S(F) that applied to it (see above).
func (s *sf) erasureOf(at opAt, voided map[acl.Loc]string) (store.Erasure, error) {
	target := s.at[at.locOf]
	var best *commit.Commit
	for _, c := range s.eras[at] {
		if _, v := voided[acl.Loc{Author: c.Author, Seq: c.Seq}]; v {
			continue
		}
		if best != nil && !earlier(c, best) {
			continue
		}
		if s.applies(c, target, at) {
			best = c
		}
	}
	if best == nil {
		return store.Erasure{}, fmt.Errorf("snapshot: %s seq %d op %d is recorded erased, and no erase of S(F) that counts applies to it", at.author.Short(), at.seq, at.op)
	}
	return store.Erasure{By: best.Author, Seq: best.Seq, Time: best.Time}, nil
}

// earlier orders commits by (time, author, seq).
func earlier(a, b *commit.Commit) bool {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}

// applies reports whether an erase op of c names op at of target as the
// store applies it: the target in c's causal past, naming the op held.
func (s *sf) applies(c, target *commit.Commit, at opAt) bool {
	if target == nil {
		return false
	}
	named := false
	for _, o := range c.Ops {
		if o.Kind != commit.KindErase {
			continue
		}
		e, err := commit.DecodeErase(o)
		if err != nil {
			continue
		}
		for _, t := range e.Targets {
			if t.Author == at.author && t.Seq == at.seq && t.Op == at.op && t.Names(target, int(at.op)) == nil {
				named = true
			}
		}
	}
	if !named {
		return false
	}
	if c.Author == at.author {
		return at.seq < c.Seq
	}
	return s.knows(c, at.author) >= at.seq
}

// knows returns the highest seq of author in c's causal past: K(c), the
// fold of the gains of c's author's commits up to c (docs/design.md,
// "Causality without vectors per commit").
func (s *sf) knows(c *commit.Commit, author keys.AuthorID) uint64 {
	var k uint64
	for _, r := range s.gains[c.Author] {
		if r.Seq > c.Seq {
			break
		}
		for _, g := range r.Gains {
			if g.Author == author {
				k = max(k, g.Seq)
			}
		}
	}
	return k
}
