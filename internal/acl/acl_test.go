package acl_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// world builds commits of one space by hand. Each commit depends on the
// commits named, so tests choose the causal graph exactly.
type world struct {
	t     *testing.T
	sk    keys.SpaceKey
	heads map[keys.AuthorID]*commit.Commit
	all   []*commit.Commit
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return &world{t: t, sk: keys.SpaceKeyFromSeed([32]byte{1}), heads: map[keys.AuthorID]*commit.Commit{}}
}

func (w *world) sp() keys.SpaceID { return w.sk.Space() }

func dev(n byte) keys.DeviceKey { return keys.DeviceKeyFromSeed([32]byte{2, n}) }

// at makes signer's next commit at wall time t (µs), depending on deps.
func (w *world) at(s commit.Signer, t uint64, deps []*commit.Commit, ops ...commit.Op) *commit.Commit {
	w.t.Helper()
	h := commit.Header{Space: w.sp(), Author: s.Author(), Seq: 1, Time: commit.HLC{Wall: t}}
	if p := w.heads[s.Author()]; p != nil {
		h.Seq, h.Prev = p.Seq+1, p.ID
	}
	for _, d := range deps {
		if d.Author != s.Author() {
			h.Deps = append(h.Deps, d.ID)
		}
	}
	slices.SortFunc(h.Deps, func(a, b keys.CommitID) int { return bytes.Compare(a[:], b[:]) })
	h.Deps = slices.Compact(h.Deps)
	c, err := commit.Build(h, ops, s)
	if err != nil {
		w.t.Fatal(err)
	}
	w.heads[s.Author()] = c
	w.all = append(w.all, c)
	return c
}

func (w *world) genesis(ops ...commit.Op) *commit.Commit {
	return w.at(w.sk, 1000, nil, ops...)
}

func grant(k keys.DeviceKey, r commit.Role) commit.Op {
	return commit.GrantOp(commit.Grant{Subject: k.Author(), Role: r})
}

func put(k string) commit.Op { return commit.Put([]byte(k), []byte("v")) }

func revoke(k keys.DeviceKey, last uint64) commit.Op {
	return commit.RevokeOp(commit.Revoke{Author: k.Author(), LastSeq: last})
}

// check decides c against the grants of every earlier commit of w in c's
// causal past, computed by Evaluate without c.
func (w *world) eval() *acl.Decision { return acl.Evaluate(w.sp(), w.all, nil) }

func valid(d *acl.Decision, c *commit.Commit) bool { return d.Valid(c.Author, c.Seq) }

// validity is a commit and whether it must count; an unnamed one is
// named by its author and seq.
type validity struct {
	name string
	c    *commit.Commit
	want bool
}

// checkValid fails for every case whose commit counts in d, or does not,
// against its want, and says d's reason.
func checkValid(t *testing.T, d *acl.Decision, cases []validity) {
	t.Helper()
	for _, c := range cases {
		if got := valid(d, c.c); got != c.want {
			name := c.name
			if name == "" {
				name = fmt.Sprintf("%s seq %d", c.c.Author.Short(), c.c.Seq)
			}
			t.Errorf("%s: valid = %v, want %v (%v)", name, got, c.want, reason(d, c.c))
		}
	}
}

func TestRoles(t *testing.T) {
	w := newWorld(t)
	admin, writer, reader, seeder := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(writer, commit.RoleWrite), grant(reader, commit.RoleRead), grant(seeder, commit.RoleSeed))
	cases := []struct {
		name string
		c    *commit.Commit
		ok   bool
		need commit.Role
	}{
		{"admin writes", w.at(admin, 2000, []*commit.Commit{g}, put("a")), true, 0},
		{"writer writes", w.at(writer, 2000, []*commit.Commit{g}, put("w")), true, 0},
		{"reader cannot write", w.at(reader, 2000, []*commit.Commit{g}, put("r")), false, commit.RoleWrite},
		{"seeder cannot write", w.at(seeder, 2000, []*commit.Commit{g}, put("s")), false, commit.RoleWrite},
		{"writer cannot grant", w.at(writer, 3000, []*commit.Commit{g}, grant(dev(9), commit.RoleRead)), false, commit.RoleAdmin},
		{"writer cannot revoke", w.at(writer, 4000, []*commit.Commit{g}, revoke(reader, 0)), false, commit.RoleAdmin},
		{"admin grants seed", w.at(admin, 3000, []*commit.Commit{g}, grant(dev(8), commit.RoleSeed)), true, 0},
		{"stranger cannot write", w.at(dev(7), 2000, []*commit.Commit{g}, put("x")), false, commit.RoleWrite},
	}
	d := w.eval()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := valid(d, tc.c); got != tc.ok {
				t.Fatalf("valid = %v, want %v (%v)", got, tc.ok, d.Invalid[acl.Loc{Author: tc.c.Author, Seq: tc.c.Seq}])
			}
			if tc.ok {
				return
			}
			var de *acl.DeniedError
			if err := d.Invalid[acl.Loc{Author: tc.c.Author, Seq: tc.c.Seq}]; !errors.As(err, &de) || de.Need != tc.need {
				t.Fatalf("err = %v, want a DeniedError needing %s", err, tc.need)
			}
		})
	}
}

func TestGrantMustBeInCausalPast(t *testing.T) {
	w := newWorld(t)
	admin, writer := dev(1), dev(2)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gw := w.at(admin, 2000, []*commit.Commit{g}, grant(writer, commit.RoleWrite))
	blind := w.at(writer, 3000, []*commit.Commit{g}, put("x")) // has not seen gw
	seen := w.at(writer, 4000, []*commit.Commit{gw}, put("y"))
	d := w.eval()
	if valid(d, blind) || !valid(d, seen) {
		t.Fatalf("blind %v seen %v; want false, true", valid(d, blind), valid(d, seen))
	}
}

func TestPrefix(t *testing.T) {
	w := newWorld(t)
	chatAdmin, chatter := dev(1), dev(2)
	g := w.genesis(commit.GrantOp(commit.Grant{Subject: chatAdmin.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/")}))
	inside := w.at(chatAdmin, 2000, []*commit.Commit{g}, commit.GrantOp(commit.Grant{Subject: chatter.Author(), Role: commit.RoleWrite, Prefix: []byte("chat/general/")}))
	outside := w.at(chatAdmin, 2100, nil, commit.GrantOp(commit.Grant{Subject: chatter.Author(), Role: commit.RoleWrite, Prefix: []byte("tools/")}))
	whole := w.at(chatAdmin, 2200, nil, grant(chatter, commit.RoleWrite))
	adminWritesIn := w.at(chatAdmin, 2300, nil, put("chat/x"))
	adminWritesOut := w.at(chatAdmin, 2400, nil, put("tools/x"))
	adminRevokes := w.at(chatAdmin, 2500, nil, revoke(dev(5), 0))
	ok := w.at(chatter, 3000, []*commit.Commit{inside}, put("chat/general/hi"))
	bad := w.at(chatter, 3100, nil, put("chat/random/hi"))
	d := w.eval()
	checkValid(t, d, []validity{
		{"grant inside the admin's prefix", inside, true},
		{"grant outside it", outside, false},
		{"grant of the whole space", whole, false},
		{"admin writes inside", adminWritesIn, true},
		{"admin writes outside", adminWritesOut, false},
		{"prefix admin revokes", adminRevokes, false},
		{"write inside the prefix", ok, true},
		{"write outside the prefix", bad, false},
	})
}

func TestExpiryByCommitTime(t *testing.T) {
	w := newWorld(t)
	temp := dev(1)
	g := w.genesis(commit.GrantOp(commit.Grant{Subject: temp.Author(), Role: commit.RoleWrite, Expires: 5000}))
	before := w.at(temp, 4999, []*commit.Commit{g}, put("a"))
	after := w.at(temp, 5000, nil, put("b"))
	d := w.eval()
	if !valid(d, before) || valid(d, after) {
		t.Fatalf("before %v after %v; want true, false", valid(d, before), valid(d, after))
	}
}

func TestRevocationCut(t *testing.T) {
	w := newWorld(t)
	admin, x, y := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(x, commit.RoleAdmin))
	x1 := w.at(x, 2000, []*commit.Commit{g}, put("x1"))
	x2 := w.at(x, 2100, nil, grant(y, commit.RoleWrite)) // within the cut: stays valid
	x3 := w.at(x, 2200, nil, put("x3"))
	y1 := w.at(y, 2300, []*commit.Commit{x2}, put("y1"))
	// The admin has seen only x1, and cuts x after seq 2: x3 (concurrent
	// with the revocation, and possibly held before it) stops counting.
	r := w.at(admin, 2150, []*commit.Commit{x1}, revoke(x, 2))
	x4 := w.at(x, 3000, []*commit.Commit{r}, put("x4"))
	d := w.eval()
	checkValid(t, d, []validity{{"", x1, true}, {"", x2, true}, {"", x3, false}, {"", x4, false}, {"", y1, true}, {"", r, true}})
	if !errors.Is(d.Invalid[acl.Loc{Author: x.Author(), Seq: 3}], acl.ErrRevoked) {
		t.Errorf("reason %v, want ErrRevoked", d.Invalid[acl.Loc{Author: x.Author(), Seq: 3}])
	}
	if d.Cuts[x.Author()] != 2 || len(d.Revocations) != 1 || d.Revocations[0].By != admin.Author() {
		t.Errorf("cuts %v revocations %v", d.Cuts, d.Revocations)
	}
}

// A grant issued above the granter's cut falls, and with it the commits
// that relied on it; a grant below the cut stays.
func TestRevocationTakesDownGrantsAboveTheCut(t *testing.T) {
	w := newWorld(t)
	admin, x, y := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(x, commit.RoleAdmin))
	x1 := w.at(x, 2000, []*commit.Commit{g}, grant(y, commit.RoleWrite))
	y1 := w.at(y, 2100, []*commit.Commit{x1}, put("y"))
	w.at(admin, 2200, []*commit.Commit{g}, revoke(x, 0))
	d := w.eval()
	if valid(d, x1) || valid(d, y1) {
		t.Fatalf("x1 %v y1 %v; want both invalid", valid(d, x1), valid(d, y1))
	}
	var de *acl.DeniedError
	if !errors.As(d.Invalid[acl.Loc{Author: y.Author(), Seq: 1}], &de) {
		t.Fatalf("y1 reason %v, want denied (its grant fell)", d.Invalid[acl.Loc{Author: y.Author(), Seq: 1}])
	}
}

// Two admins revoke each other concurrently: the earlier revocation by
// (time, author, ID) is accepted, the later one is ignored, whatever the
// order the commits are given in.
func TestRevocationCycle(t *testing.T) {
	for _, aFirst := range []bool{true, false} {
		w := newWorld(t)
		a, b := dev(1), dev(2)
		g := w.genesis(grant(a, commit.RoleAdmin), grant(b, commit.RoleAdmin))
		ta, tb := uint64(2000), uint64(2100)
		if !aFirst {
			ta, tb = tb, ta
		}
		ra := w.at(a, ta, []*commit.Commit{g}, revoke(b, 0))
		rb := w.at(b, tb, []*commit.Commit{g}, revoke(a, 0))
		for range 5 {
			cs := slices.Clone(w.all)
			rand.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			d := acl.Evaluate(w.sp(), cs, nil)
			winner, loser := ra, rb
			if !aFirst {
				winner, loser = rb, ra
			}
			if !valid(d, winner) || valid(d, loser) || len(d.Revocations) != 1 || d.Revocations[0].By != winner.Author {
				t.Fatalf("aFirst=%v: winner valid %v, loser valid %v, revocations %v", aFirst, valid(d, winner), valid(d, loser), d.Revocations)
			}
		}
	}
}

// Both revocations stand when each revoke lies within the other's cut.
func TestMutualRevocationWithinCuts(t *testing.T) {
	w := newWorld(t)
	a, b := dev(1), dev(2)
	g := w.genesis(grant(a, commit.RoleAdmin), grant(b, commit.RoleAdmin))
	w.at(a, 2000, []*commit.Commit{g}, revoke(b, 1))
	w.at(b, 2100, []*commit.Commit{g}, revoke(a, 1))
	a2 := w.at(a, 3000, nil, put("a"))
	b2 := w.at(b, 3000, nil, put("b"))
	d := w.eval()
	if len(d.Revocations) != 2 || valid(d, a2) || valid(d, b2) {
		t.Fatalf("revocations %v, a2 %v, b2 %v", d.Revocations, valid(d, a2), valid(d, b2))
	}
}

func TestSpaceKeyCannotBeRevoked(t *testing.T) {
	w := newWorld(t)
	a := dev(1)
	g := w.genesis(grant(a, commit.RoleAdmin))
	w.at(a, 2000, []*commit.Commit{g}, commit.RevokeOp(commit.Revoke{Author: keys.AuthorID(w.sp()), LastSeq: 0}))
	d := w.eval()
	if !valid(d, g) || len(d.Revocations) != 0 {
		t.Fatalf("genesis valid %v, revocations %v", valid(d, g), d.Revocations)
	}
}

func invite(w *world, inv keys.DeviceKey, joiner keys.DeviceKey, r commit.Role) commit.Op {
	return commit.GrantOp(commit.InviteGrant(w.sp(), joiner.Author(), r, inv))
}

// A one-time invite used by two concurrent joiners admits exactly the
// first in decision order, on every replica whatever the order.
func TestOneTimeInvite(t *testing.T) {
	w := newWorld(t)
	admin, inv, j1, j2 := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g}, commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Uses: 1}))
	late := w.at(j2, 3100, []*commit.Commit{gi}, invite(w, inv, j2, commit.RoleWrite), put("j2"))
	early := w.at(j1, 3000, []*commit.Commit{gi}, invite(w, inv, j1, commit.RoleWrite), put("j1"))
	lateNext := w.at(j2, 4000, nil, put("j2 again"))
	again := w.at(j1, 4000, nil, invite(w, inv, j1, commit.RoleWrite)) // the same joiner again: no second use
	for range 5 {
		cs := slices.Clone(w.all)
		rand.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		d := acl.Evaluate(w.sp(), cs, nil)
		if !valid(d, early) || valid(d, late) || valid(d, lateNext) || !valid(d, again) {
			t.Fatalf("early %v late %v lateNext %v again %v", valid(d, early), valid(d, late), valid(d, lateNext), valid(d, again))
		}
		if !errors.Is(d.Invalid[acl.Loc{Author: j2.Author(), Seq: 1}], acl.ErrUsedUp) {
			t.Fatalf("late reason %v, want ErrUsedUp", d.Invalid[acl.Loc{Author: j2.Author(), Seq: 1}])
		}
		if js := d.Joined[inv.Author()]; len(js) != 1 || js[0] != j1.Author() {
			t.Fatalf("joined %v", js)
		}
	}
}

func TestInviteRules(t *testing.T) {
	w := newWorld(t)
	admin, inv, exp := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g},
		commit.GrantOp(commit.Grant{Subject: inv.Author(), Role: commit.RoleWrite, Prefix: []byte("chat/")}),
		commit.GrantOp(commit.Grant{Subject: exp.Author(), Role: commit.RoleRead, Expires: 5000}))
	self := func(j keys.DeviceKey, r commit.Role, prefix string) commit.Op {
		g := commit.InviteGrant(w.sp(), j.Author(), r, inv)
		g.Prefix = []byte(prefix)
		return commit.GrantOp(g)
	}
	okJoin := w.at(dev(10), 3000, []*commit.Commit{gi}, self(dev(10), commit.RoleWrite, "chat/"), put("chat/hi"))
	readJoin := w.at(dev(11), 3000, []*commit.Commit{gi}, self(dev(11), commit.RoleRead, "chat/"))
	tooHigh := w.at(dev(12), 3000, []*commit.Commit{gi}, self(dev(12), commit.RoleAdmin, "chat/"))
	wider := w.at(dev(13), 3000, []*commit.Commit{gi}, self(dev(13), commit.RoleWrite, ""))
	outside := w.at(dev(14), 3000, []*commit.Commit{gi}, self(dev(14), commit.RoleWrite, "chat/"), put("tools/x"))
	other := commit.InviteGrant(w.sp(), dev(15).Author(), commit.RoleWrite, inv) // signed for someone else
	stolen := w.at(dev(16), 3000, []*commit.Commit{gi}, commit.GrantOp(commit.Grant{Subject: dev(16).Author(), Role: commit.RoleWrite, Prefix: []byte("chat/"), Invite: other.Invite, InviteSig: other.InviteSig}))
	expJoinIn := w.at(dev(17), 4000, []*commit.Commit{gi}, commit.GrantOp(commit.InviteGrant(w.sp(), dev(17).Author(), commit.RoleRead, exp)))
	expJoinLate := w.at(dev(18), 5000, []*commit.Commit{gi}, commit.GrantOp(commit.InviteGrant(w.sp(), dev(18).Author(), commit.RoleRead, exp)))
	d := w.eval()
	// Membership outlives the invite's expiry: the joiner's grant has none.
	if r := d.State(w.sp()).Role(dev(17).Author(), commit.HLC{Wall: 9000}); r != commit.RoleRead {
		t.Errorf("joiner's role after the invite expired = %s, want read", r)
	}
	checkValid(t, d, []validity{
		{"join and write inside the prefix", okJoin, true},
		{"join with a lower role", readJoin, true},
		{"join with a higher role", tooHigh, false},
		{"join wider than the invite's prefix", wider, false},
		{"write outside the invite's prefix", outside, false},
		{"delegation signed for another joiner", stolen, false},
		{"join before the invite expires", expJoinIn, true},
		{"join when the invite has expired", expJoinLate, false},
	})
}

// revoke(invite, n) admits only the invite's first n joiners.
func TestRevokeInvite(t *testing.T) {
	w := newWorld(t)
	admin, inv := dev(1), dev(2)
	g := w.genesis(grant(admin, commit.RoleAdmin))
	gi := w.at(admin, 2000, []*commit.Commit{g}, grant(inv, commit.RoleRead))
	j1 := w.at(dev(3), 3000, []*commit.Commit{gi}, invite(w, inv, dev(3), commit.RoleRead))
	r := w.at(admin, 3500, []*commit.Commit{j1}, revoke(inv, 1))
	j2 := w.at(dev(4), 3200, []*commit.Commit{gi}, invite(w, inv, dev(4), commit.RoleRead)) // concurrent with the revocation
	d := w.eval()
	if !valid(d, j1) || valid(d, j2) || !valid(d, r) {
		t.Fatalf("j1 %v j2 %v r %v", valid(d, j1), valid(d, j2), valid(d, r))
	}
}

func TestForkIsACut(t *testing.T) {
	w := newWorld(t)
	x := dev(1)
	g := w.genesis(grant(x, commit.RoleWrite))
	x1 := w.at(x, 2000, []*commit.Commit{g}, put("a"))
	x2 := w.at(x, 2100, nil, put("b"))
	d := acl.Evaluate(w.sp(), w.all, map[keys.AuthorID]uint64{x.Author(): 2})
	if !valid(d, x1) || valid(d, x2) || !errors.Is(d.Invalid[acl.Loc{Author: x.Author(), Seq: 2}], acl.ErrForked) {
		t.Fatalf("x1 %v x2 %v (%v)", valid(d, x1), valid(d, x2), d.Invalid[acl.Loc{Author: x.Author(), Seq: 2}])
	}
}

// TestOffChainDepStandsForCommitBeforeFork: x forks at seq 2; w and v
// each name x's other branch (x2', x3', held off the main chain) and
// nothing else. Every branch of x continues from x1, so both saw x1: w's
// grant there counts for w1; v's grant, which only x2 on the main chain
// saw, does not count for v1. (Evaluate ignored the off-chain dep, so w1
// did not count: TestPropertyRosterFromRows seed 11091798080288032860, a
// device certifying itself by its person's grant from a forked sibling's
// commit before the fork, counted by the store.)
func TestOffChainDepStandsForCommitBeforeFork(t *testing.T) {
	w := newWorld(t)
	x, g, wr, v := dev(1), dev(2), dev(3), dev(4)
	gen := w.genesis(grant(x, commit.RoleAdmin), grant(g, commit.RoleAdmin))
	x1 := w.at(x, 2000, []*commit.Commit{gen}, grant(wr, commit.RoleWrite))
	g1 := w.at(g, 2100, []*commit.Commit{gen}, grant(v, commit.RoleWrite))
	x2 := w.at(x, 2200, []*commit.Commit{g1}, put("a"))
	twin := func(h commit.Header, ops ...commit.Op) *commit.Commit {
		c, err := commit.Build(h, ops, x)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	x2b := twin(commit.Header{Space: w.sp(), Author: x.Author(), Seq: 2, Prev: x1.ID, Time: commit.HLC{Wall: 2250}}, put("b"))
	x3b := twin(commit.Header{Space: w.sp(), Author: x.Author(), Seq: 3, Prev: x2b.ID, Time: commit.HLC{Wall: 2300}}, put("c"))
	w1 := w.at(wr, 2400, []*commit.Commit{x3b}, put("w"))
	v1 := w.at(v, 2500, []*commit.Commit{x3b}, put("v"))
	main := []*commit.Commit{gen, x1, g1, x2, w1, v1} // w.all without the twins (never given to at)
	forked := map[keys.AuthorID]uint64{x.Author(): 2}
	off := map[keys.CommitID]keys.AuthorID{x2b.ID: x.Author(), x3b.ID: x.Author()}
	d := acl.EvaluateForked(w.sp(), main, forked, off)
	if !valid(d, x1) || valid(d, x2) || !valid(d, w1) || valid(d, v1) {
		t.Fatalf("x1 %v x2 %v w1 %v (%v) v1 %v: w1 saw x1, v1 did not see g1", valid(d, x1), valid(d, x2), valid(d, w1), d.Invalid[acl.Loc{Author: wr.Author(), Seq: 1}], valid(d, v1))
	}
	if !errors.Is(d.Invalid[acl.Loc{Author: v.Author(), Seq: 1}], acl.ErrDenied) {
		t.Fatalf("v1: %v; want denied", d.Invalid[acl.Loc{Author: v.Author(), Seq: 1}])
	}
	// In any order, as Evaluate.
	for range 5 {
		cs := slices.Clone(main)
		rand.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		if e := acl.EvaluateForked(w.sp(), cs, forked, off); !e.Equal(d) {
			t.Fatalf("decided otherwise in another order: %v", e.Invalid)
		}
	}
}

func TestDeniedErrorSaysWhatToDo(t *testing.T) {
	w := newWorld(t)
	reader := dev(1)
	g := w.genesis(grant(reader, commit.RoleRead))
	st := acl.Evaluate(w.sp(), w.all, nil).State(w.sp())
	err := st.Allows(reader.Author(), commit.HLC{Wall: 2000}, []byte("k"))
	if !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{reader.Author().String(), "has role read", "writing \"k\" needs write", "loam invite --role write"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	_ = g
}
