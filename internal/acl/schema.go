package acl

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/schema"
)

// App rules (#15): schema ops declare, per app, who may write which keys
// and which values they may hold (package schema). The rules are in the
// package documentation.

// ErrSchema: a write of the commit breaks an app rule in force in its
// causal past. The error is a *SchemaError.
var ErrSchema = errors.New("breaks an app rule")

// SchemaError says which app rule a write broke.
type SchemaError struct {
	Author  keys.AuthorID
	Space   keys.SpaceID
	App     string
	Version uint64
	Key     []byte
	Why     *schema.Violation
	// Followed: every write of the commit keeps, per app, some
	// declaration in the commit's causal past, counting or not, with the
	// admin grants and certificates held there, counting or not. Its
	// author may have followed rules, or relied on a grant, that a
	// revocation it had not seen voided (or that the decision of
	// revocations voided since): the refusal is not evidence that it
	// misbehaved (see Broken).
	Followed bool
}

func (e *SchemaError) Error() string {
	msg := fmt.Sprintf("%s's write to %q in space %s breaks the rules of app %q (schema version %d): %v. It does not count: write keys and values as the app lays them out (docs/apps.md)", e.Author, e.Key, e.Space, e.App, e.Version, e.Why)
	if e.Followed {
		msg += " (each of its writes keeps some version of the rules in its causal past: its author may have followed a version that a revocation it had not seen voided)"
	}
	return msg
}

func (e *SchemaError) Unwrap() error { return ErrSchema }

// Broken reports whether err, why a commit does not count, shows that its
// author broke an app rule it could see: a *SchemaError not Followed. A
// peer that sends its own such commit misbehaves; one Followed is honest.
func Broken(err error) bool {
	var se *SchemaError
	return errors.As(err, &se) && !se.Followed
}

// Schema is a schema declaration that took effect: Granter's commit Seq
// declared version Version of App's rules, Body.
type Schema struct {
	Granter keys.AuthorID
	Seq     uint64
	App     string
	Version uint64
	Body    []byte

	set *schema.Set // Body compiled (AddSchema); nil if it does not decode
}

// compiled returns sc's rules (nil if its body does not decode).
func (sc *Schema) compiled() *schema.Set {
	if sc.set == nil {
		sc.set, _ = schema.Parse(sc.Body)
	}
	return sc.set
}

// newer reports whether a is in force rather than b, of one app: the
// greater version, then the greater (author, seq), so that two admins
// declaring one version concurrently leave the same one in force
// everywhere.
func (a *Schema) newer(b *Schema) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if c := bytes.Compare(a.Granter[:], b.Granter[:]); c != 0 {
		return c > 0
	}
	return a.Seq > b.Seq
}

// declare notes sc, a declaration held, counting or not (Watch).
func (s *State) declare(sc Schema) {
	if s.declared == nil {
		s.declared = map[string][]Schema{}
	}
	for _, d := range s.declared[sc.App] {
		if d.Granter == sc.Granter && d.Seq == sc.Seq && d.Version == sc.Version && bytes.Equal(d.Body, sc.Body) {
			return
		}
	}
	sc.compiled()
	s.declared[sc.App] = append(s.declared[sc.App], sc)
}

// Ground links g, the grants of every commit held, counting or not (a
// store's grounded state, or Grounded), to s, which holds those of the
// commits that count: a commit refused by app rules is checked against
// what it may have relied on (SchemaError.Followed). s reads g, never
// changes it; g must hold at least the grants s holds. A State without
// one checks a refused commit against its own grants.
func (s *State) Ground(g *State) { s.ground = g }

// grounded returns the State linked by Ground (computed now if it is
// Evaluate's), or nil.
func (s *State) grounded() *State {
	if s.ground == nil && s.groundFn != nil {
		s.ground = s.groundFn()
	}
	return s.ground
}

// AddSchema records a schema declaration that took effect.
func (s *State) AddSchema(sc Schema) {
	if s.schemas == nil {
		s.schemas = map[string][]Schema{}
	}
	sc.compiled()
	s.schemas[sc.App] = append(s.schemas[sc.App], sc)
}

// Schemas returns every schema declaration recorded, by app then in the
// order recorded.
func (s *State) Schemas() []Schema {
	var out []Schema
	for _, app := range slices.Sorted(maps.Keys(s.schemas)) {
		out = append(out, s.schemas[app]...)
	}
	return out
}

// InForce returns, per app, the schema in force for a commit with causal
// past seen: the newest declaration there.
func (s *State) InForce(seen SeenFunc) []Schema {
	var out []Schema
	for _, app := range slices.Sorted(maps.Keys(s.schemas)) {
		if sc, ok := s.inForce(app, seen); ok {
			out = append(out, sc)
		}
	}
	return out
}

func (s *State) inForce(app string, seen SeenFunc) (Schema, bool) {
	var best *Schema
	for i := range s.schemas[app] {
		sc := &s.schemas[app][i]
		if (best == nil || sc.newer(best)) && seen(sc.Granter, sc.Seq) {
			best = sc
		}
	}
	if best == nil {
		return Schema{}, false
	}
	return *best, true
}

// Constrains reports whether some declared schema, of any version, has a
// rule for a key c writes: a commit that writes none of them needs no
// look at its causal past for app rules.
func (s *State) Constrains(c *commit.Commit) bool {
	if len(s.schemas) == 0 {
		return false
	}
	for i := range c.Ops {
		o := &c.Ops[i]
		if !o.Kind.IsData() {
			continue
		}
		for _, scs := range s.schemas {
			for j := range scs {
				if set := scs[j].set; set != nil && set.Covers(o.Key) {
					return true
				}
			}
		}
	}
	return false
}

// schemaScope returns the keys a schema op rules, as a prefix an admin
// grant must cover (nil: the whole space), and the op in words. An app's
// rules rule the keys under its name (app "chat": prefix "chat/"); a body
// with that prefix needs admin over it, any other (no prefix, another
// prefix, a retirement, one that does not decode) admin of the whole
// space. So an admin of tools/ declares the tool library's rules but
// cannot replace or retire the chat's. The scope depends on the op alone,
// not on the rules in force, so that whether the op is allowed is decided
// as every other op's is.
func schemaScope(o *commit.Op) ([]byte, string) {
	sc, err := commit.DecodeSchema(*o)
	if err != nil {
		return nil, "declaring a schema (for the whole space)"
	}
	if set, err := schema.Parse(sc.Body); err == nil && set.Prefix == sc.App+"/" {
		return []byte(set.Prefix), fmt.Sprintf("declaring the rules of app %q (under %q)", sc.App, set.Prefix)
	}
	return nil, fmt.Sprintf("declaring the rules of app %q (for the whole space: rules without the prefix %q, or retiring them)", sc.App, sc.App+"/")
}

// checkSchemaOp decides a schema op: an admin's; a body that does not
// decode is ignored, as any malformed control op.
func (s *State) checkSchemaOp(c *commit.Commit, o *commit.Op, v *Verdict) {
	sc, err := commit.DecodeSchema(*o)
	if err != nil {
		return
	}
	set, err := schema.Parse(sc.Body)
	if err != nil {
		return
	}
	v.Schemas = append(v.Schemas, Schema{Granter: c.Author, Seq: c.Seq, App: sc.App, Version: sc.Version, Body: sc.Body, set: set})
}

// checkRules decides the data op i of c against the app rules in force in c's
// causal past. held are c's author's grants there (for rules "admin"),
// mine the identities certifying it in c (for {person}).
func (s *State) checkRules(c *commit.Commit, i int, seen SeenFunc, held []Grant, mine []keys.IdentityID) error {
	if len(s.schemas) == 0 {
		return nil
	}
	o := &c.Ops[i]
	op, value := ruleOp(o, s.named(c, i))
	signer := s.signer(c, i, seen, held, mine)
	for _, app := range slices.Sorted(maps.Keys(s.schemas)) {
		covered := false
		for _, sc := range s.schemas[app] {
			if sc.set != nil && sc.set.Covers(o.Key) {
				covered = true
				break
			}
		}
		if !covered {
			continue
		}
		sc, ok := s.inForce(app, seen)
		if !ok || sc.set == nil {
			continue // a body that does not decode is not recorded (checkSchemaOp)
		}
		set := sc.set
		if why := set.Check(o.Key, op, value, signer); why != nil {
			return &SchemaError{Author: c.Author, Space: s.space, App: app, Version: sc.Version, Key: o.Key, Why: why, Followed: s.followed(c, seen, held, mine)}
		}
	}
	return nil
}

// ruleOp returns what a data op writes, as app rules see it. An op
// erased here, or named by an erase held (erasing), is a delete: its
// value is not checked. A value an erase names may be gone from some
// replicas and not others (an erase voided by a concurrent revocation
// drops it on those that applied it first), so checking it would decide
// differently on each; named by an erase, it is left unchecked on all.
func ruleOp(o *commit.Op, erasing bool) (schema.Op, []byte) {
	if o.Erased || erasing {
		return schema.Del, nil
	}
	switch o.Kind {
	case commit.KindDel:
		return schema.Del, nil
	case commit.KindPutBlob:
		return schema.PutBlob, o.Payload
	}
	return schema.Put, o.Payload
}

// signer is who signs c's data op i, for app rules.
func (s *State) signer(c *commit.Commit, i int, seen SeenFunc, held []Grant, mine []keys.IdentityID) schema.Signer {
	return schema.Signer{
		Author: c.Author.String(),
		Person: func(idt string) bool {
			id, err := keys.ParseIdentityID(idt)
			return err == nil && (slices.Contains(mine, id) || s.certified(c.Author, id, seen))
		},
		Admin:   func(key []byte) bool { return allowed(held, commit.RoleAdmin, key) },
		Written: func(key []byte) bool { return s.written(c, i, key, seen) },
	}
}

// pastSigner is signer with, besides held and the certificates that
// count, the grants and certificates of every commit held in c's causal
// past, counting or not (Ground): what c's author may have relied on
// when a revocation it had not seen voided them. Those are read only when
// the grants that count do not answer.
func (s *State) pastSigner(c *commit.Commit, i int, seen SeenFunc, held []Grant, mine []keys.IdentityID) schema.Signer {
	sg := s.signer(c, i, seen, held, mine)
	if s.ground == nil && s.groundFn == nil {
		return sg
	}
	admin, person := sg.Admin, sg.Person
	var all []Grant
	read := false
	sg.Admin = func(key []byte) bool {
		if admin(key) {
			return true
		}
		if !read {
			g := s.grounded()
			all = g.held(c.Author, c.Time, seen)
			for _, id := range mine {
				all = g.personHeld(all, id, c.Time, seen)
			}
			read = true
		}
		return allowed(all, commit.RoleAdmin, key)
	}
	sg.Person = func(idt string) bool {
		if person(idt) {
			return true
		}
		id, err := keys.ParseIdentityID(idt)
		return err == nil && s.grounded().certified(c.Author, id, seen)
	}
	return sg
}

// followed reports whether every data op of c keeps, per app, some
// declaration held (counting or not) in c's causal past: then c, refused
// by the rules in force for it, may have followed rules its author saw in
// force. Which declarations count for a commit depends on revocations its
// author may not have seen (and on revocations outside its past, through
// Evaluate's order), so only a write that no declaration in its past
// allows shows that its author broke the rules; the same holds of the
// grants and certificates the signer relies on (pastSigner). It looks at
// every declaration of an app, so it runs only for commits already
// refused.
func (s *State) followed(c *commit.Commit, seen SeenFunc, held []Grant, mine []keys.IdentityID) bool {
	for i := range c.Ops {
		o := &c.Ops[i]
		if !o.Kind.IsData() {
			continue
		}
		op, value := ruleOp(o, s.named(c, i))
		signer := s.pastSigner(c, i, seen, held, mine)
		for app := range s.schemas {
			if !s.keeps(app, o.Key, op, value, signer, seen) {
				return false
			}
		}
		for app := range s.declared {
			if _, done := s.schemas[app]; !done && !s.keeps(app, o.Key, op, value, signer, seen) {
				return false
			}
		}
	}
	return true
}

// keeps reports whether a write keeps some declaration of app in the
// causal past seen, counting (s.schemas) or not (s.declared), or none of
// app is there.
func (s *State) keeps(app string, key []byte, op schema.Op, value []byte, signer schema.Signer, seen SeenFunc) bool {
	some := false
	for _, l := range [][]Schema{s.schemas[app], s.declared[app]} {
		for j := range l {
			sc := &l[j]
			if sc.set == nil || !seen(sc.Granter, sc.Seq) {
				continue
			}
			if sc.set.Check(key, op, value, signer) == nil {
				return true
			}
			some = true
		}
	}
	return !some
}

// named reports whether an erase op held names op i of c (erasing).
func (s *State) named(c *commit.Commit, i int) bool {
	return s.erasing != nil && s.erasing(c.ID, uint32(i))
}

// SetErasing sets how the state learns that an erase op of a commit
// held, counting or not, names op i of commit id (nil: none does): a
// store sets it from its erase-target rows, Evaluate from its commits.
func (s *State) SetErasing(f func(id keys.CommitID, op uint32) bool) { s.erasing = f }

// EraseTarget names an op an erase op names: the commit's ID and the op.
type EraseTarget struct {
	ID keys.CommitID
	Op uint32
}

// EraseTargets returns the targets the erase ops of c name (its ops that
// do not decode name none).
func EraseTargets(c *commit.Commit) []commit.EraseTarget {
	var out []commit.EraseTarget
	for i := range c.Ops {
		if c.Ops[i].Kind != commit.KindErase {
			continue
		}
		if e, err := commit.DecodeErase(c.Ops[i]); err == nil {
			out = append(out, e.Targets...)
		}
	}
	return out
}
