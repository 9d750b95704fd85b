package storetest

import (
	"fmt"
	"math/rand/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// GenPeopleRevokes generates a history of two admins and writers
// (adminsAndWriters) in which most writers are the devices of one to
// three people (#12), one to three devices each, and revocations cut
// devices and people at random points: the admins revoke people (naming
// some of the devices they know, at the seq they know or lower; the
// others are cut at 0), now and then a member or carry a device
// revocation; devices carry their identity's revocation of a sibling,
// with the certificates it needs. Certificates arrive at random points: a
// device's own with its writes, or a sibling's carried by a device of the
// same person, often after that person was revoked (a late certificate,
// which makes the revocation cut one more device); half the devices only
// write, their certificates carried by siblings, half of those only once
// their person was revoked. Everyone keeps
// writing. Every commit is grounded (a candidate the grants of every
// commit before it do not allow is dropped), so a store stores every one.
// It exercises deciding device and person revocations from the cut (#16)
// and where that falls back.
func GenPeopleRevokes(r *rand.Rand, g Gen) *History {
	h, as, phys := adminsAndWriters(r, g)
	sp := h.Space()
	genesis := h.Commits[0]
	grounded := acl.New(sp)
	for _, o := range genesis.Ops {
		gr := must(commit.DecodeGrant(o))
		grounded.Add(acl.Grant{Subject: gr.Subject, Granter: genesis.Author, Seq: 1, Role: gr.Role})
	}

	seed := seeds(r)
	people := make([]identity.Key, 1+r.IntN(3))
	for i := range people {
		people[i] = identity.KeyFromSeed(seed())
	}
	personOf := make([]int, len(as)) // index in people, or -1
	certs := make([]commit.Op, len(as))
	quiet := make([]bool, len(as)) // a device that only writes: its siblings carry its certificate
	late := make([]bool, len(as))  // a quiet device whose certificate comes only after its person's revocation
	revoked := make([]bool, len(people))
	for i, a := range as {
		personOf[i] = -1
		if i >= 2 && r.IntN(4) != 0 {
			personOf[i] = r.IntN(len(people))
			quiet[i] = r.IntN(2) == 0
			late[i] = quiet[i] && r.IntN(2) == 0
			ct := must(identity.NewCert(people[personOf[i]], a.key, fmt.Sprintf("device %d", i), phys))
			certs[i] = commit.CertOp(ct.Encode())
		}
	}
	devicesOf := func(p int) []int { return devicesOf(personOf, p) }
	knownSeq := func(a, t *author) uint64 { return lowered(r, a.seqOf(t), 5) }

	for ops, tries := 0, 0; ops < g.Ops && tries < 20*g.Ops; tries++ {
		phys += uint64(r.IntN(3)) * 1000
		ai, a, acts := pick(r, as)
		if !acts {
			continue
		}
		p := personOf[ai]
		if quiet[ai] {
			p = -1
		}
		var batch []commit.Op
		switch x := r.IntN(12); {
		case ai < 2 && x < 3: // revoke a person
			q := r.IntN(len(people))
			rp := commit.RevokePerson{Identity: people[q].ID()}
			for _, t := range devicesOf(q) {
				if r.IntN(3) != 0 {
					rp.Cuts = append(rp.Cuts, commit.Revoke{Author: as[t].key.Author(), LastSeq: knownSeq(a, as[t])})
				}
			}
			batch = append(batch, commit.RevokePersonOp(rp))
		case ai < 2 && x == 3: // revoke a member
			t := as[r.IntN(len(as))]
			batch = append(batch, commit.RevokeOp(commit.Revoke{Author: t.key.Author(), LastSeq: knownSeq(a, t)}))
		case ai < 2 && (x == 4 || x == 5): // carry a device revocation (grounded only if its certificate is in the past)
			if t := r.IntN(len(as)); personOf[t] >= 0 {
				rv := must(identity.NewRevocation(people[personOf[t]], as[t].key.Author(), phys))
				batch = append(batch, commit.DevRevokeOp(commit.DevRevoke{Revocation: rv.Encode(), LastSeq: knownSeq(a, as[t])}))
			}
		case p >= 0 && x < 2: // carry its certificate and a sibling's, maybe late
			ds := devicesOf(p)
			batch = append(batch, certs[ai])
			if t := ds[r.IntN(len(ds))]; !late[t] || revoked[p] {
				batch = append(batch, certs[t])
			}
		case p >= 0 && (x == 2 || x == 4): // revoke a sibling, with the certificates needed
			ds := devicesOf(p)
			t := ds[r.IntN(len(ds))]
			if t == ai {
				break
			}
			for _, b := range as[:2] { // mostly after the admins' revocations: decided from the cut
				if r.IntN(4) != 0 {
					a.learn(b)
				}
			}
			rv := must(identity.NewRevocation(people[p], as[t].key.Author(), phys))
			batch = append(batch, certs[ai])
			if r.IntN(2) == 0 {
				batch = append(batch, certs[t]) // else grounded only if it is in the past
			}
			batch = append(batch, commit.DevRevokeOp(commit.DevRevoke{Revocation: rv.Encode(), LastSeq: knownSeq(a, as[t])}))
		case p >= 0 && x == 3 && a.seq == 0: // its certificate with its first writes
			batch = append(batch, certs[ai])
		}
		if len(batch) == 0 || r.IntN(4) == 0 {
			batch = append(batch, revokedWrites(r, g, a)...)
		}
		c := a.build(sp, phys, batch)
		if !addGrounded(h, grounded, c) {
			continue // not grounded: a store would reject it
		}
		for _, o := range batch {
			if o.Kind == commit.KindRevokePerson {
				for q := range people {
					revoked[q] = revoked[q] || must(commit.DecodeRevokePerson(o)).Identity == people[q].ID()
				}
			}
		}
		h.add(c)
		ops += len(batch)
		a.wrote(c)
	}
	return h
}

// devicesOf returns the indexes i of the authors whose person personOf[i]
// is p.
func devicesOf(personOf []int, p int) []int {
	var out []int
	for i, q := range personOf {
		if q == p {
			out = append(out, i)
		}
	}
	return out
}

// addGrounded decides c against grounded, with c's causal past in h (what
// a store decides of it), and adds the grants it gives; false: c does not
// count, and a store would reject it.
func addGrounded(h *History, grounded *acl.State, c *commit.Commit) bool {
	vv := h.vvOf(c)
	v, err := grounded.Check(c, func(au keys.AuthorID, seq uint64) bool {
		if au == c.Author {
			return seq < c.Seq
		}
		return vv.Saw(au, seq)
	})
	if err != nil {
		return false
	}
	for _, gr := range v.Grants {
		grounded.Add(gr)
	}
	return true
}
