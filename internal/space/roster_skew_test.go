package space_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// TestRosterSkewedClocks: with clocks that do not follow causality (each
// author's times grow along its own chain only, from bases up to ten
// minutes apart, so a commit is often dated before the deps it names; two
// admins grant roles and revoke at random seqs), Roster orders the control
// commits by time, not by Evaluate's decision order, so only the order of
// the lists and which of two revocations at one cut is named may differ
// from rosterEvaluate (docs/design.md, "The roster without every
// commit"): the members, their roles, grants as a set, joins as a set,
// cuts and forks are the same, after every chunk of 200 histories.
func TestRosterSkewedClocks(t *testing.T) {
	ctx := context.Background()
	var differ, rosters int
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, seed^0x5ce3))
		sk, cs := skewedHistory(r)
		sp := sk.Space()
		st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddSpace(ctx, "s", sp); err != nil {
			t.Fatal(err)
		}
		for len(cs) > 0 {
			n := min(len(cs), 1+r.IntN(10))
			if _, err := st.Apply(ctx, sp, cs[:n]); err != nil {
				t.Fatal(err)
			}
			cs = cs[n:]
			got, gotPeople, err := space.Roster(ctx, st, sp)
			if err != nil {
				t.Fatal(err)
			}
			want, wantPeople, err := space.RosterEvaluate(ctx, st, sp)
			if err != nil {
				t.Fatal(err)
			}
			rosters++
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotPeople, wantPeople) {
				differ++
			}
			if a, b := orderless(got), orderless(want); a != b {
				t.Fatalf("seed %d: from the rows:\n%s\nevaluated:\n%s", seed, a, b)
			}
		}
		st.Close()
	}
	t.Logf("%d rosters compared, %d differing in order or in the revoker named only", rosters, differ)
}

// orderless prints what a roster says but the order of its lists and who
// revoked when.
func orderless(ms []space.Member) string {
	var b bytes.Buffer
	for _, m := range ms {
		gs := make([]string, 0, len(m.Grants))
		for _, g := range m.Grants {
			gs = append(gs, fmt.Sprintf("%+v", g))
		}
		slices.Sort(gs)
		js := slices.Clone(m.Joined)
		slices.SortFunc(js, func(x, y keys.AuthorID) int { return bytes.Compare(x[:], y[:]) })
		var cut any
		if m.Revoked != nil {
			cut = m.Revoked.LastSeq
		}
		fmt.Fprintf(&b, "%s role %d invite %v joined %v cut %v forked %d grants %v\n", m.Author.Short(), m.Role, m.Invite, js, cut, m.ForkedAt, gs)
	}
	return b.String()
}

// skewedHistory is a space of 3 to 5 authors (the first two admins) whose
// clocks do not follow causality, as store's genSkewed: each author's time
// grows along its chain from a base drawn up to ten minutes apart; an
// admin's commit grants a role or revokes an author at a random seq one
// time in three.
func skewedHistory(r *rand.Rand) (keys.SpaceKey, []*commit.Commit) {
	seed := func() (s [32]byte) {
		for i := range s {
			s[i] = byte(r.IntN(256))
		}
		return s
	}
	sk := keys.SpaceKeyFromSeed(seed())
	sp := sk.Space()
	n := 3 + r.IntN(3)
	as := make([]keys.DeviceKey, n)
	var grants []commit.Op
	for i := range as {
		as[i] = keys.DeviceKeyFromSeed(seed())
		role := commit.RoleWrite
		if i < 2 {
			role = commit.RoleAdmin
		}
		grants = append(grants, commit.GrantOp(commit.Grant{Subject: as[i].Author(), Role: role}))
	}
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	genesis, err := commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: base}}, grants, sk)
	if err != nil {
		panic(err)
	}
	out := []*commit.Commit{genesis}
	last := make([]*commit.Commit, n)
	clock := make([]uint64, n)
	known := make([]map[keys.AuthorID]keys.CommitID, n)
	for i := range as {
		clock[i] = base + 1 + uint64(r.IntN(600_000_000))
		known[i] = map[keys.AuthorID]keys.CommitID{genesis.Author: genesis.ID}
	}
	for range 30 + r.IntN(60) {
		i := r.IntN(n)
		clock[i] += 1 + uint64(r.IntN(1000))
		hd := commit.Header{Space: sp, Author: as[i].Author(), Seq: 1, Time: commit.HLC{Wall: clock[i]}}
		if last[i] != nil {
			hd.Seq, hd.Prev = last[i].Seq+1, last[i].ID
		}
		for _, id := range known[i] {
			hd.Deps = append(hd.Deps, id)
		}
		slices.SortFunc(hd.Deps, func(x, y keys.CommitID) int { return bytes.Compare(x[:], y[:]) })
		op := commit.Put(fmt.Appendf(nil, "k/%d", r.IntN(4)), fmt.Appendf(nil, "%d", r.Uint32()))
		if j := r.IntN(n); i < 2 && j != i && r.IntN(3) == 0 {
			if last[j] != nil && r.IntN(2) == 0 {
				op = commit.RevokeOp(commit.Revoke{Author: as[j].Author(), LastSeq: uint64(r.IntN(int(last[j].Seq) + 1))})
			} else {
				op = commit.GrantOp(commit.Grant{Subject: as[j].Author(), Role: commit.Role(1 + r.IntN(3))})
			}
		}
		c, err := commit.Build(hd, []commit.Op{op}, as[i])
		if err != nil {
			panic(err)
		}
		out = append(out, c)
		last[i] = c
		known[i] = map[keys.AuthorID]keys.CommitID{}
		for j := range as {
			if j != i && r.IntN(2) == 0 {
				known[j][c.Author] = c.ID
			}
		}
	}
	return sk, out
}
