package acl

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Errors wrapped by a decision against a commit.
var (
	// ErrDenied: the author's grants in the commit's causal past do not
	// allow one of its ops. The error is a *DeniedError.
	ErrDenied = errors.New("not allowed")
	// ErrRevoked: the commit is above its author's revocation cut.
	ErrRevoked = errors.New("revoked")
	// ErrUsedUp: the commit joins through an invite whose uses are taken
	// by earlier joiners (or that was revoked before this join).
	ErrUsedUp = errors.New("invite already used")
	// ErrForked: the commit is at or after its author's fork.
	ErrForked = errors.New("author forked")
)

// DeniedError says which role an author lacked for which op.
type DeniedError struct {
	Author   keys.AuthorID
	Space    keys.SpaceID
	Have     commit.Role // the author's best role in force (0: none)
	Need     commit.Role
	What     string   // the op, e.g. `writing "chat/x"`
	Prefixes [][]byte // prefixes the author holds Need under, if only under some
	Expired  bool     // the author held a grant that has expired
}

func (e *DeniedError) Error() string {
	have := "no role"
	if e.Have != 0 {
		have = "role " + e.Have.String()
	}
	if len(e.Prefixes) > 0 {
		have = fmt.Sprintf("role %s only under %q", e.Need, e.Prefixes)
	}
	if e.Expired {
		have += " (a grant it held has expired)"
	}
	if e.Have == 0 && !e.Expired && len(e.Prefixes) == 0 {
		// A device that joined but whose join has not arrived yet (its
		// node stopped mid-join) is told how to finish it.
		return fmt.Sprintf("%s has no role in space %s yet; %s needs %s (if this device joined the space, the join has not finished: run loam daemon, or loam join again with the ticket; otherwise ask an admin: loam invite --role %s)", e.Author, e.Space, e.What, e.Need, e.Need)
	}
	return fmt.Sprintf("%s has %s in space %s; %s needs %s (ask an admin: loam invite --role %s)", e.Author, have, e.Space, e.What, e.Need, e.Need)
}

func (e *DeniedError) Unwrap() error { return ErrDenied }

// Grant is a grant that takes effect: Granter's commit Seq gave Subject
// Role, restricted to Prefix, until Expires (unix µs; 0: never). Uses is
// the number of joins allowed through Subject when it is an invite key (0:
// unlimited). Invite is set when the grant is a self-grant through that
// invite key.
//
// Identity, when set, makes it a record of a person (#12), of one of two
// kinds: with a Role, a person grant (IsPerson), held by every device
// Identity certified, with Subject zero; with no Role, a device
// certificate carried into the space (IsCert): Subject is one of the
// person's devices, and the record grants nothing by itself. Both are
// stored and replayed as grants are.
type Grant struct {
	Subject  keys.AuthorID
	Granter  keys.AuthorID
	Seq      uint64
	Role     commit.Role
	Prefix   []byte
	Expires  uint64
	Uses     uint32
	Invite   keys.AuthorID
	Identity keys.IdentityID
}

// IsPerson reports whether g is a grant to the person of g.Identity.
func (g *Grant) IsPerson() bool { return !g.Identity.IsZero() && g.Role != 0 }

// IsCert reports whether g records that g.Subject is a device of g.Identity.
func (g *Grant) IsCert() bool { return !g.Identity.IsZero() && g.Role == 0 }

// InForce reports whether g is in force at time t (not expired).
func (g *Grant) InForce(t commit.HLC) bool { return g.Expires == 0 || t.Wall < g.Expires }

// SeenFunc reports whether the commit being decided has (author, seq)
// strictly in its causal past.
type SeenFunc func(author keys.AuthorID, seq uint64) bool

// State holds grants that took effect. It is not safe for concurrent use.
type State struct {
	space  keys.SpaceID
	grants map[keys.AuthorID][]Grant   // grants to devices, by subject
	people map[keys.IdentityID][]Grant // grants to people, by identity
	certs  map[keys.AuthorID][]Grant   // device certificates, by device
	// schemas holds the schema declarations that took effect, by app
	// (schema.go); nil until the first.
	schemas map[string][]Schema
	// once holds the writes tracked for write-once rules (once.go); nil
	// until a declaration with one is watched.
	once *onceWrites
	// declared holds every declaration watched, counting or not, by app
	// (schema.go: whether a refused commit followed one of them).
	declared map[string][]Schema
	// ground, if set, holds the grants of every commit held, counting or
	// not (Ground): what a commit refused by app rules may have relied on
	// (SchemaError.Followed). Evaluate's passes compute it on first use
	// (groundFn).
	ground   *State
	groundFn func() *State
	// localWritten, if set, answers for once (CheckNext).
	localWritten func(key []byte) bool
	// erasing, if set, reports whether an erase op of a commit held
	// (counting or not) names op i of commit id: such a write's value is
	// not checked by app rules (schema.go, checkRules).
	erasing func(id keys.CommitID, op uint32) bool

	verified *verified // certificates and revocations already checked (Evaluate's passes); may be nil
}

// New returns the state of a space with no grants yet.
func New(sp keys.SpaceID) *State {
	return &State{space: sp, grants: map[keys.AuthorID][]Grant{}, people: map[keys.IdentityID][]Grant{}, certs: map[keys.AuthorID][]Grant{}}
}

// Space returns the space the state is of.
func (s *State) Space() keys.SpaceID { return s.space }

// Add records a grant that took effect (a person grant or a certificate
// too).
func (s *State) Add(g Grant) {
	switch {
	case g.IsPerson():
		s.people[g.Identity] = append(s.people[g.Identity], g)
	case g.IsCert():
		s.certs[g.Subject] = append(s.certs[g.Subject], g)
	default:
		s.grants[g.Subject] = append(s.grants[g.Subject], g)
	}
}

// Grants returns subject's grants, wherever they were issued.
func (s *State) Grants(subject keys.AuthorID) []Grant { return s.grants[subject] }

// Subjects returns every author holding a grant, in byte order.
func (s *State) Subjects() []keys.AuthorID {
	return slices.SortedFunc(maps.Keys(s.grants), compareAuthors)
}

var spaceGrant = Grant{Role: commit.RoleAdmin}

// held returns subject's grants in force at t in the causal past seen:
// its own, and those of every person that certified it there.
func (s *State) held(subject keys.AuthorID, t commit.HLC, seen SeenFunc) []Grant {
	if subject == keys.AuthorID(s.space) {
		return []Grant{spaceGrant}
	}
	var out []Grant
	for _, g := range s.grants[subject] {
		if g.InForce(t) && seen(g.Granter, g.Seq) {
			out = append(out, g)
		}
	}
	var done []keys.IdentityID
	for _, c := range s.certs[subject] {
		if !slices.Contains(done, c.Identity) && seen(c.Granter, c.Seq) {
			done = append(done, c.Identity)
			out = s.personHeld(out, c.Identity, t, seen)
		}
	}
	return out
}

// personHeld appends to out the grants to the person id in force at t in
// the causal past seen.
func (s *State) personHeld(out []Grant, id keys.IdentityID, t commit.HLC, seen SeenFunc) []Grant {
	for _, g := range s.people[id] {
		if g.InForce(t) && seen(g.Granter, g.Seq) {
			out = append(out, g)
		}
	}
	return out
}

// certified reports whether a certificate of device dev by identity id is
// in the causal past seen.
func (s *State) certified(dev keys.AuthorID, id keys.IdentityID, seen SeenFunc) bool {
	for _, c := range s.certs[dev] {
		if c.Identity == id && seen(c.Granter, c.Seq) {
			return true
		}
	}
	return false
}

// People returns the grants to the person id, wherever they were issued.
func (s *State) People(id keys.IdentityID) []Grant { return s.people[id] }

// Identities returns every person holding a grant here, in byte order.
func (s *State) Identities() []keys.IdentityID {
	return slices.SortedFunc(maps.Keys(s.people), func(a, b keys.IdentityID) int { return bytes.Compare(a[:], b[:]) })
}

// PersonRole returns the highest role in force at t of the grants to the
// person id, wherever they were issued: for messages and local checks (a
// joining device whose person holds the role already does not join
// again), not for decisions.
func (s *State) PersonRole(id keys.IdentityID, t commit.HLC) commit.Role {
	return best(s.personHeld(nil, id, t, func(keys.AuthorID, uint64) bool { return true }))
}

// JoinsVia counts the self-grants through invite inv held, to devices and
// to people.
func (s *State) JoinsVia(inv keys.AuthorID) int {
	n := 0
	count := func(gs []Grant) {
		for _, g := range gs {
			if g.Invite == inv {
				n++
			}
		}
	}
	for _, gs := range s.grants {
		count(gs)
	}
	for _, gs := range s.people {
		count(gs)
	}
	return n
}

// InvitesFull reports whether some invite key has as many joins through
// it held (counted as JoinsVia does) as a grant to it allows, or is cut
// (cuts) with a join through it: then which joins count depends on their
// order, and a cut of another author can bring a join back (admit), so
// that a commit may count in a decision without having counted when a
// revocation in it was looked at.
func (s *State) InvitesFull(cuts map[keys.AuthorID]uint64) bool {
	joins := map[keys.AuthorID]uint32{}
	count := func(gs []Grant) {
		for _, g := range gs {
			if !g.Invite.IsZero() {
				joins[g.Invite]++
			}
		}
	}
	for _, gs := range s.grants {
		count(gs)
	}
	for _, gs := range s.people {
		count(gs)
	}
	for inv, n := range joins {
		if _, cut := cuts[inv]; cut {
			return true
		}
		for _, g := range s.grants[inv] {
			if g.Uses != 0 && n >= g.Uses {
				return true
			}
		}
	}
	return false
}

// Certs returns the certificates of device dev carried into the space.
func (s *State) Certs(dev keys.AuthorID) []Grant { return s.certs[dev] }

// Certified returns every device with a certificate here, in byte order.
func (s *State) Certified() []keys.AuthorID {
	return slices.SortedFunc(maps.Keys(s.certs), compareAuthors)
}

// RoleAt returns subject's highest role in force at t in the causal past
// seen (seed ranks below read).
func (s *State) RoleAt(subject keys.AuthorID, t commit.HLC, seen SeenFunc) commit.Role {
	return best(s.held(subject, t, seen))
}

// Role returns subject's highest role in force at t, wherever it was
// granted: for messages and status, not for decisions.
func (s *State) Role(subject keys.AuthorID, t commit.HLC) commit.Role {
	return s.RoleAt(subject, t, func(keys.AuthorID, uint64) bool { return true })
}

// Unbounded reports whether subject holds, in the causal past seen at t, a
// write or admin grant for the whole space that never expires: then its
// later data-only commits need no check but revocation.
func (s *State) Unbounded(subject keys.AuthorID, t commit.HLC, seen SeenFunc) bool {
	for _, g := range s.held(subject, t, seen) {
		if CanWrite(g.Role) && len(g.Prefix) == 0 && g.Expires == 0 {
			return true
		}
	}
	return false
}

// Allows reports whether subject's grants in force at t allow writing key:
// a local check before signing, with an error naming the missing role.
func (s *State) Allows(subject keys.AuthorID, t commit.HLC, key []byte) error {
	all := func(keys.AuthorID, uint64) bool { return true }
	held := s.held(subject, t, all)
	if allowed(held, commit.RoleWrite, key) {
		return nil
	}
	return s.denied(subject, t, all, held, commit.RoleWrite, fmt.Sprintf("writing %q", key))
}

// denied explains why held (subject's grants in force at t) lacks need.
func (s *State) denied(subject keys.AuthorID, t commit.HLC, seen SeenFunc, held []Grant, need commit.Role, what string) *DeniedError {
	e := &DeniedError{Author: subject, Space: s.space, Have: best(held), Need: need, What: what}
	for _, g := range held {
		if Covers(g.Role, need) && len(g.Prefix) > 0 {
			e.Prefixes = append(e.Prefixes, g.Prefix)
		}
	}
	for _, g := range s.grants[subject] {
		e.Expired = e.Expired || (!g.InForce(t) && seen(g.Granter, g.Seq))
	}
	return e
}

func best(gs []Grant) commit.Role {
	var r commit.Role
	for _, g := range gs {
		if Rank(g.Role) > Rank(r) {
			r = g.Role
		}
	}
	return r
}

// Rank orders roles: none < seed < read < write < admin.
func Rank(r commit.Role) int {
	switch r {
	case commit.RoleSeed:
		return 1
	case commit.RoleRead:
		return 2
	case commit.RoleWrite:
		return 3
	case commit.RoleAdmin:
		return 4
	}
	return 0
}

// Covers reports whether holding role have allows granting or delegating
// role want: read < write < admin, and seed only from seed or admin.
func Covers(have, want commit.Role) bool {
	if want == commit.RoleSeed {
		return have == commit.RoleSeed || have == commit.RoleAdmin
	}
	return have != commit.RoleSeed && Rank(have) >= Rank(want)
}

// CanWrite reports whether r allows writing data.
func CanWrite(r commit.Role) bool { return r == commit.RoleWrite || r == commit.RoleAdmin }

// allowed reports whether some grant of gs gives at least role need on
// every key with prefix p.
func allowed(gs []Grant, need commit.Role, p []byte) bool {
	for _, g := range gs {
		if Covers(g.Role, need) && need != commit.RoleSeed && bytes.HasPrefix(p, g.Prefix) {
			return true
		}
	}
	return false
}

// Use is one join through an invite: the self-grant of Subject through
// Invite, whose grant allows Limit joins (0: unlimited).
type Use struct {
	Invite, Subject keys.AuthorID
	Limit           uint32
}

// Cut is one revocation a commit asks for: Author cut after LastSeq. A
// device revocation signed by Identity, or a cut of a revoked person's
// device (Person), says so.
type Cut struct {
	commit.Revoke
	Identity keys.IdentityID
	Person   bool
}

// Verdict is what an allowed commit does.
type Verdict struct {
	Grants  []Grant // its grants that take effect (person grants and certificates too)
	Revokes []Cut   // its revocations (decided by Evaluate)
	Uses    []Use   // its joins through invites (counted by Evaluate)
	// People are its person revocations: Evaluate cuts, besides the
	// devices each names (in Revokes), every other device the person
	// certified in the space, at 0.
	People []commit.RevokePerson
	// Certifies: it carries a device certificate, which a person's
	// revocation may cut: the space must be decided again.
	Certifies bool
	// Schemas are its schema declarations (app rules, #15).
	Schemas []Schema
}

// Check decides whether c's author may make every op of c, given the
// grants in c's causal past (seen) in force at c's time. The error wraps
// ErrDenied and says which role was missing.
func (s *State) Check(c *commit.Commit, seen SeenFunc) (Verdict, error) {
	held := s.held(c.Author, c.Time, seen)
	var v Verdict
	deny := func(need commit.Role, what string) (Verdict, error) {
		return Verdict{}, s.denied(c.Author, c.Time, seen, held, need, what)
	}
	// Certificates of the author first: a self-grant through an invite
	// may name the person they certify it by. Then self-grants through
	// invites: they authorize the rest of c.
	held, mine, err := s.checkCerts(c, seen, held, &v)
	if err != nil {
		return Verdict{}, err
	}
	grants := make([]*commit.Grant, len(c.Ops))
	for i := range c.Ops {
		if c.Ops[i].Kind != commit.KindGrant {
			continue
		}
		g, err := commit.DecodeGrant(c.Ops[i])
		if err != nil {
			continue // a body that does not decode is ignored, as an unknown kind is
		}
		grants[i] = &g
		if g.Invite.IsZero() {
			continue
		}
		if g.Person {
			if err := s.checkPersonJoin(c, g, seen, mine); err != nil {
				return deny(g.Role, err.Error())
			}
		} else if g.Subject != c.Author {
			return deny(g.Role, "joining through invite "+g.Invite.Short()+" with a delegation it did not sign")
		}
		if !g.VerifyInvite(s.space) {
			return deny(g.Role, "joining through invite "+g.Invite.Short()+" with a delegation it did not sign")
		}
		via, ok := s.delegation(g, c.Time, seen)
		if !ok {
			return deny(g.Role, fmt.Sprintf("joining through invite %s (which does not hold role %s in force here)", g.Invite.Short(), g.Role))
		}
		eg := Grant{Subject: c.Author, Granter: c.Author, Seq: c.Seq, Role: g.Role, Prefix: g.Prefix, Expires: g.Expires, Invite: g.Invite}
		if g.Person {
			eg.Subject, eg.Identity = keys.AuthorID{}, keys.IdentityID(g.Subject)
		}
		v.Grants = append(v.Grants, eg)
		v.Uses = append(v.Uses, Use{Invite: g.Invite, Subject: c.Author, Limit: via.Uses})
		held = append(held, eg)
	}
	for i := range c.Ops {
		o := &c.Ops[i]
		switch {
		case o.Kind.IsData():
			if !allowed(held, commit.RoleWrite, o.Key) {
				return deny(commit.RoleWrite, fmt.Sprintf("writing %q", o.Key))
			}
			if err := s.checkRules(c, i, seen, held, mine); err != nil {
				return Verdict{}, err
			}
		case o.Kind == commit.KindGrant:
			g := grants[i]
			if g == nil || !g.Invite.IsZero() {
				continue
			}
			if !allowed(held, commit.RoleAdmin, g.Prefix) {
				return deny(commit.RoleAdmin, fmt.Sprintf("granting %s on prefix %q", g.Role, g.Prefix))
			}
			if g.Person {
				v.Grants = append(v.Grants, Grant{Identity: keys.IdentityID(g.Subject), Granter: c.Author, Seq: c.Seq, Role: g.Role, Prefix: g.Prefix, Expires: g.Expires})
				continue
			}
			v.Grants = append(v.Grants, Grant{Subject: g.Subject, Granter: c.Author, Seq: c.Seq, Role: g.Role, Prefix: g.Prefix, Expires: g.Expires, Uses: g.Uses})
		case o.Kind == commit.KindRevoke:
			r, err := commit.DecodeRevoke(*o)
			if err != nil {
				continue
			}
			if !allowed(held, commit.RoleAdmin, nil) {
				return deny(commit.RoleAdmin, "revoking "+r.Author.Short()+" (for the whole space)")
			}
			v.Revokes = append(v.Revokes, Cut{Revoke: r})
		case o.Kind == commit.KindCert:
			if len(held) == 0 {
				return deny(commit.RoleRead, "carrying a device certificate")
			}
		case o.Kind == commit.KindDevRevoke:
			if err := s.checkDevRevoke(c, o, seen, held, mine, &v); err != nil {
				return Verdict{}, err
			}
		case o.Kind == commit.KindRevokePerson:
			r, err := commit.DecodeRevokePerson(*o)
			if err != nil {
				continue
			}
			if !allowed(held, commit.RoleAdmin, nil) {
				return deny(commit.RoleAdmin, "revoking the person "+r.Identity.Short()+" (for the whole space)")
			}
			v.People = append(v.People, r) // cut by Evaluate, which knows every device of the person
		case o.Kind == commit.KindRotate:
			if !allowed(held, commit.RoleAdmin, nil) {
				return deny(commit.RoleAdmin, "rotating the read key (for the whole space)")
			}
		case o.Kind == commit.KindErase:
			e, err := commit.DecodeErase(*o)
			if err != nil {
				continue
			}
			for _, t := range e.Targets {
				if t.Author == c.Author || s.samePerson(c.Author, t.Author, seen) {
					if len(held) == 0 {
						return deny(commit.RoleRead, fmt.Sprintf("erasing its own write %s", whatTarget(t)))
					}
					continue
				}
				if !allowed(held, commit.RoleAdmin, t.Key) {
					return deny(commit.RoleAdmin, fmt.Sprintf("erasing %s's write %s", t.Author.Short(), whatTarget(t)))
				}
			}
		case o.Kind == commit.KindRetention:
			if !allowed(held, commit.RoleAdmin, nil) {
				return deny(commit.RoleAdmin, "setting the space's retention (for the whole space)")
			}
		case o.Kind == commit.KindCheckpoint:
			if !allowed(held, commit.RoleAdmin, nil) {
				return deny(commit.RoleAdmin, "making a checkpoint (for the whole space)")
			}
		case o.Kind == commit.KindVerdict:
			if len(held) == 0 {
				return deny(commit.RoleRead, "giving a verdict on a checkpoint")
			}
		case o.Kind == commit.KindSchema:
			if scope, what := schemaScope(o); !allowed(held, commit.RoleAdmin, scope) {
				return deny(commit.RoleAdmin, what)
			}
			s.checkSchemaOp(c, o, &v)
		default: // sealed, and kinds this version does not know
			if !allowed(held, commit.RoleWrite, nil) {
				return deny(commit.RoleWrite, fmt.Sprintf("a %s op (for the whole space)", o.Kind))
			}
		}
	}
	return v, nil
}

func hasRole(gs []Grant, r commit.Role) bool {
	for _, g := range gs {
		if g.Role == r {
			return true
		}
	}
	return false
}

// delegation returns the invite key's grant through which g may join: one
// in force at t in the causal past that covers g's role and prefix. Among
// several, an unlimited one, else the one allowing most uses.
func (s *State) delegation(g commit.Grant, t commit.HLC, seen SeenFunc) (Grant, bool) {
	var out Grant
	found := false
	for _, ig := range s.held(g.Invite, t, seen) {
		if !Covers(ig.Role, g.Role) || !bytes.HasPrefix(g.Prefix, ig.Prefix) {
			continue
		}
		if !found || (out.Uses != 0 && (ig.Uses == 0 || ig.Uses > out.Uses)) {
			out, found = ig, true
		}
	}
	return out, found
}
