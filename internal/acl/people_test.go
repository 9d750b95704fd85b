package acl_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// Ana's identity and Bob's, for the people tests.
var (
	ana = identity.KeyFromSeed([32]byte{7, 1})
	bob = identity.KeyFromSeed([32]byte{7, 2})
)

func certOp(t *testing.T, id identity.Key, d keys.DeviceKey) commit.Op {
	t.Helper()
	c, err := identity.NewCert(id, d, "device", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return commit.CertOp(c.Encode())
}

func devRevokeOp(t *testing.T, id identity.Key, d keys.DeviceKey, last uint64) commit.Op {
	t.Helper()
	r, err := identity.NewRevocation(id, d.Author(), 5000)
	if err != nil {
		t.Fatal(err)
	}
	return commit.DevRevokeOp(commit.DevRevoke{Revocation: r.Encode(), LastSeq: last})
}

func personGrant(id identity.Key, r commit.Role) commit.Op {
	return commit.GrantOp(commit.PersonGrant(id.ID(), r))
}

func reason(d *acl.Decision, c *commit.Commit) error {
	return d.Invalid[acl.Loc{Author: c.Author, Seq: c.Seq}]
}

// evalShuffled decides w's commits in several input orders and fails if
// they differ; it returns the decision.
func evalShuffled(t *testing.T, w *world) *acl.Decision {
	t.Helper()
	d := w.eval()
	for range 5 {
		cs := slices.Clone(w.all)
		rand.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		if !acl.Evaluate(w.sp(), cs, nil).Equal(d) {
			t.Fatal("the decision depends on the order of the commits")
		}
	}
	return d
}

// A grant to a person is held by each device the person certified in the
// space, from the certificate on (in the causal past), including a device
// linked later whose certificate another of the person's devices carried.
func TestPersonGrant(t *testing.T) {
	w := newWorld(t)
	admin, laptop, phone, tablet := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin), personGrant(ana, commit.RoleWrite))
	l1 := w.at(laptop, 2000, []*commit.Commit{g}, certOp(t, ana, laptop), put("chat/l1"))
	// The phone writes before any certificate of it is in its causal past.
	early := w.at(phone, 2050, []*commit.Commit{g}, put("chat/early"))
	l2 := w.at(laptop, 2100, nil, certOp(t, ana, phone))
	p1 := w.at(phone, 2200, []*commit.Commit{l2}, put("chat/p1"))
	// A certificate by another identity gives nothing of Ana's.
	t1 := w.at(tablet, 2300, []*commit.Commit{g}, certOp(t, bob, tablet), put("chat/t1"))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{{"", l1, true}, {"", l2, true}, {"", p1, true}, {"", early, false}, {"", t1, false}})
	if !errors.Is(reason(d, early), acl.ErrDenied) {
		t.Errorf("early: %v, want denied", reason(d, early))
	}
	if len(d.People) != 1 || d.People[0].Identity != ana.ID() || len(d.Certs) != 2 {
		t.Errorf("people %v certs %v", d.People, d.Certs)
	}
	st := d.State(w.sp())
	if r := st.Role(phone.Author(), commit.HLC{Wall: 9000}); r != commit.RoleWrite {
		t.Errorf("phone's role %s, want write", r)
	}
}

// Only the person's own devices carry its certificates; a forged
// certificate (signed by the wrong identity, or not accepted by the
// device) makes the commit not allowed at all.
func TestCertificateRules(t *testing.T) {
	w := newWorld(t)
	admin, laptop, phone, stranger := dev(1), dev(2), dev(3), dev(5)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(stranger, commit.RoleWrite), personGrant(ana, commit.RoleWrite))
	st := acl.New(w.sp())
	st.Add(acl.Grant{Subject: stranger.Author(), Granter: g.Author, Seq: 1, Role: commit.RoleWrite})
	st.Add(acl.Grant{Identity: ana.ID(), Granter: g.Author, Seq: 1, Role: commit.RoleWrite})
	all := func(keys.AuthorID, uint64) bool { return true }

	carried := w.at(stranger, 2000, []*commit.Commit{g}, certOp(t, ana, phone))
	if _, err := st.Check(carried, all); !errors.Is(err, acl.ErrDenied) || !strings.Contains(err.Error(), "not one of that person's devices") {
		t.Errorf("a stranger carrying Ana's certificate: %v", err)
	}
	forged, err := identity.NewCert(ana, laptop, "laptop", 1000)
	if err != nil {
		t.Fatal(err)
	}
	forged.SignIdentity(bob)
	c := w.at(laptop, 2100, []*commit.Commit{g}, commit.CertOp(forged.Encode()))
	if _, err := st.Check(c, all); !errors.Is(err, acl.ErrDenied) || !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("a certificate signed by the wrong identity: %v", err)
	}
	// Without any role, a device's own certificate grants it nothing to
	// write with: Bob has no grant here.
	c = w.at(phone, 2200, []*commit.Commit{g}, certOp(t, bob, phone))
	if _, err := st.Check(c, all); !errors.Is(err, acl.ErrDenied) {
		t.Errorf("a certificate of a person without a role: %v", err)
	}
	// A certificate that does not decode is ignored, as any malformed
	// control op: the commit is decided by its other ops.
	c = w.at(laptop, 2300, []*commit.Commit{g}, commit.CertOp([]byte{0xa0}), certOp(t, ana, laptop), put("x"))
	if _, err := st.Check(c, all); err != nil {
		t.Errorf("a malformed certificate beside a good one: %v", err)
	}
}

// A device revocation signed by the identity and carried by another of the
// person's devices cuts the device at the seq chosen there, whatever the
// order the commits arrive in; the phone's commits made concurrently
// beyond the cut stop counting. Without the identity's signature a device
// cannot revoke its sibling.
func TestDeviceRevocation(t *testing.T) {
	w := newWorld(t)
	admin, laptop, phone := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), personGrant(ana, commit.RoleWrite))
	l1 := w.at(laptop, 2000, []*commit.Commit{g}, certOp(t, ana, laptop), certOp(t, ana, phone))
	p1 := w.at(phone, 2100, []*commit.Commit{l1}, put("p1"))
	p2 := w.at(phone, 2200, nil, put("p2")) // concurrent with the revocation
	r := w.at(laptop, 2150, []*commit.Commit{p1}, devRevokeOp(t, ana, phone, 1))
	p3 := w.at(phone, 3000, []*commit.Commit{r}, put("p3"))
	l2 := w.at(laptop, 3100, nil, put("l2"))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{{"", p1, true}, {"", p2, false}, {"", p3, false}, {"", r, true}, {"", l2, true}})
	if !errors.Is(reason(d, p2), acl.ErrRevoked) || d.Cuts[phone.Author()] != 1 {
		t.Errorf("p2: %v; cuts %v", reason(d, p2), d.Cuts)
	}
	if len(d.Revocations) != 1 || d.Revocations[0].Identity != ana.ID() || d.Revocations[0].By != laptop.Author() {
		t.Errorf("revocations %+v", d.Revocations)
	}

	// The phone signs a "revocation" of the laptop with its own key.
	st := d.State(w.sp())
	fake, err := identity.NewRevocation(ana, laptop.Author(), 5000)
	if err != nil {
		t.Fatal(err)
	}
	fake.Sig = phone.Sign(identity.CtxRevokeSig, fake.Digest())
	c := w.at(phone, 3200, nil, commit.DevRevokeOp(commit.DevRevoke{Revocation: fake.Encode(), LastSeq: 0}))
	if _, err := st.Check(c, func(keys.AuthorID, uint64) bool { return true }); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("a device revoking its sibling without the identity key: %v", err)
	}
}

// An identity revokes only devices it certified in the space (and the
// certificate needs the device's own signature), so it cannot cut
// another person's device; an admin may carry a person's revocation.
func TestDeviceRevocationNeedsCertificate(t *testing.T) {
	w := newWorld(t)
	admin, laptop, other := dev(1), dev(2), dev(6)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(other, commit.RoleWrite), personGrant(ana, commit.RoleWrite))
	l1 := w.at(laptop, 2000, []*commit.Commit{g}, certOp(t, ana, laptop))
	st := acl.New(w.sp())
	for _, gr := range w.eval().State(w.sp()).People(ana.ID()) {
		st.Add(gr)
	}
	st.Add(acl.Grant{Subject: admin.Author(), Granter: g.Author, Seq: 1, Role: commit.RoleAdmin})
	st.Add(acl.Grant{Subject: laptop.Author(), Granter: laptop.Author(), Seq: 1, Identity: ana.ID()})
	all := func(keys.AuthorID, uint64) bool { return true }
	c := w.at(laptop, 2100, []*commit.Commit{l1}, devRevokeOp(t, ana, other, 0))
	if _, err := st.Check(c, all); !errors.Is(err, acl.ErrDenied) || !strings.Contains(err.Error(), "certificate is not in this space") {
		t.Errorf("revoking a device Ana never certified: %v", err)
	}
	// An admin carries Ana's revocation of her laptop.
	c = w.at(admin, 2200, []*commit.Commit{l1}, devRevokeOp(t, ana, laptop, 1))
	v, err := st.Check(c, all)
	if err != nil || len(v.Revokes) != 1 || v.Revokes[0].Author != laptop.Author() {
		t.Errorf("an admin carrying a device revocation: %+v, %v", v, err)
	}
	// A member who is neither cannot.
	c = w.at(other, 2300, []*commit.Commit{l1}, devRevokeOp(t, ana, laptop, 1))
	st.Add(acl.Grant{Subject: other.Author(), Granter: g.Author, Seq: 1, Role: commit.RoleWrite})
	if _, err := st.Check(c, all); !errors.Is(err, acl.ErrDenied) {
		t.Errorf("a stranger carrying a device revocation: %v", err)
	}
}

// Revoking a person cuts every device the person certified in the space:
// those the admin knew at the seq it held, one certified concurrently (the
// admin knew nothing of it) at 0, and one certified after the revocation
// too.
func TestRevokePerson(t *testing.T) {
	w := newWorld(t)
	admin, laptop, phone, tablet := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin), personGrant(ana, commit.RoleWrite))
	l1 := w.at(laptop, 2000, []*commit.Commit{g}, certOp(t, ana, laptop), put("l1"))
	l2 := w.at(laptop, 2100, nil, put("l2"))
	p1 := w.at(phone, 2050, []*commit.Commit{l1}, certOp(t, ana, phone), put("p1"))
	r := w.at(admin, 2200, []*commit.Commit{l1}, commit.RevokePersonOp(commit.RevokePerson{Identity: ana.ID(), Cuts: []commit.Revoke{{Author: laptop.Author(), LastSeq: 1}}}))
	t1 := w.at(tablet, 3000, []*commit.Commit{l2}, certOp(t, ana, tablet), put("t1"))
	other := w.at(admin, 3100, nil, put("admin"))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{{"", l1, true}, {"", l2, false}, {"", p1, false}, {"", t1, false}, {"", r, true}, {"", other, true}})
	if d.Cuts[laptop.Author()] != 1 || d.Cuts[phone.Author()] != 0 || d.Cuts[tablet.Author()] != 0 || len(d.Cuts) != 3 {
		t.Errorf("cuts %v", d.Cuts)
	}
	for _, rv := range d.Revocations {
		if !rv.Person || rv.Identity != ana.ID() {
			t.Errorf("revocation %+v is not Ana's as a person", rv)
		}
	}
	// Only an admin of the whole space revokes a person.
	st := d.State(w.sp())
	c := w.at(laptop, 4000, nil, commit.RevokePersonOp(commit.RevokePerson{Identity: bob.ID()}))
	if _, err := st.Check(c, func(keys.AuthorID, uint64) bool { return true }); !errors.Is(err, acl.ErrDenied) {
		t.Errorf("a writer revoking a person: %v", err)
	}
}
