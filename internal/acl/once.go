package acl

import (
	"maps"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/schema"
)

// Write-once rules (#15): a rule with "once" refuses a write of a key that
// already has a write in the commit's causal past. Writes are data, not
// grants, so the state tracks them: the writes of commits that count, to
// keys that a once rule of any declaration watched covers (Watch). Which
// keys are tracked must not depend on the order commits arrive: every
// declaration stored is watched, counting or not, and a store that watches
// a new once rule decides the space again (Evaluate watches every
// declaration of the set before its passes), so writes stored before the
// declaration are tracked too.

// onceWrites is the tracked writes of a State.
type onceWrites struct {
	watched map[[32]byte]*schema.Set // bodies with once rules, by hash
	writes  map[string][]Loc         // key → the commits that count that wrote it
}

// Watch notes sc, a stored declaration, counting or not (see
// SchemaError.Followed), and makes the state track writes of keys covered
// by the once rules of sc's body, if it has any. It reports whether the
// body has once rules new to the state (the caller must then track the
// writes it already holds: decide again).
func (s *State) Watch(sc Schema) bool {
	set := sc.compiled()
	s.declare(sc)
	if set == nil || !set.HasOnce() {
		return false
	}
	if s.once == nil {
		s.once = &onceWrites{watched: map[[32]byte]*schema.Set{}, writes: map[string][]Loc{}}
	}
	h := schema.Hash(sc.Body)
	if _, ok := s.once.watched[h]; ok {
		return false
	}
	s.once.watched[h] = set
	return true
}

// tracked reports whether writes of key are tracked.
func (s *State) tracked(key []byte) bool {
	if s.once == nil {
		return false
	}
	for _, set := range s.once.watched {
		if set.Once(key) {
			return true
		}
	}
	return false
}

// Record adds the writes of c, a commit that counts, to the tracked
// writes, and returns the keys it recorded (in op order, without repeats).
func (s *State) Record(c *commit.Commit) [][]byte {
	if s.once == nil {
		return nil
	}
	var out [][]byte
	for i := range c.Ops {
		o := &c.Ops[i]
		if !o.Kind.IsData() || !s.tracked(o.Key) || slices.ContainsFunc(out, func(k []byte) bool { return string(k) == string(o.Key) }) {
			continue
		}
		s.AddWrite(o.Key, Loc{Author: c.Author, Seq: c.Seq})
		out = append(out, o.Key)
	}
	return out
}

// AddWrite records that the commit l, which counts, wrote key (a tracked
// write read back from a store).
func (s *State) AddWrite(key []byte, l Loc) {
	if s.once == nil {
		s.once = &onceWrites{watched: map[[32]byte]*schema.Set{}, writes: map[string][]Loc{}}
	}
	ws := s.once.writes[string(key)]
	if !slices.Contains(ws, l) {
		s.once.writes[string(key)] = append(ws, l)
	}
}

// OnceWrote reports whether the tracked writes hold the write of key by
// the commit l: a decision that voids l must then decide again every
// commit that a write-once rule refused for it (a store's re-decision
// from the cut cannot).
func (s *State) OnceWrote(key []byte, l Loc) bool {
	return s.once != nil && slices.Contains(s.once.writes[string(key)], l)
}

// DeclaresOnce reports whether c declares app rules with a write-once
// rule. A store that stores c may start watching a new rule and then must
// track the writes it already holds (Watch): only a decision of the whole
// space does, as Evaluate does.
func DeclaresOnce(c *commit.Commit) bool {
	for _, sc := range appendDeclared(nil, c) {
		if set, _ := schema.Parse(sc.Body); set != nil && set.HasOnce() {
			return true
		}
	}
	return false
}

// OnceWrites returns the tracked writes, by key.
func (s *State) OnceWrites() map[string][]Loc {
	if s.once == nil {
		return nil
	}
	return s.once.writes
}

// CheckNext decides c as the next commit of a device that has every
// stored commit in its causal past (a local write, before it is signed),
// with written saying whether a key already has a write: the state's
// tracked writes are those of when it was read, and a device checking its
// own write asks its store, which holds the latest.
func (s *State) CheckNext(c *commit.Commit, written func(key []byte) bool) (Verdict, error) {
	cp := *s
	cp.localWritten = written
	return cp.Check(c, func(keys.AuthorID, uint64) bool { return true })
}

// written reports whether key has a tracked write in the causal past
// seen; earlier ops of the commit itself count (ops before index i).
func (s *State) written(c *commit.Commit, i int, key []byte, seen SeenFunc) bool {
	for j := 0; j < i; j++ {
		if o := &c.Ops[j]; o.Kind.IsData() && string(o.Key) == string(key) {
			return true
		}
	}
	if s.localWritten != nil {
		return s.localWritten(key)
	}
	if s.once == nil {
		return false
	}
	for _, l := range s.once.writes[string(key)] {
		if seen(l.Author, l.Seq) {
			return true
		}
	}
	return false
}

// clone copies the tracked writes (for a State made from a Decision).
func (o *onceWrites) clone() *onceWrites {
	if o == nil {
		return nil
	}
	c := &onceWrites{watched: maps.Clone(o.watched), writes: make(map[string][]Loc, len(o.writes))}
	for k, ws := range o.writes {
		c.writes[k] = slices.Clone(ws)
	}
	return c
}
