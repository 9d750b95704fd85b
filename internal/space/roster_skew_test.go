package space_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
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
		h := storetest.GenSkewed(r)
		sk, cs := h.SpaceKey, h.Commits
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
