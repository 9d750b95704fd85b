package space

import (
	"bytes"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// People (#12): a person is an identity that certified devices in the
// space. Members lists each certified device as a member (with the person
// it belongs to, and the name and time of its certificate); Roster adds
// the people, with the grants made to them.

// Person is one identity with devices or grants in a space.
type Person struct {
	Identity keys.IdentityID
	// Role is the highest role in force now of the grants to the person
	// (0: none); each device's own role is on its Member.
	Role    commit.Role
	Grants  []MemberGrant   // grants to the person, oldest first
	Devices []keys.AuthorID // its certified devices, in author order
	// Profile is the person's profile in force in the space (profile.go);
	// zero (Name "") when none.
	Profile ProfileEntry
}

// certInfo is what a device's certificate says of it.
type certInfo struct {
	name string
	time time.Time
}

type certKey struct {
	id  keys.IdentityID
	dev keys.AuthorID
}

// Certs returns the valid certificates carried by commit c, in op order.
func Certs(c *commit.Commit) []identity.Cert {
	var out []identity.Cert
	for _, o := range c.Ops {
		if o.Kind != commit.KindCert {
			continue
		}
		b, err := commit.CertPayload(o)
		if err != nil {
			continue
		}
		if ct, err := identity.DecodeCert(b); err == nil {
			out = append(out, ct)
		}
	}
	return out
}

// certsOf records the name and time of every valid certificate carried by
// commit c.
func certsOf(c *commit.Commit, into map[certKey]certInfo) {
	for _, ct := range Certs(c) {
		k := certKey{ct.Identity, ct.Device}
		if _, ok := into[k]; !ok {
			into[k] = certInfo{ct.Name, time.UnixMicro(int64(ct.Time)).UTC()}
		}
	}
}

// addPeople marks the members that are certified devices and returns the
// people of d: certificates that count (d.Certs, first per device) and
// grants to people (d.People).
func addPeople(d *acl.Decision, certs map[certKey]certInfo, times map[acl.Loc]time.Time, now commit.HLC, get func(keys.AuthorID) *Member) []Person {
	byID := map[keys.IdentityID]*Person{}
	person := func(id keys.IdentityID) *Person {
		return entry(byID, id, func() *Person { return &Person{Identity: id} })
	}
	for _, g := range d.Certs {
		m := get(g.Subject)
		if !m.Identity.IsZero() {
			continue // certified by another identity first
		}
		ci := certs[certKey{g.Identity, g.Subject}]
		m.Identity, m.DeviceName, m.Certified = g.Identity, ci.name, ci.time
		p := person(g.Identity)
		p.Devices = append(p.Devices, g.Subject)
	}
	for _, g := range d.People {
		p := person(g.Identity)
		p.Grants = append(p.Grants, grantOf(g, times))
		if g.InForce(now) && acl.Rank(g.Role) > acl.Rank(p.Role) {
			p.Role = g.Role
		}
	}
	out := make([]Person, 0, len(byID))
	for _, p := range byID {
		slices.SortFunc(p.Devices, func(a, b keys.AuthorID) int { return bytes.Compare(a[:], b[:]) })
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Person) int { return bytes.Compare(a.Identity[:], b.Identity[:]) })
	return out
}
