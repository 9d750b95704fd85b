package storetest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// GenACL generates a history in which authorization changes as it goes:
// besides writes and gossip, admins grant roles (some restricted to the
// prefix "p/", some expiring), revoke authors at the seq they know of
// them, and create invites of one or two uses, or unlimited, that strangers
// join through. Authors also belong to two people (#12): they carry
// device certificates (their own or a sibling's), admins grant roles to
// people and revoke people, devices carry their identity's revocations of
// siblings, and devices join through invites as their person (the grant
// then held by every device of that person).
// Admins also declare app rules (#15) for the app "s", and authors write
// its keys, some breaking the rules in force (see schemaStep).
// Every commit is grounded (allowed when revocations and invite uses are
// left aside), so a store stores every one; which of them count is
// acl.Evaluate's decision (see ExpectDecided). g.Authors of the authors
// start with a grant (the first is admin); as many again start as
// strangers who can only join through an invite.
func GenACL(r *rand.Rand, g Gen) *History {
	seed := seeds(r)
	h := newHistory(seed)
	sp := h.Space()
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	phys := base
	expiry := func() uint64 { // a third of grants expire, some during the history
		if r.IntN(3) != 0 {
			return 0
		}
		return base + uint64(r.IntN(g.Ops/2+1))*1000
	}

	var genesisOps []commit.Op
	as := make([]*author, 2*g.Authors)
	for i := range as {
		k := keys.DeviceKeyFromSeed(seed())
		h.Authors = append(h.Authors, k)
		as[i] = newAuthor(r, k)
		switch {
		case i == 0:
			genesisOps = append(genesisOps, commit.GrantOp(commit.Grant{Subject: k.Author(), Role: commit.RoleAdmin}))
		case i == 1:
			genesisOps = append(genesisOps, commit.GrantOp(commit.Grant{Subject: k.Author(), Role: commit.RoleAdmin, Expires: expiry()}))
		case i < g.Authors:
			genesisOps = append(genesisOps, randomGrant(r, k.Author(), expiry()))
		}
	}
	genesis := h.begin(base, genesisOps, as)

	// grounded holds the grants of every commit so far: a candidate is kept
	// only if they allow it in its causal past.
	grounded := acl.New(sp)
	for _, o := range genesisOps {
		gr := must(commit.DecodeGrant(o))
		grounded.Add(acl.Grant{Subject: gr.Subject, Granter: genesis.Author, Seq: 1, Role: gr.Role, Prefix: gr.Prefix, Expires: gr.Expires})
	}
	var invites []keys.DeviceKey // invite keys granted so far (by any commit)

	// Two people; two thirds of the authors are one person's devices. What
	// they do is drawn from pr, seeded by the space, so that r's draws (and
	// the histories of saved failing cases) stay as they were before people.
	sk := h.Space()
	pr := rand.New(rand.NewPCG(binary.BigEndian.Uint64(sk[:8]), binary.BigEndian.Uint64(sk[8:16])))
	pseed := seeds(pr)
	people := []identity.Key{identity.KeyFromSeed(pseed()), identity.KeyFromSeed(pseed())}
	personOf := make([]int, len(as)) // index in people, or -1
	certs := make([]commit.Op, len(as))
	for i, a := range as {
		personOf[i] = i%3 - 1
		if personOf[i] >= 0 {
			ct := must(identity.NewCert(people[personOf[i]], a.key, fmt.Sprintf("device %d", i), base))
			certs[i] = commit.CertOp(ct.Encode())
		}
	}
	devicesOf := func(p int) []int { return devicesOf(personOf, p) }
	// App rules are drawn from sr, seeded by the space too, for the same
	// reason.
	sr := rand.New(rand.NewPCG(binary.BigEndian.Uint64(sk[16:24]), binary.BigEndian.Uint64(sk[24:])))
	knownSeq := func(a, t *author) uint64 {
		if t == a {
			return a.seq
		}
		return a.seqOf(t)
	}

	for ops, tries := 0, 0; ops < g.Ops && tries < 20*g.Ops; tries++ {
		phys += uint64(r.IntN(3)) * 1000
		ai := r.IntN(len(as))
		a := as[ai]
		if r.IntN(10) < 3 { // gossip
			b := as[r.IntN(len(as))]
			if b == a {
				continue
			}
			a.learn(b)
			continue
		}
		var batch []commit.Op
		var newInvite keys.DeviceKey
		switch x := pr.IntN(10); {
		case x == 0: // a grant to a person
			batch = append(batch, commit.GrantOp(commit.PersonGrant(people[pr.IntN(2)].ID(), []commit.Role{commit.RoleRead, commit.RoleWrite, commit.RoleWrite, commit.RoleAdmin}[pr.IntN(4)])))
		case x == 1 && personOf[ai] >= 0: // carry a certificate: its own, or a sibling's
			ds := devicesOf(personOf[ai])
			batch = append(batch, certs[ai], certs[ds[pr.IntN(len(ds))]])
			if o := certs[(ai+1)%len(as)]; o.Kind != 0 && pr.IntN(4) == 0 { // sometimes another person's, which it may not carry
				batch = append(batch, o)
			}
		case x == 2 && personOf[ai] >= 0 && pr.IntN(2) == 0: // carry its identity's revocation of a sibling, with its certificate
			ds := devicesOf(personOf[ai])
			t := ds[pr.IntN(len(ds))]
			rv := must(identity.NewRevocation(people[personOf[ai]], as[t].key.Author(), phys))
			batch = append(batch, certs[t], commit.DevRevokeOp(commit.DevRevoke{Revocation: rv.Encode(), LastSeq: knownSeq(a, as[t])}))
		case x == 3 && pr.IntN(2) == 0: // revoke a person, at the seqs known of some of its devices
			p := pr.IntN(2)
			rp := commit.RevokePerson{Identity: people[p].ID()}
			for _, t := range devicesOf(p) {
				if pr.IntN(2) == 0 {
					rp.Cuts = append(rp.Cuts, commit.Revoke{Author: as[t].key.Author(), LastSeq: knownSeq(a, as[t])})
				}
			}
			batch = append(batch, commit.RevokePersonOp(rp))
		}
		switch x := r.IntN(20); {
		case x < 2: // grant
			target := as[r.IntN(len(as))].key.Author()
			batch = append(batch, randomGrant(r, target, expiry()))
		case x < 4: // revoke someone at the seq a knows of them
			t := as[r.IntN(len(as))]
			batch = append(batch, commit.RevokeOp(commit.Revoke{Author: t.key.Author(), LastSeq: knownSeq(a, t)}))
		case x < 5: // a new invite
			newInvite = keys.DeviceKeyFromSeed(seed())
			role := []commit.Role{commit.RoleRead, commit.RoleWrite}[r.IntN(2)]
			// 0: unlimited (joins through it never contend), 1 or 2.
			batch = append(batch, commit.GrantOp(commit.Grant{Subject: newInvite.Author(), Role: role, Uses: uint32(r.IntN(3))}))
		case x < 7 && len(invites) > 0: // join through an invite
			inv := invites[r.IntN(len(invites))]
			role := []commit.Role{commit.RoleRead, commit.RoleWrite}[r.IntN(2)]
			if p := personOf[ai]; p >= 0 && pr.IntN(4) != 0 {
				// As its person, with its certificate (or without: then
				// grounded only if the certificate is in its past).
				if pr.IntN(2) == 0 {
					batch = append(batch, certs[ai])
				}
				batch = append(batch, commit.GrantOp(commit.InvitePersonGrant(sp, people[p].ID(), role, inv)))
			} else {
				batch = append(batch, commit.GrantOp(commit.InviteGrant(sp, a.key.Author(), role, inv)))
			}
		}
		batch = append(batch, schemaStep(sr, a, as)...)
		for range r.IntN(g.MaxBatch + 1) {
			p := "k/"
			if r.IntN(3) == 0 {
				p = "p/"
			}
			key := fmt.Appendf(nil, "%s%02d", p, r.IntN(g.Keys))
			if r.IntN(5) == 0 {
				batch = append(batch, commit.Del(key))
			} else {
				batch = append(batch, commit.Put(key, fmt.Appendf(nil, "%s:%d", a.key.Author().Short(), a.seq+1)))
			}
		}
		if len(batch) == 0 {
			continue
		}
		c := a.build(sp, phys, batch)
		if !addGrounded(h, grounded, c) {
			continue // not grounded: a store would reject it; an honest node never makes it
		}
		if !newInvite.IsZero() {
			invites = append(invites, newInvite)
		}
		h.add(c)
		ops += len(batch)
		a.wrote(c)
	}
	return h
}

// schemaBodies are the app rules drawn for the app "s": closed to keys
// naming their author with JSON object values; open, naming the author;
// a pin only admins write; retired; write-once pins and keys.
var schemaBodies = []string{
	`{"prefix":"s/","rules":[{"key":"s/{author}","write":"named","value":{"type":"object"}}]}`,
	`{"rules":[{"key":"s/{author}","write":"named"}]}`,
	`{"prefix":"s/","rules":[{"key":"s/pin/{n}","write":"admin"},{"key":"s/{x}","write":"anyone"}]}`,
	``,
	`{"prefix":"s/","rules":[{"key":"s/pin/{n}","write":"anyone","once":true},{"key":"s/{x}","write":"anyone","once":true}]}`,
}

// schemaStep draws a's ops for the app "s": sometimes a schema
// declaration (kept only from an admin, by the grounded check), sometimes
// writes of its keys, under a's name or another's, with a JSON object or
// not.
func schemaStep(sr *rand.Rand, a *author, as []*author) []commit.Op {
	var out []commit.Op
	if sr.IntN(12) == 0 {
		body := schemaBodies[sr.IntN(len(schemaBodies))]
		out = append(out, commit.SchemaOp(commit.Schema{App: "s", Version: uint64(1 + sr.IntN(4)), Body: []byte(body)}))
	}
	if sr.IntN(3) == 0 {
		var key string
		switch x := sr.IntN(6); {
		case x < 3:
			key = "s/" + a.key.Author().String()
		case x < 5:
			key = "s/" + as[sr.IntN(len(as))].key.Author().String()
		default:
			key = fmt.Sprintf("s/pin/%d", sr.IntN(2))
		}
		value := []string{`{"n":1}`, `{}`, `"text"`}[sr.IntN(3)]
		if sr.IntN(6) == 0 {
			out = append(out, commit.Del([]byte(key)))
		} else {
			out = append(out, commit.Put([]byte(key), []byte(value)))
		}
	}
	return out
}

func randomGrant(r *rand.Rand, subject keys.AuthorID, expires uint64) commit.Op {
	role := []commit.Role{commit.RoleRead, commit.RoleWrite, commit.RoleWrite, commit.RoleAdmin, commit.RoleSeed}[r.IntN(5)]
	var prefix []byte
	if r.IntN(3) == 0 {
		prefix = []byte("p/")
	}
	return commit.GrantOp(commit.Grant{Subject: subject, Role: role, Prefix: prefix, Expires: expires})
}

// vvOf computes c's version vector from its prev and deps (held in h).
func (h *History) vvOf(c *commit.Commit) view.VV {
	vv := view.VV{}
	if c.Seq > 1 {
		vv.Merge(h.VVs[c.Prev])
	}
	for _, d := range c.Deps {
		vv.Merge(h.VVs[d])
	}
	vv[c.Author] = c.Seq
	return vv
}

// ExpectDecided computes the view of the history's commits that count by
// acl.Evaluate, and returns the decision with it.
func (h *History) ExpectDecided() (Model, *acl.Decision) {
	d := acl.Evaluate(h.Space(), h.Commits, nil)
	return h.expect(func(c *commit.Commit) bool { return d.Valid(c.Author, c.Seq) }), d
}

// ExpectDecidedOf is ExpectDecided for the subset of the history's
// commits held (by ID): what a replica holding exactly those must show.
func (h *History) ExpectDecidedOf(held map[keys.CommitID]bool) (Model, *acl.Decision) {
	var cs []*commit.Commit
	for _, c := range h.Commits {
		if held[c.ID] {
			cs = append(cs, c)
		}
	}
	d := acl.Evaluate(h.Space(), cs, nil)
	return h.expect(func(c *commit.Commit) bool { return held[c.ID] && d.Valid(c.Author, c.Seq) }), d
}
