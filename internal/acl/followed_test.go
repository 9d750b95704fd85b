package acl_test

import (
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// followedCase is a commit refused by app rules and whether the refusal
// shows that its author broke a rule it could see (acl.Broken).
type followedCase struct {
	name   string
	c      *commit.Commit
	broken bool
}

// wantFollowed checks each case in d (Evaluate) and with Check on st (a
// store's incremental path: a State from a Decision without the cases,
// with the grants of every commit held linked by Ground).
func wantFollowed(t *testing.T, d *acl.Decision, st *acl.State, cases []followedCase) {
	t.Helper()
	all := func(keys.AuthorID, uint64) bool { return true }
	for _, tc := range cases {
		if err := reason(d, tc.c); !errors.Is(err, acl.ErrSchema) || acl.Broken(err) != tc.broken {
			t.Errorf("%s: Evaluate: %v, want ErrSchema with Broken = %v", tc.name, err, tc.broken)
		}
		if st == nil {
			continue
		}
		if _, err := st.Check(tc.c, all); !errors.Is(err, acl.ErrSchema) || acl.Broken(err) != tc.broken {
			t.Errorf("%s: State.Check: %v, want ErrSchema with Broken = %v", tc.name, err, tc.broken)
		}
	}
}

// TestSchemaFollowedVoidedGrant (#15): admin A grants member M admin of
// chat/pin/; M, seeing the grant, writes a key only an admin may write;
// admin B cut A below its grant concurrently. M's write is void (the
// grant does not count) but not evidence that M misbehaved: a grant in
// its causal past, counting or not, allows it. F's write of the same key,
// with no admin grant of its own in its causal past (A's grant to M is
// there), is Broken.
func TestSchemaFollowedVoidedGrant(t *testing.T) {
	w := newWorld(t)
	b, a, m, f := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(b, commit.RoleAdmin), grant(a, commit.RoleAdmin), grant(m, commit.RoleWrite), grant(f, commit.RoleWrite))
	s := w.at(b, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	ag := w.at(a, 3000, []*commit.Commit{s}, commit.GrantOp(commit.Grant{Subject: m.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/pin/")}))
	w.at(b, 3100, nil, revoke(a, 0))
	st := w.eval().State(w.sp()) // before the writes: as a store holding the grant and the cut
	pinM := w.at(m, 4000, []*commit.Commit{ag}, putv("chat/pin/general", `"by M"`))
	pinF := w.at(f, 4100, []*commit.Commit{ag, w.heads[b.Author()]}, putv("chat/pin/general", `"by F"`))
	outOfScope := w.at(m, 4200, []*commit.Commit{ag}, putv("chat/pin/general/x", `"x"`)) // a key no layout has: no grant helps
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"A's grant below its cut", ag, false},
		{"M's pin relying on the voided grant", pinM, false},
		{"F's pin with no admin grant of its own", pinF, false},
		{"M's write of a key no version lays out", outOfScope, false},
	})
	st.Ground(acl.Grounded(w.sp(), w.all))
	wantFollowed(t, d, st, []followedCase{
		{"M's pin relying on the voided grant", pinM, false},
		{"F's pin with no admin grant of its own", pinF, true},
		{"M's write of a key no version lays out", outOfScope, true},
	})
}

// TestSchemaFollowedVoidedCert (#15): Ana's laptop carries the
// certificate of her phone; admin B cut the laptop below it concurrently.
// The phone, seeing the certificate, writes a key naming Ana as its
// person: void (the certificate does not count), but a certificate in its
// causal past, counting or not, allows it: not Broken. Its write naming
// Bob, who certified it nowhere, is Broken.
func TestSchemaFollowedVoidedCert(t *testing.T) {
	w := newWorld(t)
	b, laptop, phone := dev(1), dev(2), dev(3)
	g := w.genesis(grant(b, commit.RoleAdmin), grant(laptop, commit.RoleWrite), grant(phone, commit.RoleWrite))
	s := w.at(b, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	l1 := w.at(laptop, 2500, []*commit.Commit{s}, certOp(t, ana, laptop))
	l2 := w.at(laptop, 2600, nil, certOp(t, ana, phone))
	w.at(b, 2700, nil, revoke(laptop, 0))
	st := w.eval().State(w.sp())
	key := func(id string) string { return "chat/profile/" + id + "/" + phone.Author().String() }
	asAna := w.at(phone, 4000, []*commit.Commit{l2}, putv(key(ana.ID().String()), `{}`))
	asBob := w.at(phone, 4100, nil, putv(key(bob.ID().String()), `{}`))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"the laptop's certificate", l1, false},
		{"the phone's certificate, carried by the laptop", l2, false},
		{"the phone's write as Ana", asAna, false},
		{"the phone's write as Bob", asBob, false},
	})
	st.Ground(acl.Grounded(w.sp(), w.all))
	wantFollowed(t, d, st, []followedCase{
		{"the phone's write as Ana, certified by a voided commit", asAna, false},
		{"the phone's write as Bob, certified nowhere", asBob, true},
	})
}

// TestSchemaFollowedOnce (#15): a write-once rule's earlier writes are
// those that count. X's first write of a poll is void (X cut at 0); M,
// having seen it and the cut, writes the poll: not refused at all. M's
// rewrite of its own write, which counts and is in its past, is Broken.
func TestSchemaFollowedOnce(t *testing.T) {
	w := newWorld(t)
	b, x, m := dev(1), dev(2), dev(3)
	g := w.genesis(grant(b, commit.RoleAdmin), grant(x, commit.RoleWrite), grant(m, commit.RoleWrite))
	s := w.at(b, 2000, []*commit.Commit{g}, schemaOp("chat", 1, `{"prefix":"chat/","rules":[{"key":"chat/poll/{id}","write":"anyone","once":true}]}`))
	first := w.at(x, 3000, []*commit.Commit{s}, putv("chat/poll/1", `"by X"`))
	cut := w.at(b, 3100, []*commit.Commit{first}, revoke(x, 0))
	again := w.at(m, 4000, []*commit.Commit{cut}, putv("chat/poll/1", `"by M"`))
	rewrite := w.at(m, 4100, nil, putv("chat/poll/1", `"by M, again"`))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"X's write, cut", first, false},
		{"M's write after X's void one", again, true},
		{"M's rewrite of its own write", rewrite, false},
	})
	wantFollowed(t, d, nil, []followedCase{{"M's rewrite of its own write", rewrite, true}})
}
